"""Full generation records per second through the batched recorder into SQLite, against raw `sqlite3` executemany.

A record is what the pipeline writes for one delivered `/write`: the request (arrived, then generating, then
delivered), its generation (inserted, then updated with the output, tokens and timings), four verdicts (two on
the prompt, two on the output), one delivery, and the hash-chain entry the recorder appends in the same
transaction once the request has ended. They go through `storage.recorder.Recorder` exactly as the pipeline
calls it, `--concurrent` requests interleaved and the loop free to run between calls, into a fresh SQLite file
migrated by Alembic (WAL, synchronous=NORMAL, foreign keys, as the product opens it). The rate is records over
the time from the first call to the end of `flush()`.

Baseline in the same run: the very rows the recorder left (requests, generations, verdicts, deliveries, chain
entries, heads, checkpoints, policy versions) read back and written into a second fresh file with the same
pragmas by raw `sqlite3` `executemany`, in as many transactions as the recorder committed.

    python -m bench provenance [--records 5000] [--concurrent 16] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import table
from storage.db import create_engine, upgrade
from storage.models import RequestStatus
from storage.recorder import Recorder

TABLES = ("policy_versions", "requests", "generations", "verdicts", "deliveries", "chain_entries", "chain_heads",
          "chain_checkpoints")  # fmt: skip
OUTPUT = (
    "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass. "
    "Far out, a fishing boat turned toward the light. "
) * 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrent", type=int, default=16, help="requests whose calls interleave")


def _verdict(request_id: str, guild_id: int, generation_id: str | None, stage: str, rail: str, index: int | None) -> dict:
    return {
        "request_id": request_id, "guild_id": guild_id, "generation_id": generation_id, "stage": stage,
        "rail": rail, "backend": "embedded", "version": "bench-1", "decision": "pass", "category": None,
        "scores": {"toxicity": 0.02, "insult": 0.01}, "thresholds": {"toxicity": 0.8, "insult": 0.8},
        "sentence": None, "explanation": None, "chunk_index": index, "policy_hash": "f" * 64, "latency_ms": 3.2,
    }  # fmt: skip


def _steps(recorder: Recorder, n: int):  # noqa: ANN202 - a generator of the pipeline's calls for request n
    request_id, generation_id = uuid.uuid4().hex, uuid.uuid4().hex
    guild = 1000 + n % 20
    recorder.request_arrived(
        id=request_id, interface="discord", guild_id=guild, channel_id=5000 + n % 7, user_id=10_000 + n % 500,
        user_name=f"member{n % 500}", command="write", kind="story",
        options={"genre": None, "tone": None, "length": "short", "rating": "PG-13"},
        prompt=f"a lighthouse keeper, take {n}", parent_request_id=None, policy_hash="f" * 64,
    )  # fmt: skip
    yield
    recorder.verdicts([_verdict(request_id, guild, None, "input", rail, None) for rail in ("toxicity", "injection")])
    recorder.request_status(request_id, RequestStatus.GENERATING)
    recorder.generation(
        id=generation_id, request_id=request_id, attempt=1, engine="transformers", model_id="smollm2",
        params={"max_tokens": 160, "temperature": 0.8, "top_p": 0.95, "seed": n}, seed=n, template_version="bench",
        rendered_prompt=f'[{{"role": "user", "content": "Write a story about a lighthouse keeper, take {n}."}}]',
    )  # fmt: skip
    yield
    recorder.verdicts([_verdict(request_id, guild, generation_id, "output", r, 0) for r in ("toxicity", "misinformation")])
    yield
    recorder.generation_update(
        generation_id, raw_output=OUTPUT, shown_output=OUTPUT.strip(), prompt_tokens=80, output_tokens=120,
        finish_reason="stop", time_to_first_token_ms=40.0, total_ms=2400.0,
    )  # fmt: skip
    recorder.delivery(request_id=request_id, channel_id=5000 + n % 7, message_id=10**17 + n, kind="message")
    recorder.request_status(request_id, RequestStatus.DELIVERED)


async def _recorded(path: Path, records: int, concurrent: int) -> tuple[float, int]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    recorder = Recorder(engine)
    recorder.start()
    started = time.perf_counter()
    recorder.policy_version("f" * 64, {"bench": True})
    running = [_steps(recorder, n) for n in range(min(concurrent, records))]
    next_n = len(running)
    while running:
        for steps in list(running):
            if next(steps, StopIteration) is StopIteration:
                running.remove(steps)
                if next_n < records:
                    running.append(_steps(recorder, next_n))
                    next_n += 1
        await asyncio.sleep(0)  # the loop turns between the pipeline's calls, as it does with requests in flight
    await recorder.flush()
    elapsed = time.perf_counter() - started
    commits = recorder.commits
    await recorder.close()
    await engine.dispose()
    return records / elapsed, commits


def _raw(source: Path, target: Path, records: int, transactions: int) -> float:
    read = sqlite3.connect(source)
    rows = {}
    for name in TABLES:
        cursor = read.execute(f"SELECT * FROM {name}")  # noqa: S608 - our own table names
        rows[name] = ([c[0] for c in cursor.description], cursor.fetchall())
    read.close()
    write = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        write.execute(f"PRAGMA {pragma}")
    # Each transaction holds whole requests with all their rows, so foreign keys hold at every commit.
    transactions = max(1, transactions)
    ids = [row[rows["requests"][0].index("id")] for row in rows["requests"][1]]
    part_of = {request_id: index * transactions // len(ids) for index, request_id in enumerate(ids)}
    key = {"requests": "id", "chain_entries": "record_id"}
    parts: list[dict[str, list[tuple]]] = [{name: [] for name in TABLES} for _ in range(transactions)]
    for name in TABLES:
        columns, values = rows[name]
        column = key.get(name, "request_id")
        at = columns.index(column) if column in columns else None
        for row in values:
            if at is not None and row[at] in part_of:
                part = part_of[row[at]]
            else:  # policy versions first; heads and checkpoints describe the chain once it is complete
                part = 0 if name == "policy_versions" else transactions - 1
            parts[part][name].append(row)
    started = time.perf_counter()
    for part in parts:
        write.execute("BEGIN")
        for name in TABLES:
            if part[name]:
                columns = rows[name][0]
                marks = ", ".join("?" * len(columns))
                write.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", part[name])  # noqa: S608
        write.execute("COMMIT")
    elapsed = time.perf_counter() - started
    write.close()
    return records / elapsed


async def measure(args: argparse.Namespace) -> dict:
    records = 200 if args.quick else args.records
    with tempfile.TemporaryDirectory(prefix="storyloom-bench-") as directory:
        recorded, raw = Path(directory, "recorded.sqlite3"), Path(directory, "raw.sqlite3")
        empty = create_engine(f"sqlite+aiosqlite:///{raw}")
        await upgrade(empty)
        await empty.dispose()
        per_s, commits = await _recorded(recorded, records, args.concurrent)
        raw_per_s = await asyncio.to_thread(_raw, recorded, raw, records, commits)
        chained = sqlite3.connect(recorded).execute("SELECT count(*) FROM chain_entries").fetchone()[0]
    return {
        "records": records, "concurrent": args.concurrent, "commits": commits, "chain_entries": chained,
        "records_per_s": per_s, "raw_records_per_s": raw_per_s, "ratio_to_raw": per_s / raw_per_s,
    }  # fmt: skip


def report(results: dict) -> str:
    return (
        f"{results['records']:,} full generation records into SQLite ({results['commits']} commits, "
        f"{results['chain_entries']:,} chain entries)\n"
        + table(
            ["writer", "records/s"],
            [["storage.recorder.Recorder", results["records_per_s"]], ["raw sqlite3 executemany (same rows)", results["raw_records_per_s"]]],
        )
        + f"\nrecorder / raw: {results['ratio_to_raw']:.3f}"
    )


if __name__ == "__main__":  # `python -m bench.provenance` is `python -m bench provenance`
    import sys

    from bench.harness import main

    main("provenance", sys.argv[1:])
