"""What the rate limit shared across processes costs per request: `storage.ratelimit.SharedRateLimiter.admit`
(one transaction: an upsert of the member's counter for this minute, a read of the previous minute's) on a SQLite
file as the product opens it (WAL, synchronous=NORMAL), against two baselines in the same run: the in-process
`bot.core.admission.RateLimiter.check` it replaces for Discord requests, and an empty write transaction on the same
file (a one-row write in its own transaction: the floor any shared counter in the database pays).

`--engines` engines on the one file stand for bot processes sharing it; `--concurrent` requests in flight each.

    python -m bench ratelimit [--requests 3000] [--members 200] [--engines 2] [--concurrent 8] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench.harness import percentile, table
from bot.core.admission import RateLimiter
from storage.db import create_engine, upgrade
from storage.ratelimit import SharedRateLimiter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--engines", type=int, default=2, help="database engines (bot processes) sharing the file")
    parser.add_argument("--concurrent", type=int, default=8, help="requests in flight per engine")


async def _timed(calls: int, concurrent: int, one) -> tuple[float, list[float]]:  # noqa: ANN001 - async (n) -> None
    latencies: list[float] = []
    queue = iter(range(calls))

    async def worker() -> None:
        for n in queue:
            started = time.perf_counter()
            await one(n)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrent)))
    return time.perf_counter() - started, latencies


def _figures(elapsed: float, latencies: list[float]) -> dict:
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


async def measure(args: argparse.Namespace) -> dict:
    requests = 200 if args.quick else args.requests
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'ratelimit.sqlite3'}"
        engines = [create_engine(url) for _ in range(args.engines)]
        await upgrade(engines[0])
        limiters = [SharedRateLimiter(engine) for engine in engines]
        refused = 0

        async def shared(n: int) -> None:
            nonlocal refused
            wait = await limiters[n % len(limiters)].admit(guild_id=1, user_id=n % args.members, per_minute=10**6)
            refused += wait is not None

        async with engines[0].begin() as connection:
            await connection.execute(text("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, n INTEGER)"))

        async def empty_transaction(n: int) -> None:
            async with engines[n % len(engines)].begin() as connection:
                await connection.execute(text("INSERT OR REPLACE INTO bench_floor VALUES (:id, 1)"), {"id": n % args.members})

        in_process = RateLimiter(10**6)

        async def local(n: int) -> None:
            in_process.check(n % args.members)

        concurrent = args.concurrent * len(engines)
        shared_figures = _figures(*await _timed(requests, concurrent, shared))
        floor_figures = _figures(*await _timed(requests, concurrent, empty_transaction))
        local_figures = _figures(*await _timed(requests, 1, local))
        for engine in engines:
            await engine.dispose()
    return {
        "requests": requests,
        "engines": len(engines),
        "concurrent": concurrent,
        "refused": refused,
        "shared": shared_figures,
        "empty_write_transaction": floor_figures,
        "in_process": local_figures,
    }


def report(results: dict) -> str:
    rows = [
        [name, results[key]["per_s"], results[key]["p50_ms"], results[key]["p99_ms"]]
        for name, key in (
            ("shared counter (this)", "shared"),
            ("one-row write transaction (floor)", "empty_write_transaction"),
            ("in-process limiter (baseline)", "in_process"),
        )
    ]
    head = (
        f"{results['requests']:,} requests, {results['engines']} engines on one SQLite file, "
        f"{results['concurrent']} in flight\n"
    )
    return head + table(["rate check", "per s", "p50 ms", "p99 ms"], rows)
