"""The default output-rail stack on 600-character creative outputs: outputs/s, and rail time over generation time.

Three ways of feeding the same stack (toxicity + misinformation, one shared encoder), each on outputs it has not
seen before (the encoder keeps recent embeddings, so a repeated text would cost nothing):

- batched: many whole outputs checked at once, as `storyloom eval` and a busy bot do;
- one at a time: each whole output alone, nothing to batch with (the baseline);
- streamed: 16 requests at once, each checked sentence by sentence as the pipeline does before showing text.

Outputs are the bot's own held-out generations (`guardrails/data/generated_fiction.txt`), joined and cut to
~600 characters.

Prompts: the default input stack on one prompt at a time (the dangerous-validation file's prompts), with the
dangerous rail's tuned encoder and, in the same run on other prompts of the file, with its head alone (the
baseline): milliseconds per prompt, p50 and p95. Output: the batched figure again, the dangerous rail as shipped (its
tuned encoder reads the sentences its head screens in) and as its head alone, the same outputs from a cold cache.

Rails over generation: the embedded engine (SmolLM2 on this machine's CPU) writes `--generated` new outputs of
about 600 characters, 16 at a time, and the time that took is compared with the time the same stack takes on
those same outputs checked as the pipeline checks them (sentence by sentence, 16 requests at once), both in
this run. On this machine both compete for the same two cores; a GPU deployment would not share them.

    python -m bench rails [--outputs 192] [--generated 32] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import Settings
from bot.core.app import load_rails
from bot.core.streaming import SentenceChunker
from bench.harness import percentile, table
from guardrails.stack import RailStack

FICTION = Path(__file__).resolve().parents[1] / "guardrails" / "data" / "generated_fiction.txt"
PROMPTS = FICTION.with_name("dangerous_validation.csv")
OUTPUT_CHARS = 600
STREAMS = 16


def creative_outputs(count: int) -> list[str]:
    """`count` distinct ~600-character outputs: each generation's sentences, cut at a sentence near 600."""
    outputs, current = [], ""
    for line in FICTION.read_text(encoding="utf-8").splitlines():
        if line.startswith("#|"):
            continue
        if line.startswith("@@") or len(current) >= OUTPUT_CHARS:
            if len(current) >= OUTPUT_CHARS // 2:
                outputs.append(current.strip())
            current = ""
            if line.startswith("@@"):
                continue
        current += line.strip() + " "
    if len(outputs) < count:
        raise SystemExit(f"only {len(outputs)} outputs in {FICTION}; ask for fewer")
    return outputs[:count]


async def batched(stack: RailStack, outputs: list[str]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(stack.check("output", text) for text in outputs))
    return len(outputs) / (time.perf_counter() - started)


async def one_at_a_time(stack: RailStack, outputs: list[str]) -> float:
    started = time.perf_counter()
    for text in outputs:
        await stack.check("output", text)
    return len(outputs) / (time.perf_counter() - started)


async def streamed(stack: RailStack, outputs: list[str]) -> float:
    async def one_request(text: str) -> None:
        chunker = SentenceChunker()
        for chunk in [*chunker.feed(text), chunker.rest()]:
            if chunk.strip():
                await stack.check("output", chunk)

    started = time.perf_counter()
    for start in range(0, len(outputs), STREAMS):
        await asyncio.gather(*(one_request(text) for text in outputs[start : start + STREAMS]))
    return len(outputs) / (time.perf_counter() - started)


def validation_prompts(count: int) -> list[str]:
    """`count` distinct prompts of the dangerous-validation file, every family, in a fixed shuffled order."""
    import random

    with PROMPTS.open(newline="", encoding="utf-8") as handle:
        prompts = list(dict.fromkeys(row["text"] for row in csv.DictReader(handle) if row["stage"] == "input"))
    random.Random(7).shuffle(prompts)
    return prompts[:count]


async def prompt_milliseconds(stack: RailStack, prompts: list[str]) -> list[float]:
    took = []
    for prompt in prompts:
        started = time.perf_counter()
        await stack.check("input", prompt)
        took.append((time.perf_counter() - started) * 1000)
    return took


