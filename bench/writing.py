"""The writing itself: per kind, how often a delivered piece ends cleanly and has its kind's shape, and at what cost.

N benign `/write` requests per kind and length go through the whole pipeline (admission, input rails, engine,
output rails chunk by chunk, recording in SQLite) on the configured engine, twice in the same run on the same
started engine, subjects and seeds: shaped (the product: bot/core/scaffolds.py, clean endings, one retry on a
missed shape) and free (the behaviour before: one generation shown as it came), the baseline.

Per kind and side: clean-ending rate and shape-conformance rate of delivered pieces (bot/core/shapes.py), the
blocked rate (every block of these benign requests is a false block), the share of delivered pieces with a masked
sentence ("[sentence removed]": a hole the member reads), distinct-2 (distinct word bigrams over all
bigrams: lower is more repetitive), mean length in words, and wall seconds per delivered piece (requests run one
after another). `--samples K` prints K delivered pieces per kind and side.

    python -m bench writing [--per-kind N] [--lengths short,medium] [--kinds poem,lyrics] [--samples 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import table
from bench.loopback import bench_settings
from bot.core import prompts, shapes
from bot.core.app import Core, load_rails
from bot.core.output_check import REDACTED
from bot.core.request import Author, Posted, WriteJob
from guardrails.policy import SLIPS
from storage.models import RequestStatus

SUBJECTS = (
    "a lighthouse keeper who finds a message in a bottle", "two old friends meeting at a train station",
    "a dragon who is afraid of the dark", "the last day of summer", "a robot learning to paint",
    "a city flooded with light at midnight", "a grandmother's recipe book", "a storm over the harbour",
    "a knight who lost her sword", "a garden growing on the moon", "a thief who only steals books",
    "the first snow in a mountain village", "a letter that arrives fifty years late", "a haunted violin",
    "a fox crossing a frozen river", "a baker who bakes dreams", "an astronaut coming home",
    "a market at dawn", "a detective who cannot see colours", "a ship made of glass", "a forest that sings",
    "a child who befriends a ghost", "the night the stars went out", "a river that flows uphill",
)  # fmt: skip
KIND_SUBJECT_EXTRA = {"poem": ("", "", "", " (a haiku)", " (a sonnet)")}
"""Every fourth and fifth poem asks for a form by name."""


@dataclass
class _Sink:
    shown: list[str] = field(default_factory=list)
    delivered: str = ""
    refused: str = ""

    async def show(self, text: str) -> None:
        self.shown.append(text)

    async def restart(self, note: str) -> None:
        self.shown.clear()

    async def deliver(self, text: str, footer: str) -> list[Posted]:
        self.delivered = text
        return [Posted(None, None, "message")]

    async def refuse(self, message: str, footer: str) -> list[Posted]:
        self.refused = message
        return [Posted(None, None, "notice")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--per-kind", type=int, default=20, help="requests per kind and length, on each side")
    parser.add_argument("--lengths", default="short", help="comma-separated: short, medium, long")
    parser.add_argument("--kinds", default=",".join(prompts.KINDS), help="comma-separated kinds")
    parser.add_argument("--engine", choices=["transformers", "vllm", "openai"], default="transformers")
    parser.add_argument("--samples", type=int, default=0, help="print this many delivered pieces per kind and side")
    parser.add_argument("--sides", default="free,shaped", help="comma-separated: free (the baseline), shaped")
    parser.add_argument("--free-per-kind", type=int, default=None, help="requests per kind on the free side (default: --per-kind)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--seed", type=int, default=4242, help="the pipeline's fixed seed (both sides, every request)")
    parser.add_argument(
        "--random-seeds", action="store_true",
        help="each request draws its own seed (many pieces on few subjects; sides then differ: use one side)",
    )  # fmt: skip


def distinct_2(texts: list[str]) -> float:
    bigrams: list[tuple[str, str]] = []
    for text in texts:
        words = re.findall(r"[\w']+", text.lower())
        bigrams += list(zip(words, words[1:], strict=False))
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def _body(text: str) -> str:
    """The piece without the small print the pipeline puts under it."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("-# ")).strip()


