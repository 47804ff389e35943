"""Several bot processes on one database and one engine: aggregate delivered tokens/s and records/s at 1, 2, 4.

Each level starts that many real `storyloom run` processes (Discord mode, `STORYLOOM_SHARD_COUNT=N`,
`STORYLOOM_SHARD_IDS=i`) against the loopback fake Discord in this process, which hands each shard only its
guilds, exactly as Discord's gateway does. They share one database (a fresh SQLite file, or with
`--postgres-url` a fresh PostgreSQL database per level) and one engine: bench/gpu_sim.py's loopback
OpenAI-compatible server in its own process, streaming each request at `--tokens-per-s`. `--requests` `/write`s
go in at once, spread over guilds on every shard.

Baseline in the same run: the same engine read by `--requests` plain readers (what it offers). Per level:
delivered tokens/s and its ratio to the baseline and to one process, full generation records per second
(delivered requests with their generation, verdicts, delivery and chain entry), the processes' CPU seconds per
delivered token (all their threads, rails included), each process's share of the requests, and how long the
processes took to become ready.

    python -m bench processes [--processes 1,2,4] [--requests 64] [--tokens-per-s 80] [--length short]
                              [--postgres-url postgresql+asyncpg://...] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.gpu_sim import gpu_engine
from bench.harness import table
from bench.loopback import REQUEST_ID, engine_request, raw_stream, topic

READY_TIMEOUT_S = 180.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _guilds_on_every_shard(fake, shards: int, per_shard: int = 2) -> list:
    """Guilds (each with #general and alice) until every one of `shards` shards has `per_shard`. Discord puts a
    guild on shard `(id >> 22) % count`; snowflakes made within one millisecond share those bits."""
    while True:
        on = {s: [g for g in fake.guilds.values() if (g.id >> 22) % shards == s] for s in range(shards)}
        if all(len(guilds) >= per_shard for guilds in on.values()):
            return [guild for guilds in on.values() for guild in guilds[:per_shard]]
        time.sleep(0.0015)
        guild = fake.add_guild(f"Guild {len(fake.guilds)}", owner=fake.owner)
        guild.add_channel("general")
        guild.add_member(fake.alice)


@contextlib.asynccontextmanager
async def _database(postgres_url: str | None, directory: Path) -> AsyncIterator[str]:
    """A fresh database for one level: a SQLite file, or a PostgreSQL database created and dropped around it."""
    if not postgres_url:
        yield f"sqlite+aiosqlite:///{directory / 'storyloom.sqlite3'}"
        return
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    server = make_url(postgres_url)
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _discord(fake) -> dict[str, str]:
    """The environment that points a `storyloom` process at the loopback Discord."""
    return {
        **os.environ,
        "DISCORD_TOKEN": fake.token,
        "STORYLOOM_DISCORD_API_URL": fake.api_base,
        "STORYLOOM_DISCORD_GATEWAY_URL": fake.gateway_url,
    }


async def _sync_commands(fake) -> None:
    """`storyloom discord sync`, as an operator runs it once per deploy (a start registers nothing globally)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main(['discord', 'sync']))",
        env=_discord(fake), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, error = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"storyloom discord sync failed:\n{error.decode()[-2000:]}")


def _where(stderr: str) -> str:
    """A dead process's traceback cut to what says where it died: this project's frames (a driver's traceback runs
    to dozens of library frames, and its tail alone names none of ours) and the last lines."""
    lines = stderr.splitlines()
    ours = [
        f"{line}\n{lines[i + 1] if i + 1 < len(lines) else ''}"
        for i, line in enumerate(lines)
        if 'File "' in line and "site-packages" not in line and "<frozen" not in line
    ]
    return "\n".join([*ours[-12:], "...", *lines[-8:]])


