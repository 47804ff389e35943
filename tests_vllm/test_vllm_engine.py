"""The `vllm` engine on real vLLM (AsyncLLM in this process, its engine core in a child): streaming, usage,
seeded reproducibility, cancellation, and the whole pipeline with eight members writing at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engines.base import Delta, SamplingParams, Usage
from bot.engines.models import SMOLLM2
from bot.engines.vllm_engine import VLLMEngine
from tests_vllm.pipeline_check import eight_members_write

MESSAGES = [{"role": "user", "content": "Write two lines about the sea."}]


@pytest.fixture(scope="module")
async def vllm_engine(prepared_model_dir: Path, engine_model_cache_dir: Path, measurements: list[str]) -> AsyncIterator[VLLMEngine]:
    engine = VLLMEngine(SMOLLM2, engine_model_cache_dir, max_num_seqs=16)
    started = time.perf_counter()
    await engine.start()
    measurements.append(f"vllm engine (in process) ready in {time.perf_counter() - started:.1f} s")
    yield engine
    await engine.close()


async def test_streams_deltas_then_one_usage(vllm_engine: VLLMEngine) -> None:
    params = SamplingParams(max_tokens=40, temperature=0.8, seed=5)
    events = [event async for event in vllm_engine.stream(MESSAGES, params, "one")]

    *deltas, usage = events
    assert isinstance(usage, Usage) and all(isinstance(delta, Delta) for delta in deltas)
    assert len(deltas) > 5, "text arrives token by token"
    assert 0 < usage.output_tokens <= 40 and usage.prompt_tokens > 10
    assert usage.finish_reason in ("stop", "length")
    assert usage.time_to_first_token_s is not None and 0 < usage.time_to_first_token_s < usage.total_time_s


async def test_a_seed_reproduces_the_text(vllm_engine: VLLMEngine) -> None:
    params = SamplingParams(max_tokens=24, temperature=0.9, seed=77)
    first, _ = await vllm_engine.complete(MESSAGES, params, "same")
    again, _ = await vllm_engine.complete(MESSAGES, params, "same")  # the same caller id twice is allowed
    other, _ = await vllm_engine.complete(MESSAGES, SamplingParams(max_tokens=24, temperature=0.9, seed=78), "other")
    assert first == again and first != other


async def test_closing_the_stream_aborts_the_request_in_vllm(vllm_engine: VLLMEngine) -> None:
    stream = vllm_engine.stream(MESSAGES, SamplingParams(max_tokens=200, temperature=0.8, seed=1), "stopped")
    async for event in stream:
        assert isinstance(event, Delta)
        break
    await stream.aclose()

    assert not vllm_engine._engine.output_processor.has_unfinished_requests()
    text, usage = await vllm_engine.complete(MESSAGES, SamplingParams(max_tokens=8, seed=2), "after")
    assert text and usage.output_tokens > 0


async def test_eight_streams_are_batched_together(vllm_engine: VLLMEngine, measurements: list[str]) -> None:
    finished_at: list[float] = []
    first_token_at: list[float] = []

    async def one(index: int) -> int:
        messages = [{"role": "user", "content": f"Write a short story about lighthouse number {index}."}]
        tokens, started = 0, False
        async for event in vllm_engine.stream(messages, SamplingParams(max_tokens=64, seed=index), f"batch-{index}"):
            if isinstance(event, Delta) and not started:
                first_token_at.append(time.perf_counter())
                started = True
            if isinstance(event, Usage):
                tokens = event.output_tokens
        finished_at.append(time.perf_counter())
        return tokens

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(index) for index in range(8)))
    wall_s = time.perf_counter() - started

    assert all(count > 0 for count in tokens)
    # Continuous batching: every stream had begun before the first one ended (one at a time would not overlap).
    assert max(first_token_at) < min(finished_at)
    measurements.append(
        f"vllm engine alone: 8 concurrent streams, {sum(tokens)} output tokens in {wall_s:.1f} s = "
        f"{sum(tokens) / wall_s:.0f} tokens/s"
    )


@pytest.mark.slow
async def test_eight_members_write_at_once_through_the_pipeline(
    vllm_engine: VLLMEngine, default_rails, tmp_path: Path, measurements: list[str]
) -> None:
    run = await eight_members_write(tmp_path, vllm_engine, default_rails, "vllm")
    measurements.append(
        f"vllm engine: 8 concurrent requests through the pipeline in {run.wall_s:.1f} s, "
        f"{run.output_tokens} output tokens, {run.tokens_per_s:.0f} tokens/s (rails included)"
    )