async def _side(core: Core, shaped: bool, kind: str, length: str, count: int, concurrency: int) -> dict:
    core.pipeline.shaped = shaped
    author = Author("local", 1, "bench", None, None, exempt_from_rate_limit=True)
    pieces: list[dict] = []

    async def one(index: int) -> dict:
        extra = KIND_SUBJECT_EXTRA.get(kind, ("",))
        about = SUBJECTS[index % len(SUBJECTS)] + extra[index % len(extra)]
        sink = _Sink()
        started = time.monotonic()
        outcome = await core.pipeline.run(author, WriteJob("write", kind, about, length=length), sink)
        text = _body(sink.delivered)
        form = shapes.poem_form(about) if kind == "poem" else None
        return {"about": about, "status": outcome.status.value, "text": text, "s": time.monotonic() - started,
                "clean": shapes.ends_cleanly(text, kind), "problems": shapes.problems(kind, text, form),
                "offered": "/continue" in sink.delivered, "holes": text.count(REDACTED),
                # Delivered on a second draw after the model's own threat or identity attack: blocked before stop 34.
                "slip_rewritten": outcome.status == RequestStatus.DELIVERED and any(
                    v.stage == "output" and v.decision == "block" and v.category in SLIPS for v in outcome.verdicts),
                "decided_by": [f"{v.rail}:{v.category}:{v.decision}" for v in outcome.verdicts if v.decision != "pass"],
                "failed_on": [v.sentence for v in outcome.verdicts if v.decision != "pass" and v.sentence]}  # fmt: skip

    wall = time.monotonic()
    for start in range(0, count, concurrency):
        pieces += await asyncio.gather(*(one(i) for i in range(start, min(count, start + concurrency))))
    wall = time.monotonic() - wall
    delivered = [p for p in pieces if p["status"] == RequestStatus.DELIVERED.value]
    blocked = [p for p in pieces if p["status"] in (RequestStatus.BLOCKED.value, RequestStatus.HELD.value)]
    n = max(len(delivered), 1)
    return {
        "requests": len(pieces),
        "delivered": len(delivered),
        "clean_ending": sum(p["clean"] for p in delivered) / n,
        "shape": sum(not p["problems"] for p in delivered) / n,
        "blocked": len(blocked) / max(len(pieces), 1),
        "slips_rewritten": sum(p["slip_rewritten"] for p in pieces),
        "distinct_2": distinct_2([p["text"] for p in delivered]),
        "mean_words": sum(len(p["text"].split()) for p in delivered) / n,
        "s_per_piece": wall / n,
        "offered_continue": sum(p["offered"] for p in delivered) / n,
        "with_holes": sum(p["holes"] > 0 for p in delivered) / n,
        "problems": sorted({problem for p in delivered for problem in p["problems"]}),
        "pieces": pieces,
    }