@contextmanager
def dangerous_rail_as(stack: RailStack, side: str) -> Iterator[None]:
    """The stack with its dangerous rail as shipped ("tuned": the tuned encoder on prompts and on the output sentences
    the head screens in) or as the head alone ("head_only", the baseline), on both stages."""
    from guardrails.rails.dangerous import DangerousRail

    places = [(rails, i) for rails in (stack.input_rails, stack.output_rails) for i, rail in enumerate(rails) if rail.name == "dangerous"]
    shipped = [rails[i] for rails, i in places]
    try:
        for (rails, i), rail in zip(places, shipped, strict=True):
            rails[i] = rail if side == "tuned" else DangerousRail(rail.encoder, rail.head, requests=False)
        yield
    finally:
        for (rails, i), rail in zip(places, shipped, strict=True):
            rails[i] = rail


async def prompts_with_and_without_the_tuned_encoder(stack: RailStack, prompts: list[str]) -> dict:
    """ms per prompt through the input stack, the dangerous rail with its tuned encoder and with its head alone,
    alternating halves of `prompts` (each text new to the encoder's cache) twice."""
    took: dict[str, list[float]] = {"tuned": [], "head_only": []}
    quarter = len(prompts) // 4
    for turn in range(4):
        side = ("tuned", "head_only")[turn % 2]
        with dangerous_rail_as(stack, side):
            took[side] += await prompt_milliseconds(stack, prompts[turn * quarter : (turn + 1) * quarter])

    def summary(values: list[float]) -> dict:
        return {"p50_ms": statistics.median(values), "p95_ms": percentile(values, 0.95), "prompts": len(values)}

    result = {side: summary(values) for side, values in took.items()}
    result["p50_ratio"] = result["tuned"]["p50_ms"] / result["head_only"]["p50_ms"]
    return result


async def outputs_with_and_without_the_tuned_encoder(stack: RailStack, outputs: list[str]) -> dict:
    """Batched outputs/s through the output stack, the dangerous rail as shipped and as its head alone, on the same
    outputs, each side twice in turn and every time from a cold encoder cache."""
    encoder = next(rail for rail in stack.output_rails if rail.name == "dangerous").encoder
    rates: dict[str, list[float]] = {"tuned": [], "head_only": []}
    for turn in range(4):
        side = ("tuned", "head_only")[turn % 2]
        encoder.forget()
        with dangerous_rail_as(stack, side):
            rates[side].append(await batched(stack, outputs))
    result = {side: {"outputs_per_s": statistics.median(values), "runs": values} for side, values in rates.items()}
    result["ratio"] = result["tuned"]["outputs_per_s"] / result["head_only"]["outputs_per_s"]
    return result


async def generated_outputs(count: int, max_tokens: int) -> tuple[list[str], float, int]:
    """`count` new outputs from the embedded engine, 16 at a time: texts, seconds taken, output tokens."""
    import tempfile

    from bench.loopback import bench_settings, engine_request
    from bot.engines import create_engine
    from bot.engines.base import SamplingParams

    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(bench_settings(Path(directory), "transformers"))
    await engine.start()
    try:
        await engine.complete(*engine_request(40_000, "short"), "warm")

        def request(i: int) -> tuple:
            messages, params = engine_request(50_000 + i, "short")
            return messages, SamplingParams(**{**params.as_dict(), "max_tokens": max_tokens, "seed": 1000 + i})

        texts, tokens = [], 0
        started = time.perf_counter()
        for start in range(0, count, STREAMS):
            done = await asyncio.gather(
                *(engine.complete(*request(i), f"rails-bench-{i}") for i in range(start, min(count, start + STREAMS)))
            )
            texts += [text for text, _ in done]
            tokens += sum(usage.output_tokens for _, usage in done)
        return texts, time.perf_counter() - started, tokens
    finally:
        await engine.close()


