"""The default output-rail stack on 600-character creative outputs: outputs/s batched and one at a time.

Three ways of feeding the same stack (toxicity + misinformation, one shared encoder), each on outputs it has not
seen before (the encoder keeps recent embeddings, so a repeated text would cost nothing):

- batched: many whole outputs checked at once, as `storyloom eval` and a busy bot do;
- one at a time: each whole output alone, nothing to batch with (the baseline);
- streamed: 16 requests at once, each checked sentence by sentence as the pipeline does before showing text.

Outputs are the bot's own held-out generations (`guardrails/data/generated_fiction.txt`), joined and cut to
~600 characters.

    python -m bench.rails [--outputs 192] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from bot.config import Settings
from bot.core.app import load_rails
from bot.core.pipeline import SentenceChunker
from guardrails.stack import RailStack

FICTION = Path(__file__).resolve().parents[1] / "guardrails" / "data" / "generated_fiction.txt"
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


async def main(args: argparse.Namespace) -> dict:
    stack = await asyncio.to_thread(load_rails, Settings())
    outputs = creative_outputs(args.outputs * 2 + args.outputs // 4 + 16)
    n, single = args.outputs, max(16, args.outputs // 4)
    warm, outputs = outputs[:16], outputs[16:]
    try:
        await batched(stack, warm)  # loads lazily built matrices and warms the threads
        results = {
            "outputs_per_s": await batched(stack, outputs[:n]),
            "one_at_a_time_per_s": await one_at_a_time(stack, outputs[n : n + single]),
            "streamed_per_s": await streamed(stack, outputs[n + single : 2 * n + single]),
        }
    finally:
        await stack.close()
    results["batched_over_one_at_a_time"] = results["outputs_per_s"] / results["one_at_a_time_per_s"]
    results["outputs"] = n
    results["chars_per_output"] = round(sum(map(len, outputs[:n])) / n)
    return results


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=192)
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    print(f"default output rails on {results['outputs']} outputs of ~{results['chars_per_output']} characters")
    print(f"{'batched':<16}{results['outputs_per_s']:>10.1f} outputs/s")
    print(f"{'one at a time':<16}{results['one_at_a_time_per_s']:>10.1f} outputs/s")
    print(f"{'streamed (16)':<16}{results['streamed_per_s']:>10.1f} outputs/s (sentence by sentence)")
    print(f"batched / one at a time: {results['batched_over_one_at_a_time']:.2f}")
    if args.json:
        print(json.dumps({key: round(value, 3) if isinstance(value, float) else value for key, value in results.items()}))


if __name__ == "__main__":
    run()
