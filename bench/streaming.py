"""Time from the engine's first token to the first text a member sees, through the real delivery path.

Each `/write` goes through the real discord.py client against the loopback fake Discord (bench/loopback.py);
the engine is wrapped so that the moment its first text delta comes out is noted per request, and the first
shown text is the first edit of the deferred reply that carries text, as the fake Discord received it (same
process, same monotonic clock). What lies between: the rest of the first sentence (the pipeline shows nothing
before a whole chunk has passed the output rails), the rail check of that chunk, and the edit over loopback
HTTP. Requests run one at a time (`--concurrency 1`, the member's best case) and then `--concurrency` at once.

Baseline in the same run and the same streams: when the engine's deltas first made a whole chunk (the first
moment the pipeline may check anything), noted by a wrapper around the engine that cuts chunks as the
pipeline does. So each request splits into what the model's speed imposes (first token to first whole
sentence) and what the pipeline adds (the rail check of that sentence and the edit over loopback HTTP).

`--engine openai` streams from the loopback fake OpenAI server (on its own thread) at `--token-delay-ms` per
token instead: what the pipeline adds when the engine is as fast as vLLM on a GPU, which this machine has not.

    python -m bench streaming [--requests 8] [--concurrency 8] [--engine transformers|vllm|openai]
                              [--token-delay-ms 5] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from pathlib import Path

from bench.harness import percentile, table
from bench.loopback import Bot, FirstTokenClock, running_bot

LENGTH = "short"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["transformers", "vllm", "openai"], default="transformers")
    parser.add_argument(
        "--token-delay-ms", type=float, default=5.0, help="--engine openai: time per token (5 ms: 200 tokens/s)"
    )
    parser.add_argument("--requests", type=int, default=8, help="requests per level")
    parser.add_argument("--concurrency", type=int, default=8)


async def _level(bot: Bot, clock: FirstTokenClock, indices: list[int], concurrency: int) -> dict:
    shown, sentence, added, deltas = [], [], [], []
    for start in range(0, len(indices), concurrency):
        done = await asyncio.gather(*(bot.write(i, LENGTH) for i in indices[start : start + concurrency]))
        for d in done:
            rid = d.request_id
            if rid in clock.first_chunk_at and d.first_text_at is not None:
                shown.append((d.first_text_at - clock.first_token_at[rid]) * 1000)
                sentence.append((clock.first_chunk_at[rid] - clock.first_token_at[rid]) * 1000)
                added.append((d.first_text_at - clock.first_chunk_at[rid]) * 1000)
                deltas.append(clock.deltas_to_first_chunk[rid])
    return {
        "first_visible": _summary(shown),
        "engine_first_sentence": _summary(sentence),
        "added_by_pipeline": _summary(added),
        "tokens_to_first_sentence_p50": statistics.median(deltas) if deltas else float("nan"),
    }


def _summary(gaps: list[float]) -> dict:
    if not gaps:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "n": 0}
    return {"p50_ms": statistics.median(gaps), "p95_ms": percentile(gaps, 0.95), "n": len(gaps)}


async def measure(args: argparse.Namespace) -> dict:
    requests = 2 if args.quick else args.requests
    concurrency = 2 if args.quick else args.concurrency
    from bench.loopback import bench_settings
    from bot.engines import create_engine

    with contextlib.ExitStack() as stack:
        overrides = {}
        if args.engine == "openai":
            from bench.loop import ThreadedOpenAIServer
            from bench.rails import creative_outputs

            server = stack.enter_context(ThreadedOpenAIServer(creative_outputs(64), args.token_delay_ms / 1000))
            overrides = {"engine_urls": [server.base_url]}
        with tempfile.TemporaryDirectory() as directory:
            inner = create_engine(bench_settings(Path(directory), args.engine, **overrides))
        clock = FirstTokenClock(inner)
        await clock.start()
        try:
            async with running_bot(args.engine, engine=clock, **overrides) as bot:
                await bot.write(20_000, LENGTH)  # warm
                single = await _level(bot, clock, list(range(100, 100 + requests)), 1)
                several = await _level(bot, clock, list(range(200, 200 + requests)), concurrency)
        finally:
            await clock.close()
    out = {"engine": args.engine, "levels": {"1": single, str(concurrency): several}}
    if args.engine == "openai":
        out["token_delay_ms"] = args.token_delay_ms
    out["first_visible_ms"] = single["first_visible"]["p50_ms"]
    out["first_visible_p95_ms"] = single["first_visible"]["p95_ms"]
    out["added_by_pipeline_p50_ms"] = single["added_by_pipeline"]["p50_ms"]
    out["added_by_pipeline_p95_ms"] = single["added_by_pipeline"]["p95_ms"]
    return out


def report(results: dict) -> str:
    rows = []
    for level, r in results["levels"].items():
        for name in ("first_visible", "engine_first_sentence", "added_by_pipeline"):
            rows.append([f"{level} concurrent: {name.replace('_', ' ')}", r[name]["p50_ms"], r[name]["p95_ms"], r[name]["n"]])
    tokens = ", ".join(f"{lvl}: {r['tokens_to_first_sentence_p50']:.0f}" for lvl, r in results["levels"].items())
    return (
        f"engine first token -> first text shown on the loopback Discord ({results['engine']})\n"
        + table(["", "p50 ms", "p95 ms", "requests"], rows)
        + f"\ntokens (deltas) to the first whole sentence, p50 by concurrency: {tokens}"
    )


if __name__ == "__main__":  # `python -m bench.streaming` is `python -m bench streaming`
    import sys

    from bench.harness import main

    main("streaming", sys.argv[1:])
