"""The embedded transformers engine on the shipped SmolLM2: streaming, sampling, batching, cancellation, the event
loop staying free, and the one-off model preparation.

Needs the `smol_engine` and `prepared_model_dir` fixtures of `tests/plugins/engine.py`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from safetensors import safe_open
from transformers import AutoTokenizer

import bot.engines.models as models
from bot.config import Settings
from bot.engines.base import Delta, EngineError, SamplingParams, Usage
from bot.engines.detokenizer import IncrementalDetokenizer
from bot.engines.transformers_engine import TransformersEngine

pytestmark = pytest.mark.slow

STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
GREEDY = SamplingParams(max_tokens=12, temperature=0.0)


def story_about(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long story about {topic}."}]


async def collect(engine: TransformersEngine, messages, params: SamplingParams) -> tuple[list[Delta], Usage]:
    deltas: list[Delta] = []
    usage: Usage | None = None
    async for event in engine.stream(messages, params, "test"):
        assert usage is None, "nothing may follow the usage"
        if isinstance(event, Delta):
            deltas.append(event)
        else:
            usage = event
    assert usage is not None
    return deltas, usage


async def wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_stream_yields_deltas_then_one_usage(smol_engine: TransformersEngine) -> None:
    deltas, usage = await collect(smol_engine, STORY, SamplingParams(max_tokens=10, temperature=0.7, seed=1))

    assert deltas and all(delta.text for delta in deltas)
    assert "".join(delta.text for delta in deltas).strip()
    assert 1 <= usage.output_tokens <= 10
    assert usage.finish_reason in ("stop", "length")
    assert 0 < usage.time_to_first_token_s <= usage.total_time_s


async def test_prompt_goes_through_the_chat_template(smol_engine: TransformersEngine, prepared_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(prepared_model_dir)
    content_tokens = len(tokenizer.encode(STORY[0]["content"], add_special_tokens=False))
    rendered = tokenizer.apply_chat_template(STORY, tokenize=False, add_generation_prompt=True)

    _, usage = await collect(smol_engine, STORY, SamplingParams(max_tokens=1))

    assert usage.prompt_tokens == len(tokenizer.encode(rendered, add_special_tokens=False))
    assert usage.prompt_tokens > content_tokens + 10  # the default system prompt and the role markers


async def test_greedy_is_deterministic_and_a_seed_reproduces_sampling(smol_engine: TransformersEngine) -> None:
    first, _ = await smol_engine.complete(STORY, GREEDY, "a")
    again, _ = await smol_engine.complete(STORY, GREEDY, "b")
    assert first == again

    hot = SamplingParams(max_tokens=12, temperature=1.3, top_p=0.95, seed=1234)
    seeded, _ = await smol_engine.complete(STORY, hot, "c")
    reseeded, _ = await smol_engine.complete(STORY, hot, "d")
    assert seeded == reseeded
    others = await asyncio.gather(
        *(smol_engine.complete(STORY, SamplingParams(max_tokens=12, temperature=1.3, seed=s), "e") for s in (1, 2, 3))
    )
    assert any(text != seeded for text, _ in others)


async def test_concurrent_requests_share_decode_steps_with_their_own_limits(smol_engine: TransformersEngine) -> None:
    topics = ["a cat", "the sea", "a robot", "autumn", "a dragon", "bread", "the moon", "a clock"]
    limits = [4, 6, 8, 10, 12, 14, 16, 18]
    steps_before = smol_engine.stats.decode_steps

    results = await asyncio.gather(
        *(
            smol_engine.complete(story_about(topic), SamplingParams(max_tokens=limit, temperature=0.8, seed=i), str(i))
            for i, (topic, limit) in enumerate(zip(topics, limits, strict=True))
        )
    )

    for (_, usage), limit in zip(results, limits, strict=True):
        assert usage.extra["max_batch_size"] == len(topics)
        assert usage.output_tokens <= limit
        if usage.finish_reason == "length":
            assert usage.output_tokens == limit
    # One decode step serves every running row: far fewer steps than tokens.
    total_tokens = sum(usage.output_tokens for _, usage in results)
    assert smol_engine.stats.decode_steps - steps_before <= max(limits)
    assert total_tokens > 2 * max(limits)


async def test_closing_a_stream_cancels_its_row_and_the_engine_keeps_serving(smol_engine: TransformersEngine) -> None:
    cancelled_before = smol_engine.stats.finish_reasons["cancelled"]
    steps_before = smol_engine.stats.decode_steps
    neighbour = asyncio.create_task(smol_engine.complete(story_about("a fox"), SamplingParams(max_tokens=24), "n"))

    stream = smol_engine.stream(STORY, SamplingParams(max_tokens=400), "cancel-me")
    received = 0
    async for event in stream:
        assert isinstance(event, Delta)
        received += 1
        if received == 2:
            break
    await stream.aclose()

    await wait_for(lambda: smol_engine.stats.finish_reasons["cancelled"] == cancelled_before + 1)
    text, usage = await neighbour
    assert text and usage.output_tokens <= 24
    assert smol_engine.stats.decode_steps - steps_before < 100  # the closed row did not run on to 400 tokens
    after, _ = await smol_engine.complete(STORY, GREEDY, "after")
    assert after


async def test_event_loop_stays_responsive_during_generation(smol_engine: TransformersEngine) -> None:
    gaps: list[float] = []
    generating = True

    async def ticker() -> None:
        last = time.perf_counter()
        while generating:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticks = asyncio.create_task(ticker())
    await asyncio.gather(
        *(smol_engine.complete(story_about(str(i)), SamplingParams(max_tokens=16), str(i)) for i in range(8))
    )
    generating = False
    await ticks

    assert len(gaps) > 20
    assert max(gaps) < 0.2, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"


async def test_stream_before_start_is_an_engine_error(engine_model_cache_dir: Path) -> None:
    engine = TransformersEngine("smollm2", engine_model_cache_dir)
    with pytest.raises(EngineError, match="not started"):
        await engine.complete(STORY, GREEDY, "early")


def test_detokenizer_never_splits_a_character(prepared_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(prepared_model_dir)
    text = "héllo 世界 🎉🎉 naïve — ok"
    token_ids = tokenizer.encode(text, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(lambda ids: tokenizer.decode(ids, skip_special_tokens=True))

    deltas = [detokenizer.add(token_id) for token_id in token_ids]
    deltas.append(detokenizer.flush())

    assert len(token_ids) > len(text.split())  # some characters span several tokens
    assert not any("\ufffd" in delta for delta in deltas)
    assert "".join(deltas) == text


def test_prepared_model_is_a_complete_bf16_folder(prepared_model_dir: Path) -> None:
    names = {path.name for path in prepared_model_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= names
    assert AutoTokenizer.from_pretrained(prepared_model_dir).chat_template
    with safe_open(prepared_model_dir / "model.safetensors", framework="pt") as weights:
        assert weights.get_slice("model.embed_tokens.weight").get_dtype() == "BF16"


def test_prepare_model_is_idempotent(prepared_model_dir: Path, engine_model_cache_dir: Path) -> None:
    settings = Settings(model="smollm2", model_cache_dir=engine_model_cache_dir)
    weights = prepared_model_dir / "model.safetensors"
    modified = weights.stat().st_mtime_ns

    started = time.perf_counter()
    assert models.prepare_model(settings, progress=False) == prepared_model_dir
    assert time.perf_counter() - started < 0.5
    assert weights.stat().st_mtime_ns == modified


def test_prepare_model_uses_a_local_folder_as_is(prepared_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model=str(prepared_model_dir), model_cache_dir=tmp_path)
    assert models.prepare_model(settings, progress=False) == prepared_model_dir
    with pytest.raises(EngineError, match="does not exist"):
        models.prepare_model(Settings(model=str(tmp_path / "missing"), model_cache_dir=tmp_path), progress=False)


def test_a_failed_conversion_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash_halfway(gguf_path: Path, out_dir: Path, progress: bool) -> None:
        (out_dir / "config.json").write_text("{}")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(models, "_convert_gguf", crash_halfway)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        models.prepare_model(Settings(model="smollm2", model_cache_dir=tmp_path), progress=False)

    assert list(tmp_path.iterdir()) == []


def test_a_leftover_staging_folder_is_not_taken_for_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a SIGKILL mid-conversion leaves: a hidden staging folder, never the final name.
    (tmp_path / f".{models.SMOLLM2_FOLDER}.abc.tmp").mkdir()
    (tmp_path / f".{models.SMOLLM2_FOLDER}.abc.tmp" / "config.json").write_text("{}")
    converted: list[Path] = []

    def fake_convert(gguf_path: Path, out_dir: Path, progress: bool) -> None:
        converted.append(out_dir)
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_gguf", fake_convert)
    target = models.prepare_model(Settings(model="smollm2", model_cache_dir=tmp_path), progress=False)

    assert target == tmp_path / models.SMOLLM2_FOLDER
    assert len(converted) == 1 and converted[0] != target
    assert (target / "config.json").is_file()


async def test_close_ends_running_streams_and_stops_the_worker(prepared_model_dir: Path) -> None:
    engine = TransformersEngine(str(prepared_model_dir), prepared_model_dir.parent, dtype="float32")
    await engine.start()
    worker = engine._worker
    stream = engine.stream(STORY, SamplingParams(max_tokens=400), "closing")
    assert isinstance(await anext(stream), Delta)

    await engine.close()
    remaining = [event async for event in stream]

    assert isinstance(remaining[-1], Usage) and remaining[-1].finish_reason == "cancelled"
    assert worker is not None and not worker.is_alive()
    with pytest.raises(EngineError, match="not started"):
        await engine.complete(STORY, GREEDY, "after-close")