async def measure(args: argparse.Namespace) -> dict:
    n = 16 if args.quick else args.outputs
    generated = 4 if args.quick else args.generated
    stack = await asyncio.to_thread(load_rails, Settings())
    outputs = creative_outputs(n * 2 + n // 4 + 16)
    single = max(16, n // 4)
    warm, outputs = outputs[:16], outputs[16:]
    try:
        await batched(stack, warm)  # loads lazily built matrices and warms the threads
        results = {
            "outputs_per_s": await batched(stack, outputs[:n]),
            "one_at_a_time_per_s": await one_at_a_time(stack, outputs[n : n + single]),
            "streamed_per_s": await streamed(stack, outputs[n + single : 2 * n + single]),
        }
        results["prompts"] = await prompts_with_and_without_the_tuned_encoder(stack, validation_prompts(64 if args.quick else 400))
        results["dangerous_on_output"] = await outputs_with_and_without_the_tuned_encoder(stack, outputs[:n])
        texts, generation_s, tokens = await generated_outputs(generated, 40 if args.quick else args.max_tokens)
        rails_streamed_s = len(texts) / await streamed(stack, texts)
        rails_batched_s = len(texts) / await batched(stack, [text + " " for text in texts])  # not cached: a new text
    finally:
        await stack.close()
    results["batched_over_one_at_a_time"] = results["outputs_per_s"] / results["one_at_a_time_per_s"]
    results["outputs"] = n
    results["chars_per_output"] = round(sum(map(len, outputs[:n])) / n)
    results["generated"] = {
        "outputs": len(texts), "chars_per_output": round(sum(map(len, texts)) / max(len(texts), 1)),
        "output_tokens": tokens, "generation_s": generation_s, "rails_streamed_s": rails_streamed_s,
        "rails_batched_s": rails_batched_s,
    }  # fmt: skip
    results["rails_over_generation"] = rails_streamed_s / generation_s
    results["rails_batched_over_generation"] = rails_batched_s / generation_s
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=int, default=192)
    parser.add_argument("--generated", type=int, default=32, help="outputs the embedded engine writes for the ratio")
    parser.add_argument("--max-tokens", type=int, default=160, help="per generated output (about 600 characters)")


def report(results: dict) -> str:
    g, o = results["generated"], results["dangerous_on_output"]
    return (
        f"default output rails on {results['outputs']} outputs of ~{results['chars_per_output']} characters\n"
        + table(
            ["feeding", "outputs/s"],
            [["batched", results["outputs_per_s"]], ["one at a time", results["one_at_a_time_per_s"]],
             ["streamed (16, sentence by sentence)", results["streamed_per_s"]]],
        )  # fmt: skip
        + f"\nbatched / one at a time: {results['batched_over_one_at_a_time']:.2f}\n"
        + f"the embedded engine wrote {g['outputs']} outputs (~{g['chars_per_output']} characters, {g['output_tokens']} "
        + f"tokens) in {g['generation_s']:.1f} s, 16 at a time; the rails on those outputs: "
        + f"{g['rails_streamed_s']:.2f} s sentence by sentence, {g['rails_batched_s']:.2f} s batched\n"
        + f"rails / generation: {results['rails_over_generation']:.3f} (streamed), "
        + f"{results['rails_batched_over_generation']:.3f} (batched)\n"
        + f"input rails, one prompt at a time ({results['prompts']['tuned']['prompts']} prompts a side), ms p50 / p95: "
        + f"with the dangerous rail's tuned encoder {results['prompts']['tuned']['p50_ms']:.1f} / "
        + f"{results['prompts']['tuned']['p95_ms']:.1f}, its head alone {results['prompts']['head_only']['p50_ms']:.1f} / "
        + f"{results['prompts']['head_only']['p95_ms']:.1f} (p50 ratio {results['prompts']['p50_ratio']:.2f})\n"
        + "output rails batched, cold cache, each side twice: with the dangerous rail's tuned encoder on the sentences "
        + f"its head screens in {o['tuned']['outputs_per_s']:.1f} outputs/s, its head alone "
        + f"{o['head_only']['outputs_per_s']:.1f} (ratio {o['ratio']:.2f})"
    )


if __name__ == "__main__":  # `python -m bench.rails` is `python -m bench rails`
    import sys

    from bench.harness import main

    main("rails", sys.argv[1:])
