"""Delivered output tokens/s through the whole pipeline over the raw engine's tokens/s, at 1, 8 and 16 concurrent.

Pipeline side: `/write story ... length:short` slash commands from fake members, through the real discord.py
client against the loopback fake Discord (bench/loopback.py): input rails, the engine stream, output rails
sentence by sentence, streamed edits and the final message over loopback HTTP, every row recorded in SQLite.
Its rate is the output tokens of delivered requests (from their generation records) over the time from the
first dispatch to the last write the fake received.

Baseline, in the same process on the same started engine: the same rendered prompts with the same sampling
parameters and seed, streamed straight from the engine at the same concurrency, every delta read.

Each level runs `--repeat` times, pipeline and baseline in turns, on fresh topics each time (the rails' encoder
keeps recent embeddings: a repeated text would cost it nothing); the best of each side counts. At 1 concurrent,
4 requests run one after another. CPU seconds per output token are given for both sides: their difference is
what rails, recording and delivery cost, which on this 2-core machine competes with the CPU engine.

    python -m bench pipeline [--engine transformers|vllm] [--repeat 2] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import table
from bench.loopback import Bot, engine_request, output_tokens, raw_stream, running_bot

LEVELS = (1, 8, 16)
LENGTH = "short"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side and level; the best counts")


async def _pipeline(bot: Bot, indices: list[int], concurrency: int) -> dict:
    cpu = time.process_time()
    done = []
    for start in range(0, len(indices), concurrency):
        done += await asyncio.gather(*(bot.write(i, LENGTH) for i in indices[start : start + concurrency]))
    cpu = time.process_time() - cpu
    delivered = [d for d in done if d.delivered and d.request_id]
    tokens = await output_tokens(bot.core, [d.request_id for d in delivered])
    wall = max(d.done_at for d in done) - min(d.dispatched_at for d in done)
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "delivered": len(delivered), "requests": len(done),
            "cpu_s_per_token": cpu / max(tokens, 1)}  # fmt: skip


async def _engine(bot: Bot, indices: list[int], concurrency: int) -> dict:
    cpu = time.process_time()
    started = time.monotonic()
    usages = []
    for start in range(0, len(indices), concurrency):
        batch = indices[start : start + concurrency]
        usages += await asyncio.gather(
            *(raw_stream(bot.engine, *engine_request(i, LENGTH), f"raw-{i}-{time.monotonic_ns()}") for i in batch)
        )
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu
    tokens = sum(u.output_tokens for u in usages if u is not None)
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "cpu_s_per_token": cpu / max(tokens, 1)}


async def measure(args: argparse.Namespace) -> dict:
    levels = (1, 2) if args.quick else LEVELS
    repeat = 1 if args.quick else args.repeat
    results: dict = {"engine": args.engine, "length": LENGTH, "levels": {}}
    next_index = 0
    async with running_bot(args.engine) as bot:
        results["model"] = bot.engine.model_id
        await bot.write(10_000, LENGTH)  # warm: kernels, rails' lazily built matrices, the first commit
        await raw_stream(bot.engine, *engine_request(10_001, LENGTH), "raw-warm")
        for level in levels:
            count = 4 if level == 1 and not args.quick else level
            best_pipeline: dict | None = None
            best_engine: dict | None = None
            for _ in range(repeat):
                indices = list(range(next_index, next_index + count))
                next_index += count
                pipeline = await _pipeline(bot, indices, level)
                engine = await _engine(bot, indices, level)
                if best_pipeline is None or pipeline["tokens_per_s"] > best_pipeline["tokens_per_s"]:
                    best_pipeline = pipeline
                if best_engine is None or engine["tokens_per_s"] > best_engine["tokens_per_s"]:
                    best_engine = engine
            assert best_pipeline is not None and best_engine is not None
            ratio = best_pipeline["tokens_per_s"] / best_engine["tokens_per_s"]
            results["levels"][str(level)] = {"pipeline": best_pipeline, "engine": best_engine, "ratio": ratio}
            results[f"ratio_c{level}"] = ratio
            extra = best_pipeline["cpu_s_per_token"] - best_engine["cpu_s_per_token"]
            results["levels"][str(level)]["extra_cpu_ms_per_token"] = extra * 1000
            # Where the engine already keeps every core busy, the pipeline's own CPU comes out of the engine's:
            # the ratio can then be no better than engine CPU per token over pipeline CPU per token.
            results["levels"][str(level)]["cpu_bound_ratio"] = best_engine["cpu_s_per_token"] / best_pipeline["cpu_s_per_token"]
    return results


def report(results: dict) -> str:
    rows = []
    for level, r in results["levels"].items():
        p, e = r["pipeline"], r["engine"]
        rows.append([level, p["tokens_per_s"], e["tokens_per_s"], r["ratio"], f"{p['delivered']}/{p['requests']}",
                     f"{p['tokens']}/{e['tokens']}", p["cpu_s_per_token"] * 1000, e["cpu_s_per_token"] * 1000])  # fmt: skip
    head = f"pipeline (rails, recording, delivery over loopback Discord) vs raw engine: {results['engine']} {results['model']}"
    bounds = ", ".join(f"{lvl}: {r['cpu_bound_ratio']:.2f}" for lvl, r in results["levels"].items())
    head += f"\nCPU bound on the ratio (engine CPU/token over pipeline CPU/token) by concurrency: {bounds}"
    return head + "\n" + table(
        ["concurrent", "pipeline tok/s", "engine tok/s", "ratio", "delivered", "tokens p/e", "CPU ms/tok p", "CPU ms/tok e"],
        rows,
    )


if __name__ == "__main__":  # `python -m bench.pipeline` is `python -m bench pipeline`
    import sys

    from bench.harness import main

    main("pipeline", sys.argv[1:])