async def measure(args: argparse.Namespace) -> dict:
    count = 1 if args.quick else args.per_kind
    kinds = [k for k in args.kinds.split(",") if k in prompts.KINDS]
    sides = [side for side in args.sides.split(",") if side in ("free", "shaped")]
    lengths = [length for length in args.lengths.split(",") if length in ("short", "medium", "long")]
    free_count = count if args.quick or args.free_per_kind is None else args.free_per_kind
    results: dict = {"engine": args.engine, "per_kind": count, "free_per_kind": free_count, "cells": {}}
    with tempfile.TemporaryDirectory(prefix="storyloom-bench-writing-") as directory:
        settings = bench_settings(Path(directory), args.engine, seed=None)
        from bot.engines import create_engine

        engine = create_engine(settings)
        await engine.start()
        rails = await asyncio.to_thread(load_rails, settings)
        core = await Core.start(settings, engine=engine, rails=rails)
        try:
            results["model"] = engine.model_id
            core.pipeline.seed = None if args.random_seeds else args.seed  # fixed: both sides draw the same seeds
            for kind in kinds:
                for length in lengths:
                    cell = {}
                    for side in sides:
                        n = free_count if side == "free" else count
                        cell[side] = await _side(core, side == "shaped", kind, length, n, args.concurrency)
                    results["cells"][f"{kind}/{length}"] = cell
        finally:
            await core.close()
            await engine.close()
    results["sides"] = sides
    for name in ("clean_ending", "shape", "blocked", "with_holes", "s_per_piece"):
        for side in sides:
            cells = [c[side] for c in results["cells"].values()]
            total = sum(c["delivered"] for c in cells) or 1
            if name == "blocked":
                value = sum(c["blocked"] * c["requests"] for c in cells) / max(sum(c["requests"] for c in cells), 1)
            else:
                value = sum(c[name] * c["delivered"] for c in cells) / total
            results[f"{side}_{name}"] = value
    for side in sides:
        slips = sum(c[side]["slips_rewritten"] for c in results["cells"].values())
        requests = sum(c[side]["requests"] for c in results["cells"].values())
        results[f"{side}_slips_rewritten"] = slips
        results[f"{side}_blocked_without_second_draw"] = results[f"{side}_blocked"] + slips / max(requests, 1)
    results["samples"] = args.samples
    return results


def report(results: dict) -> str:
    rows = []
    sides = results.get("sides", ("free", "shaped"))
    for key, cell in results["cells"].items():
        for side in sides:
            c = cell[side]
            rows.append([f"{key} {side}", f"{c['delivered']}/{c['requests']}", c["clean_ending"] * 100,
                         c["shape"] * 100, c["blocked"] * 100, c["distinct_2"], c["mean_words"], c["s_per_piece"],
                         c["offered_continue"] * 100, c["with_holes"] * 100])  # fmt: skip
    head = (
        f"writing on {results['engine']} {results.get('model', '')}, {results['per_kind']} requests per kind and "
        f"length shaped, {results.get('free_per_kind', results['per_kind'])} free; free = one generation shown as it "
        "came (before), shaped = the product"
    )
    out = [head, table(["kind/length side", "delivered", "clean %", "shape %", "blocked %", "distinct-2",
                        "words", "s/piece", "/continue %", "holes %"], rows)]  # fmt: skip
    for side in sides:
        slips = results.get(f"{side}_slips_rewritten", 0)
        before = results.get(f"{side}_blocked_without_second_draw", results[f"{side}_blocked"])
        out.append(
            f"{side}: clean {results[f'{side}_clean_ending'] * 100:.0f}%, shape {results[f'{side}_shape'] * 100:.0f}%, "
            f"blocked {results[f'{side}_blocked'] * 100:.1f}% ({before * 100:.1f}% without a second draw for the "
            f"model's slips: {slips} delivered on one), with a masked sentence "
            f"{results[f'{side}_with_holes'] * 100:.1f}%, {results[f'{side}_s_per_piece']:.1f} s per delivered piece"
        )
    for key, cell in results["cells"].items():
        for side in sides:
            if cell[side]["problems"]:
                out.append(f"{key} {side} problems: {'; '.join(cell[side]['problems'])}")
            for piece in [p for p in cell[side]["pieces"] if p.get("failed_on")]:
                out.append(f"{key} {side} blocked ({', '.join(piece['decided_by'])}) on: {piece['failed_on'][0]!r}")
            for piece in [p for p in cell[side]["pieces"] if p["status"] == "delivered"][: results["samples"]]:
                out.append(f"--- {key} {side}: {piece['about']} ({'; '.join(piece['problems']) or 'ok'})\n{piece['text']}")
    return "\n".join(out)


if __name__ == "__main__":  # `python -m bench.writing` is `python -m bench writing`
    import sys

    from bench.harness import main

    main("writing", sys.argv[1:])
