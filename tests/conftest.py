"""Shared fixtures. Each feature's fixtures live in `tests/plugins/<feature>.py`."""

import logging
import os

import pytest

from bot.logs import NOISY_LOGGERS

# No test may reach a model hub: everything loads from shipped packages or from files the tests build.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Cores started by tests serve no metrics port unless a test asks for one (tests/test_observability.py).
os.environ.setdefault("STORYLOOM_METRICS_PORT", "0")
# The loopback OpenAI server answers every request with its scripted text, which is what the rails, recording and
# delivery tests need; shaped writing asks the engine once per part, so it is on only where a test turns it on
# (tests/test_writing.py, on the real SmolLM2 and on the loopback server's continuation).
os.environ.setdefault("STORYLOOM_SHAPED_WRITING", "false")

pytest_plugins = [
    "tests.plugins.models",
    "tests.plugins.fakediscord",
    "tests.plugins.openai_server",
    "tests.plugins.engine",
    "tests.plugins.rails",
    "tests.plugins.bot",
    "tests.plugins.database",
]


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """A test that runs the CLI in-process configures logging (root handlers on its captured stderr, libraries
    quieted): put it back, so later tests neither write to a closed stream nor miss the quieted lines."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quieted.items():
        logging.getLogger(name).setLevel(was)