async def _start_processes(count: int, fake, engine_url: str, database_url: str, directory: Path, requests: int):
    """`count` bot processes, one shard each, and the seconds until every one answered /ready."""
    environment = {
        **_discord(fake),
        "STORYLOOM_DATA_DIR": str(directory),
        "STORYLOOM_DATABASE_URL": database_url,
        "STORYLOOM_ENGINE": "openai",
        "STORYLOOM_ENGINE_URLS": engine_url,
        "STORYLOOM_SEED": "7",
        "STORYLOOM_RATE_LIMIT_PER_MINUTE": "100000",
        "STORYLOOM_MAX_CONCURRENT_GENERATIONS": str(requests),
        "STORYLOOM_MAX_QUEUED_REQUESTS": str(requests),
        "STORYLOOM_SHARD_COUNT": str(count),
        "STORYLOOM_LOG_LEVEL": "WARNING",
    }
    processes, ports = [], []
    started = time.monotonic()
    for shard in range(count):
        port = _free_port()
        ports.append(port)
        env = {**environment, "STORYLOOM_SHARD_IDS": str(shard), "STORYLOOM_METRICS_PORT": str(port)}
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main(['run']))",
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        )
    async with httpx.AsyncClient(timeout=2.0) as client:
        for process, port in zip(processes, ports, strict=True):
            while True:
                if process.returncode is not None:
                    error = _where((await process.stderr.read()).decode() if process.stderr else "")
                    raise SystemExit(f"a bot process exited with {process.returncode} before it was ready:\n{error}")
                if time.monotonic() - started > READY_TIMEOUT_S:
                    raise SystemExit(f"a bot process was not ready after {READY_TIMEOUT_S:.0f} s")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
    return processes, time.monotonic() - started


async def _stop(processes) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _write(fake, guild, index: int, length: str) -> tuple[str | None, float]:
    """One `/write` in `guild`, until its final message (or a refusal); its request id and when it ended."""
    channel = next(c for c in guild.channels.values() if getattr(c, "name", None) == "general")
    record = await fake.slash(
        "write", {"kind": "story", "about": topic(index), "length": length}, user=fake.alice, channel=channel
    )

    def finished(r) -> bool:
        final = r.original is not None and "AI-generated" in r.original.content and not r.original.content.endswith("▌")
        return final or any(m.ephemeral for m in r.followups)

    await record.wait_for(finished, timeout=600)
    match = REQUEST_ID.search(record.original.content) if record.original is not None else None
    delivered = record.original is not None and "AI-generated" in record.original.content
    return (match.group(1) if match and delivered else None), max(w.at for w in record.writes)


async def _delivered(database_url: str, request_ids: list[str]) -> tuple[int, dict[str, int]]:
    """Output tokens of these requests' generations, and how many requests each process (instance) took."""
    from sqlalchemy import func, select

    from storage.db import create_engine
    from storage.models import Generation, Request

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tokens = await connection.scalar(
                select(func.coalesce(func.sum(Generation.output_tokens), 0)).where(Generation.request_id.in_(request_ids))
            )
            rows = await connection.execute(
                select(Request.instance, func.count()).where(Request.id.in_(request_ids)).group_by(Request.instance)
            )
            return int(tokens or 0), {str(instance): count for instance, count in rows}
    finally:
        await engine.dispose()


async def _baseline(engine_url: str, requests: int, length: str) -> float:
    """What the engine offers: `requests` plain readers through the product's `openai` client, tokens/s."""
    from bot.config import Settings
    from bot.engines.openai_engine import OpenAIEngine

    engine = OpenAIEngine.from_settings(
        Settings(engine="openai", engine_urls=[engine_url], max_concurrent_generations=requests)
    )
    await engine.start()
    try:
        started = time.monotonic()
        usages = await asyncio.gather(
            *(raw_stream(engine, *engine_request(i, length), f"raw-{i}-{time.monotonic_ns()}") for i in range(requests))
        )
        return sum(u.output_tokens for u in usages if u is not None) / (time.monotonic() - started)
    finally:
        await engine.close()


