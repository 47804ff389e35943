"""Audit queries and chain verification on a database of a million generations (built once by bench/audit_db.py).

Each query runs `--runs` times with a different guild, member or message each time; the table gives p50 and p95
in milliseconds. The baseline in the same run is the cheapest possible lookup (a request by primary key), so the
ratios hold on a noisy machine.

`verify` walks chains and re-digests every record once. At a million generations the whole database takes a
minute or more (92 s in one process, 50 s in two on 2026-12-05 at 952,466 entries), so by default it verifies one
guild's chain (1/20 of the rows, as `storyloom audit verify --guild` does) and gives the whole database's time scaled
by entries as `verify_full_estimate_s`; `--verify full` measures the whole database, `--verify skip` none.
`--verify-baseline` (with `--verify full`) also verifies it through the engine's reader in as many processes, the
way every database was read before SQLite files got their own reader: `verify_over_engine` is the ratio.

`--quick` builds (or reuses) a 2,000-generation database under data/bench instead.

    python -m bench audit [--generations 1000000] [--runs 40] [--verify guild|full|skip] [--verify-workers N]
        [--verify-baseline] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import datetime, timedelta
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, select

from bench.audit_db import DEFAULT_PATH, ensure
from bench.harness import percentile as _percentile
from bench.harness import table
from storage.audit import Target, count_requests, list_requests, provenance, provenance_for, stats
from storage.chain import verify
from storage.db import create_engine, upgrade
from storage.audit_counters import scanned_stats
from storage.models import ChainEntry, Delivery, Request, Verdict, aware


async def _timed(runs: int, make: Callable[[int], Awaitable[object]]) -> dict[str, float]:
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        await make(run)
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(samples), "p95_ms": _percentile(samples, 0.95)}


async def measure(args: argparse.Namespace) -> dict:
    if args.quick:
        args.generations, args.runs = 2000, 5
        if args.path == DEFAULT_PATH:
            args.path = DEFAULT_PATH.with_name("audit-quick.sqlite3")
    path = await asyncio.to_thread(ensure, args.path, args.generations)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)  # indexes added since the database was built
    rng = random.Random(7)
    async with engine.connect() as connection:
        guilds = (await connection.execute(select(Request.guild_id).distinct())).scalars().all()
        sample = (
            await connection.execute(
                select(Request.id, Request.guild_id, Request.user_id).order_by(func.random()).limit(args.runs)
            )
        ).all()
        messages = (
            await connection.execute(
                select(Delivery.message_id, Request.guild_id)
                .join(Request, Request.id == Delivery.request_id)
                .order_by(func.random())
                .limit(args.runs)
            )
        ).all()
    async with engine.connect() as connection:
        newest = aware(await connection.scalar(select(func.max(Request.created_at))))
    last_week = newest - timedelta(days=7, hours=5, minutes=17)  # not on a midnight: part of a day counted from rows
    recent = newest - timedelta(hours=31)  # inside even the smallest database's history (a day and a half at 50k)
    queries: dict[str, Callable[[int], Awaitable[object]]] = {
        "baseline: request by id": lambda i: _by_id(engine, sample[i % len(sample)].id),
        "message (card by message id)": lambda i: provenance_for(
            engine, messages[i % len(messages)].guild_id, Target(message_id=messages[i % len(messages)].message_id)
        ),
        "card by request id": lambda i: provenance(engine, sample[i % len(sample)].guild_id, sample[i % len(sample)].id),
        "user (newest 10)": lambda i: list_requests(
            engine, sample[i % len(sample)].guild_id, user_id=sample[i % len(sample)].user_id, limit=10
        ),
        "flagged (newest 10)": lambda i: list_requests(engine, rng.choice(guilds), flagged=True, limit=10),
        "flagged toxicity (newest 10)": lambda i: list_requests(engine, rng.choice(guilds), category="toxicity", limit=10),
        "stats (whole history)": lambda i: stats(engine, rng.choice(guilds)),
        "stats, last 7 days": lambda i: stats(engine, rng.choice(guilds), since=last_week),
        "stats, last 31 hours": lambda i: stats(engine, rng.choice(guilds), since=recent),
        "before counters: stats (whole history)": lambda i: _scanned_stats(engine, rng.choice(guilds), None),
        "before counters: stats, last 7 days": lambda i: _scanned_stats(engine, rng.choice(guilds), last_week),
        "before counters: stats, last 31 hours": lambda i: _scanned_stats(engine, rng.choice(guilds), recent),
        "count (whole history)": lambda i: count_requests(engine, rng.choice(guilds)),
    }
    results: dict[str, dict[str, float]] = {}
    for name, query in queries.items():
        await query(0)  # warm the page cache for this query's indexes
        results[name] = await _timed(args.runs, query)
    out: dict = {"generations": args.generations, "queries": results}
    worst = max((r["p95_ms"], name) for name, r in results.items() if not name.startswith(("baseline", "before")))
    out["p95_ms"], out["worst_query"] = worst
    out["worst_over_baseline"] = worst[0] / max(results["baseline: request by id"]["p95_ms"], 1e-6)
    if args.verify != "skip":
        async with engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(ChainEntry))
        guild = None if args.verify == "full" else sorted(guilds)[0]
        started = time.perf_counter()
        report = await verify(engine, guild)
        out["verify_s"] = time.perf_counter() - started
        if guild is None and args.verify_workers > 1:  # the same database in worker processes, chains side by side
            started = time.perf_counter()
            parallel = await verify(engine, workers=args.verify_workers)
            out["verify_parallel_s"] = time.perf_counter() - started
            out["verify_workers"] = args.verify_workers
            assert parallel.intact == report.intact and parallel.entries == report.entries
            if args.verify_baseline:  # the engine's reader, as every database had it before the file reader
                started = time.perf_counter()
                engine_read = await verify(engine, workers=args.verify_workers, reader="engine")
                out["verify_engine_parallel_s"] = time.perf_counter() - started
                out["verify_over_engine"] = out["verify_parallel_s"] / out["verify_engine_parallel_s"]
                assert (engine_read.intact, engine_read.records) == (report.intact, report.records)
        out["verify_scope"] = "whole database" if guild is None else f"guild {guild}"
        out["verify_entries"] = report.entries
        out["verify_intact"] = report.intact
        out["verify_full_estimate_s"] = out["verify_s"] * total / max(report.entries, 1)
        if guild is None:  # measured, not scaled from one guild; in processes where asked
            out["verify_full_single_s"] = out["verify_s"]
            out["verify_full_s"] = out.get("verify_parallel_s", out["verify_s"])
    await engine.dispose()
    return out


async def _scanned_stats(engine, guild: int, since: datetime | None) -> object:  # noqa: ANN001 - AsyncEngine
    """The stats figures counted from the rows, as `/audit stats` did before the counters (migration 0012)."""
    async with engine.connect() as connection:
        return await scanned_stats(
            connection, since=since, request_scope=Request.guild_id == guild, verdict_scope=Verdict.guild_id == guild
        )


async def _by_id(engine, request_id: str) -> object:  # noqa: ANN001 - AsyncEngine
    async with engine.connect() as connection:
        return (await connection.execute(select(Request).where(Request.id == request_id))).first()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--verify", choices=["guild", "full", "skip"], default="guild")
    parser.add_argument("--verify-workers", type=int, default=4, help="with --verify full: also in N processes")
    parser.add_argument(
        "--verify-baseline", action="store_true", help="with --verify full: also through the engine's reader, in N processes"
    )


def report(out: dict) -> str:
    rows = [[name, r["p50_ms"], r["p95_ms"]] for name, r in out["queries"].items()]
    text = f"audit queries on {out['generations']:,} generations (SQLite)\n" + table(["query", "p50 ms", "p95 ms"], rows)
    text += f"\nworst p95: {out['p95_ms']:.1f} ms ({out['worst_query']}), {out['worst_over_baseline']:.0f}x the baseline"
    if "verify_s" in out:
        text += (
            f"\nverify ({out['verify_scope']}): {out['verify_entries']:,} entries in {out['verify_s']:.1f} s, "
            f"intact={out['verify_intact']}; whole database ~{out['verify_full_estimate_s']:.0f} s"
        )
    if "verify_parallel_s" in out:
        text += f"\nverify (whole database, {out['verify_workers']} processes): {out['verify_parallel_s']:.1f} s"
    if "verify_engine_parallel_s" in out:
        text += (
            f"\n  through the engine's reader (baseline): {out['verify_engine_parallel_s']:.1f} s;"
            f" file reader / engine {out['verify_over_engine']:.2f}"
        )
    return text


if __name__ == "__main__":  # `python -m bench.audit` is `python -m bench audit`
    import sys

    from bench.harness import main

    main("audit", sys.argv[1:])
