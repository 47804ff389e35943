"""The `openai` engine against vLLM's real OpenAI-compatible server on loopback: model discovery, streaming, and the
whole pipeline with eight members writing at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.engines.base import Delta, SamplingParams, Usage
from bot.engines.openai_engine import OpenAIEngine
from tests.fake_openai import FakeOpenAIServer
from tests_vllm.pipeline_check import eight_members_write
from tests_vllm.vllm_server import VLLMServer

MESSAGES = [{"role": "user", "content": "Write two lines about the sea."}]


@pytest.fixture(scope="module")
def vllm_server(prepared_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, measurements: list[str]) -> Iterator[VLLMServer]:
    server = VLLMServer(prepared_model_dir, tmp_path_factory.mktemp("vllm-server") / "server.log")
    measurements.append(f"vLLM OpenAI server ready in {server.wait_ready():.1f} s")
    yield server
    measurements.append(f"vLLM OpenAI server stopped by SIGINT in {server.stop():.1f} s")
    assert server.process.returncode is not None


@pytest.fixture(scope="module")
async def openai_engine(vllm_server: VLLMServer) -> AsyncIterator[OpenAIEngine]:
    engine = OpenAIEngine([vllm_server.base_url], "smollm2", read_timeout_s=120)
    await engine.start()
    yield engine
    await engine.close()


async def test_discovers_the_served_model_and_streams(openai_engine: OpenAIEngine, prepared_model_dir: Path) -> None:
    events = [event async for event in openai_engine.stream(MESSAGES, SamplingParams(max_tokens=40, seed=3), "one")]

    *deltas, usage = events
    assert openai_engine.model_id == str(prepared_model_dir), "the alias resolved to the name the server serves"
    assert isinstance(usage, Usage) and all(isinstance(delta, Delta) for delta in deltas) and len(deltas) > 5
    assert 0 < usage.output_tokens <= 40 and usage.prompt_tokens > 10 and "usage_estimated" not in usage.extra
    assert usage.extra["failovers"] == []


async def test_a_reply_cut_off_on_one_replica_is_continued_by_vllm(
    openai_engine: OpenAIEngine, vllm_server: VLLMServer, prepared_model_dir: Path
) -> None:
    # Greedy, so vLLM's own reply is the reference: a replica that streams its first six words and dies must leave
    # vLLM (asked with `continue_final_message`) to go on with the same sentence, not start a new reply. Not the
    # same text to the end: prefilling the cut text computes its logits in another order than decoding it did, and
    # bf16 rounding tips a near-tie within a few words (measured: identical for 15 more characters, then not).
    greedy = SamplingParams(max_tokens=48, temperature=0.0, seed=1)
    whole, _ = await openai_engine.complete(MESSAGES, greedy, "reference")
    dying = FakeOpenAIServer(model_id=str(prepared_model_dir), scripted_reply=whole, drop_after_tokens=6)
    await dying.start()
    engine = OpenAIEngine([dying.base_url, vllm_server.base_url], "smollm2", read_timeout_s=120, health_interval_s=0)
    try:
        deltas = [event async for event in engine.stream(MESSAGES, greedy, "cut-off")]
    finally:
        await engine.close()
        await dying.stop()

    *parts, usage = deltas
    shown_before = " ".join(whole.split(" ")[:6])
    text = "".join(part.text for part in parts)
    continued = text[len(shown_before):]
    assert text.startswith(shown_before) and continued.strip(), text
    assert continued.split()[0] == whole[len(shown_before):].split()[0], (continued, whole)
    assert "<|im_start|>" not in continued and not continued.lstrip().startswith(shown_before[:12])
    failed, finished = usage.extra["replicas"]
    assert (failed["replica"], failed["shown_chars"]) == (dying.base_url, len(shown_before))
    assert finished == {"replica": vllm_server.base_url}


@pytest.mark.slow
async def test_eight_members_write_at_once_through_the_pipeline(
    openai_engine: OpenAIEngine, default_rails, tmp_path: Path, measurements: list[str]
) -> None:
    run = await eight_members_write(tmp_path, openai_engine, default_rails, "openai")
    measurements.append(
        f"openai engine on vLLM's server: 8 concurrent requests through the pipeline in {run.wall_s:.1f} s, "
        f"{run.output_tokens} output tokens, {run.tokens_per_s:.0f} tokens/s (rails included)"
    )