async def _level(count: int, args: argparse.Namespace, engine_url: str, fake, guilds: list) -> dict:
    with tempfile.TemporaryDirectory(prefix="storyloom-processes-") as directory:
        async with _database(args.postgres_url, Path(directory)) as database_url:
            processes, ready_s = await _start_processes(
                count, fake, engine_url, database_url, Path(directory), args.requests
            )
            try:
                cpu_before = sum(_process_cpu_s(p.pid) for p in processes)
                started = time.monotonic()
                done = await asyncio.gather(
                    *(_write(fake, guilds[i % len(guilds)], i, args.length) for i in range(args.requests))
                )
                wall = max(at for _, at in done) - started
                cpu = sum(_process_cpu_s(p.pid) for p in processes) - cpu_before
            finally:
                await _stop(processes)
            ids = [request_id for request_id, _ in done if request_id]
            tokens, by_instance = await _delivered(database_url, ids)
    return {
        "processes": count, "ready_s": ready_s, "requests": args.requests, "delivered": len(ids),
        "tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall, "records_per_s": len(ids) / wall,
        "cpu_ms_per_token": cpu * 1000 / max(tokens, 1), "requests_by_instance": by_instance,
    }  # fmt: skip


async def measure(args: argparse.Namespace) -> dict:
    from tests.fakediscord import FakeDiscord

    counts = [1, 2] if args.quick else [int(c) for c in args.processes.split(",")]
    if args.quick:
        args.requests = min(args.requests, 8)
    results: dict = {
        "tokens_per_s_per_stream": args.tokens_per_s, "length": args.length, "requests": args.requests,
        "database": "postgresql" if args.postgres_url else "sqlite", "cores": os.cpu_count(), "levels": {},
    }  # fmt: skip
    with gpu_engine(args.tokens_per_s) as engine_url:
        results["offered_tokens_per_s"] = await _baseline(engine_url, args.requests, args.length)
        fake = FakeDiscord()
        await fake.start()
        try:
            guilds = _guilds_on_every_shard(fake, max(counts))
            await _sync_commands(fake)
            for count in counts:
                results["levels"][str(count)] = await _level(count, args, engine_url, fake, guilds)
        finally:
            await fake.close()
    one = results["levels"][str(counts[0])]["tokens_per_s"] or 1.0
    for count in counts:
        level = results["levels"][str(count)]
        level["ratio_to_offered"] = level["tokens_per_s"] / results["offered_tokens_per_s"]
        level["scaling"] = level["tokens_per_s"] / one
        results[f"tokens_per_s_p{count}"] = round(level["tokens_per_s"], 1)
        results[f"records_per_s_p{count}"] = round(level["records_per_s"], 2)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", default="1,2,4", help="bot processes per level, comma-separated")
    parser.add_argument("--requests", type=int, default=64, help="/write requests sent at once at each level")
    parser.add_argument("--tokens-per-s", type=float, default=80.0, help="each engine stream's rate")
    parser.add_argument("--length", choices=["short", "medium", "long"], default="short")
    parser.add_argument("--postgres-url", default=os.environ.get("STORYLOOM_BENCH_POSTGRES_URL", ""),
                        help="a PostgreSQL server (postgresql+asyncpg://...); a database is created per level")  # fmt: skip


def report(results: dict) -> str:
    rows = [
        [
            count, f"{level['ready_s']:.1f}", f"{level['delivered']}/{level['requests']}",
            f"{level['tokens_per_s']:,.1f}", f"{level['ratio_to_offered']:.3f}", f"{level['scaling']:.2f}",
            f"{level['records_per_s']:.2f}", f"{level['cpu_ms_per_token']:.2f}",
            " ".join(f"{n}" for n in sorted(level["requests_by_instance"].values(), reverse=True)),
        ]  # fmt: skip
        for count, level in results["levels"].items()
    ]
    head = (
        f"{results['requests']} /write at once on {results['database']}, engine {results['tokens_per_s_per_stream']:.0f}"
        f" tokens/s per stream ({results['length']}), offers {results['offered_tokens_per_s']:,.1f} tokens/s;"
        f" {results['cores']} cores\n"
    )
    return head + table(
        ["processes", "ready s", "delivered", "tokens/s", "to offered", "vs 1", "records/s", "CPU ms/tok", "per process"],
        rows,
    )
