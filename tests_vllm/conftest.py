"""Fixtures for the real-vLLM stage (`bash scripts/vllm_stage.sh`): these tests import vLLM, so they run only in the
stage's own environment (.venv-vllm), never in the main suite (pyproject's testpaths is `tests`).

The session fixtures of the main suite are reused as they are: the shipped SmolLM2 converted once (shared cache), the
default rail stack on the embedded backends. vLLM itself starts per module (in process, then as a server), so that
two vLLM engines never compete for the same cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("STORYLOOM_METRICS_PORT", "0")
# As in the main suite (tests/conftest.py): these checks count one generation per request and compare the last
# generation's shown text with what was delivered; shaped writing asks the engine once per part.
os.environ.setdefault("STORYLOOM_SHAPED_WRITING", "false")

import pytest

from tests.plugins.engine import engine_model_cache_dir, prepared_model_dir  # noqa: E402,F401
from tests.plugins.models import (  # noqa: E402,F401
    dangerous_rail,
    embedded_toxicity,
    injection_rail,
    misinfo_rail,
    sentence_encoder,
    toxicity_rail,
)
from tests.plugins.rails import default_rails  # noqa: E402,F401

MEASUREMENTS: list[str] = []
"""Lines for the end of the log (throughput, start-up times): the stage's numbers, not only pass/fail."""


@pytest.fixture(scope="session")
def measurements() -> list[str]:
    return MEASUREMENTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASUREMENTS:
        terminalreporter.section("vLLM measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
