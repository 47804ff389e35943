"""Build (or reuse) a SQLite provenance database of a million generations, chained, for audit benchmarks.

Rows are synthetic but shaped like the bot's: 20 guilds, 5,000 members, requests with one generation (one in
twenty has a second attempt), four verdicts each (prompt toxicity and injection, output toxicity and
misinformation; ~5% blocked, ~2% flagged), one delivery, and a chain entry per ended request computed by the
product's own code (`storage.chain.request_records`, `record_digest`, `leaf_hash`, `link_hash`), so
`storyloom audit verify` passes on it. Rows go in through raw `sqlite3` `executemany` (the schema comes from the
Alembic migrations); the chain is computed from the rows read back, exactly as verify reads them.

    python -m bench.audit_db [--path data/bench/audit-1m.sqlite3] [--generations 1000000] [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from storage import audit_counters
from storage.chain import CHECKPOINT_EVERY, GENESIS, leaf_hash, link_hash, record_digest, request_records
from storage.db import create_engine, upgrade
from storage.models import Request

DEFAULT_PATH = Path("data/bench/audit-1m.sqlite3")
GUILDS = 20
MEMBERS = 5000
CHUNK = 10_000
SUBJECTS = ["a lighthouse keeper", "a dragon who bakes bread", "the last train", "a robot painter", "a snowed-in hotel"]
KINDS = ["story", "poem", "lyrics", "script", "character", "scene"]
SENTENCES = [
    "The keeper climbed the stairs at dusk.",
    "Far out, a fishing boat turned toward the light.",
    "The dragon dusted flour from her claws and smiled.",
    "Rain drummed on the carriage roof all night.",
    "She folded the letter twice and hid it in the clock.",
]


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DateTime on SQLite


def _rows(index: int, rng: random.Random, start: datetime) -> tuple[tuple, list[tuple], list[tuple], tuple | None]:
    """One request with its generations, verdicts and delivery."""
    request_id = uuid.UUID(int=rng.getrandbits(128)).hex
    created = start + timedelta(seconds=index * 3)
    guild = 1000 + rng.randrange(GUILDS)
    user = 10_000 + rng.randrange(MEMBERS)
    roll = rng.random()
    status = "blocked" if roll < 0.05 else "rejected" if roll < 0.06 else "failed" if roll < 0.07 else "delivered"
    kind = rng.choice(KINDS)
    options = json.dumps({"genre": None, "tone": None, "length": "short", "rating": "PG-13"})
    prompt = f"{kind} about {rng.choice(SUBJECTS)}"
    request = (
        request_id, _ts(created), _ts(created + timedelta(seconds=2)), "discord", guild, guild * 10 + rng.randrange(5),
        user, f"member{user}", "write", kind, options, prompt, None, status,
        "output toxicity: toxicity" if status == "blocked" else None, "f" * 64,
    )  # fmt: skip
    generations, verdicts = [], []
    attempts = 2 if rng.random() < 0.05 else 1
    text = " ".join(rng.choice(SENTENCES) for _ in range(6))
    for attempt in range(1, attempts + 1):
        generation_id = uuid.UUID(int=rng.getrandbits(128)).hex
        generations.append((
            generation_id, request_id, attempt, _ts(created), "transformers", "smollm2-135m-instruct", json.dumps({"max_tokens": 160}),
            rng.randrange(2**31), "2026-11-29.1", json.dumps([{"role": "user", "content": prompt}]), text, text, 40, 96,
            "stop", 120.0, 2400.0,
        ))  # fmt: skip
        for stage, rail, decision, category, score in (
            ("input", "toxicity", "pass", None, 0.02),
            ("input", "injection", "pass", None, 0.01),
            ("output", "toxicity", "block" if status == "blocked" else "pass", "toxicity" if status == "blocked" else None, 0.91 if status == "blocked" else 0.03),
            ("output", "misinformation", "flag" if rng.random() < 0.02 else "pass", None, 0.1),
        ):  # fmt: skip
            verdicts.append((
                request_id, guild, None if stage == "input" else generation_id, _ts(created), stage, rail, "embedded", "v1",
                decision, category, json.dumps({"toxicity": score}), json.dumps({"toxicity": 0.55}), SENTENCES[0],
                f"{rail} {score:.2f}", 0 if stage == "output" else None, "f" * 64, 3.5,
            ))  # fmt: skip
    delivery = (request_id, _ts(created), request[5], 10**17 + index, "message") if status == "delivered" else None
    return request, generations, verdicts, delivery


def insert_rows(path: Path, generations: int, seed: int) -> int:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    written = index = 0
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA synchronous=OFF")
        while written < generations:
            requests, gens, verdicts, deliveries = [], [], [], []
            while len(gens) < CHUNK and written + len(gens) < generations:
                request, request_gens, request_verdicts, delivery = _rows(index, rng, start)
                index += 1
                requests.append(request)
                gens += request_gens
                verdicts += request_verdicts
                if delivery:
                    deliveries.append(delivery)
            raw.executemany("INSERT INTO requests (id, created_at, updated_at, interface, guild_id, channel_id, user_id, user_name, command, kind, options, prompt, parent_request_id, status, status_reason, policy_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", requests)  # noqa: E501
            raw.executemany("INSERT INTO generations (id, request_id, attempt, created_at, engine, model_id, params, seed, template_version, rendered_prompt, raw_output, shown_output, prompt_tokens, output_tokens, finish_reason, time_to_first_token_ms, total_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", gens)  # noqa: E501
            raw.executemany("INSERT INTO verdicts (request_id, guild_id, generation_id, created_at, stage, rail, backend, version, decision, category, scores, thresholds, sentence, explanation, chunk_index, policy_hash, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", verdicts)  # noqa: E501
            raw.executemany("INSERT INTO deliveries (request_id, created_at, channel_id, message_id, kind) VALUES (?,?,?,?,?)", deliveries)
            raw.commit()
            written += len(gens)
            print(f"\r  rows: {written:,} generations", end="", flush=True, file=sys.stderr)
    print()
    return index


async def chain_all(path: Path, batch: int = 500) -> int:
    """Chain every request in creation order, per guild, with the product's digest code."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    heads: dict[int, tuple[int, str]] = {}
    entries = 0
    try:
        async with engine.connect() as connection:
            ids = (await connection.execute(select(Request.id).order_by(Request.created_at, Request.id))).scalars().all()
            with sqlite3.connect(path) as raw:
                for start in range(0, len(ids), batch):
                    chunk = ids[start : start + batch]
                    rows = [dict(r._mapping) for r in await connection.execute(select(Request.__table__).where(Request.id.in_(chunk)))]
                    records = await request_records(connection, rows)
                    links, checkpoints = [], []
                    for request_id in chunk:
                        record = records[request_id]
                        chain = record["request"]["guild_id"] or 0
                        seq, previous = heads.get(chain, (0, GENESIS))
                        digest = record_digest(record)
                        leaf = leaf_hash("request", request_id, digest)
                        chained = link_hash(previous, leaf)
                        heads[chain] = (seq + 1, chained)
                        links.append((chain, seq + 1, "request", request_id, digest, leaf, chained, record["request"]["updated_at"].isoformat(sep=" ")))
                        if (seq + 1) % CHECKPOINT_EVERY == 0:
                            checkpoints.append((chain, seq + 1, chained, links[-1][-1]))
                    raw.executemany("INSERT INTO chain_entries (chain, seq, kind, record_id, record_digest, leaf_hash, chain_hash, created_at) VALUES (?,?,?,?,?,?,?,?)", links)  # noqa: E501
                    raw.executemany("INSERT INTO chain_checkpoints (chain, seq, chain_hash, created_at) VALUES (?,?,?,?)", checkpoints)
                    raw.commit()
                    entries += len(links)
                    print(f"\r  chained: {entries:,} requests", end="", flush=True, file=sys.stderr)
                raw.executemany("INSERT INTO chain_heads (chain, seq, chain_hash) VALUES (?,?,?)", [(c, s, h) for c, (s, h) in heads.items()])
                raw.execute("ANALYZE")
                raw.commit()
    finally:
        await engine.dispose()
    print()
    return entries


async def build(path: Path, generations: int, seed: int = 1) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    started = time.perf_counter()
    requests = insert_rows(path, generations, seed)
    rows_s = time.perf_counter() - started
    entries = await chain_all(path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:  # raw inserts bypass the recorder: count them as migration 0012 does
        await audit_counters.rebuild(connection)
    await engine.dispose()
    return {"generations": generations, "requests": requests, "chain_entries": entries, "rows_s": round(rows_s, 1),
            "chain_s": round(time.perf_counter() - started - rows_s, 1)}  # fmt: skip


def ensure(path: Path = DEFAULT_PATH, generations: int = 1_000_000, *, rebuild: bool = False) -> Path:
    """The database at `path`, built unless a complete one of that size is there already."""
    marker = path.with_suffix(".json")
    if not rebuild and path.exists() and marker.exists() and json.loads(marker.read_text()).get("generations") == generations:
        return path
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), marker):
        stale.unlink(missing_ok=True)
    facts = asyncio.run(build(path, generations))
    marker.write_text(json.dumps(facts))
    print(f"built {path}: {facts}")
    return path


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ensure(args.path, args.generations, rebuild=args.rebuild)


if __name__ == "__main__":
    run()
