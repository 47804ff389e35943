"""Fixtures for the embedded engine: the shipped SmolLM2 converted once per session, and one started engine.

The conversion goes to a session temporary folder, or to `STORYLOOM_TEST_MODEL_CACHE` when set (CI points it at a
cache inside the checkout so that later runs skip the conversion). Tests never read the developer's `data/models`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engines.models import SMOLLM2, resolve_model_dir
from bot.engines.transformers_engine import TransformersEngine

TEST_MODEL_CACHE_ENV = "STORYLOOM_TEST_MODEL_CACHE"


@pytest.fixture(scope="session")
def engine_model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reusable = os.environ.get(TEST_MODEL_CACHE_ENV)
    if reusable:
        path = Path(reusable)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def prepared_model_dir(engine_model_cache_dir: Path) -> Path:
    """The bf16 safetensors folder of the shipped SmolLM2, with its tokenizer and chat template."""
    return resolve_model_dir(SMOLLM2, engine_model_cache_dir, progress=False)


@pytest.fixture(scope="session")
async def smol_engine(prepared_model_dir: Path, engine_model_cache_dir: Path) -> AsyncIterator[TransformersEngine]:
    """A started `TransformersEngine` on the shipped model, shared by the whole session."""
    engine = TransformersEngine(SMOLLM2, engine_model_cache_dir, batch_window_ms=20, max_batch_size=16)
    await engine.start()
    yield engine
    await engine.close()
