"""The audit counters (storage/audit_counters.py): kept by the recorder as rows arrive, they give `/audit stats` the
same figures as counting the rows, for any guild scope and any `since`; migration 0012 backfills them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from storage.audit import ALL_GUILDS, stats
from storage.audit.scope import in_scope as _in_scope
from storage.audit_counters import counted_stats, rebuild, scanned_stats
from storage.db import create_engine, mark_interrupted, upgrade
from storage.erasure import erase_user, prune_older_than
from storage.models import (
    AuditFlaggedCount, AuditMember, AuditRequestCount, AuditVerdictCount, Request, RequestStatus, Verdict,
)  # fmt: skip
from storage.recorder import Recorder

GUILDS = (5, 6, None)
USERS = (7, 8, 9, 10)
RAILS = (("input", "prompt_toxicity"), ("output", "output_toxicity"), ("output", "misinformation"))
NOW = datetime.now(UTC)
_COUNTERS = (AuditRequestCount, AuditVerdictCount, AuditFlaggedCount, AuditMember)


def _verdict(request_id: str, guild: int | None, created: datetime, rail: tuple[str, str], decision: str,
             category: str | None) -> dict:  # fmt: skip
    return {
        "request_id": request_id, "guild_id": guild, "generation_id": None, "created_at": created, "stage": rail[0],
        "rail": rail[1], "backend": "embedded", "version": "1.0", "decision": decision, "category": category,
        "scores": {}, "thresholds": {}, "sentence": None, "explanation": None, "chunk_index": None,
        "policy_hash": "p" * 64, "latency_ms": 1.0,
    }  # fmt: skip


async def _mixed_workload(engine) -> None:
    """Requests over ten days in two guilds and outside any, arriving, changing status and getting verdicts over
    several commits; some flagged again days later (their flagged count moves), some left open and interrupted."""
    rng = random.Random(19)
    recorder = Recorder(engine)
    recorder.start()
    requests = []
    for n in range(60):
        guild, user = rng.choice(GUILDS), rng.choice(USERS)
        created = NOW - timedelta(days=rng.randrange(10), hours=rng.randrange(24), minutes=rng.randrange(60))
        request_id = f"{n:032x}"
        recorder.request_arrived(
            id=request_id, interface="discord" if guild else "local", guild_id=guild, channel_id=1, user_id=user,
            user_name="m", command="write", kind="poem", prompt="a lighthouse", created_at=created, updated_at=created,
        )  # fmt: skip
        requests.append((request_id, guild, created))
        if n % 7 == 0:
            await recorder.flush()  # status changes then land in later commits than their request
    await recorder.flush()
    for request_id, guild, created in requests:
        roll = rng.random()
        if roll < 0.1:
            continue  # left open: interrupted below
        recorder.request_status(request_id, RequestStatus.GENERATING)
        if rng.random() < 0.5:
            await recorder.flush()
        rows = []
        for rail in RAILS:
            decision = rng.choice(("pass", "pass", "pass", "flag", "block", "redact"))
            category = None if decision == "pass" else rng.choice(("insult", "toxicity", "fact", None))
            rows.append(_verdict(request_id, guild, created + timedelta(seconds=2), rail, decision, category))
        recorder.verdicts(rows)
        blocked = any(row["decision"] == "block" for row in rows)
        status = RequestStatus.BLOCKED if blocked else rng.choice((RequestStatus.DELIVERED, RequestStatus.HELD))
        recorder.request_status(request_id, status)
        flagged = any(row["decision"] != "pass" for row in rows)
        if (flagged and rng.random() < 0.4) or rng.random() < 0.1:  # flagged again later: the same day or days on
            await recorder.flush()
            later = created + timedelta(days=rng.choice((0, 1, 3)), minutes=5)
            recorder.verdicts([_verdict(request_id, guild, later, RAILS[2], "flag", "fact")])
    await recorder.close()
    assert await mark_interrupted(engine) > 0
    assert (await erase_user(engine, USERS[0])).erased  # erasure changes content only: no count moves
    await prune_older_than(engine, 5)


async def _counters(engine) -> dict[str, set]:
    async with engine.connect() as connection:
        return {
            model.__tablename__: {tuple(row) for row in await connection.execute(select(model)) if getattr(row, "n", 1)}
            for model in _COUNTERS
        }


def _sinces() -> list[datetime | None]:
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        None, midnight - timedelta(days=3), midnight - timedelta(days=2) + timedelta(hours=13, minutes=7),
        midnight - timedelta(seconds=1), NOW - timedelta(days=7), NOW - timedelta(minutes=90), NOW + timedelta(days=1),
    ]  # fmt: skip


async def _assert_counted_equals_scanned(engine) -> None:
    for guild in (*GUILDS, ALL_GUILDS):
        every = guild is ALL_GUILDS
        for since in _sinces():
            scopes = {
                "request_scope": _in_scope(Request.guild_id, guild),
                "verdict_scope": _in_scope(Verdict.guild_id, guild),
            }
            async with engine.connect() as connection:
                counted = await counted_stats(
                    connection, None if every else guild, every_guild=every, since=since, **scopes
                )
                scanned = await scanned_stats(connection, since=since, **scopes)
            assert counted == scanned, (guild, since)


async def test_counters_equal_the_rows_after_a_mixed_workload(database):
    await _mixed_workload(database)
    kept = await _counters(database)
    assert all(kept.values()), "the workload fills every counter"
    await _assert_counted_equals_scanned(database)
    async with database.begin() as connection:
        await rebuild(connection)
    assert await _counters(database) == kept  # kept as rows arrived == recounted from the rows


async def test_stats_reads_the_counters(database):
    await _mixed_workload(database)
    async with database.connect() as connection:
        scanned = await scanned_stats(
            connection, since=None, request_scope=_in_scope(Request.guild_id, 5), verdict_scope=_in_scope(Verdict.guild_id, 5)
        )
    result = await stats(database, 5, top=2)
    assert result.requests == sum(scanned.by_status.values()) and result.members == scanned.members
    assert result.by_status == scanned.by_status and result.by_rail == scanned.by_rail
    assert result.top_categories == scanned.categories[:2]
    assert result.flagged_requests == scanned.flagged_requests
    async with database.begin() as connection:  # the counters, not the rows, are what stats reads
        await connection.execute(AuditFlaggedCount.__table__.update().values(n=AuditFlaggedCount.n + 1000))
    assert (await stats(database, 5)).flagged_requests >= 1000


async def test_migration_backfills_counters_from_a_0010_database(database_url):
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0010_story_version")
        rng = random.Random(12)
        requests, verdicts = [], []
        for n in range(40):
            guild = rng.choice(GUILDS)
            created = NOW - timedelta(days=rng.randrange(6), hours=rng.randrange(24))
            request_id = f"{n:032x}"
            requests.append({
                "id": request_id, "created_at": created, "updated_at": created, "interface": "discord", "guild_id": guild,
                "user_id": rng.choice(USERS), "user_name": "m", "command": "write", "options": {},
                "status": rng.choice(("delivered", "blocked", "rejected", "interrupted")),
            })  # fmt: skip
            for rail in RAILS:
                decision = rng.choice(("pass", "flag", "block"))
                verdicts.append(_verdict(request_id, guild, created, rail, decision, None if decision == "pass" else "x"))
        async with engine.begin() as connection:  # rows as today's main writes them, before the counters exist
            await connection.execute(insert(Request.__table__), requests)
            await connection.execute(insert(Verdict.__table__), verdicts)
        await upgrade(engine)
        await _assert_counted_equals_scanned(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("top", [1, 8])
async def test_stats_top_categories_order_as_before(sqlite_database, top):
    await _mixed_workload(sqlite_database)
    async with sqlite_database.connect() as connection:
        scanned = await scanned_stats(connection, since=None, request_scope=_in_scope(Request.guild_id, ALL_GUILDS),
                                      verdict_scope=_in_scope(Verdict.guild_id, ALL_GUILDS))  # fmt: skip
    assert (await stats(sqlite_database, ALL_GUILDS, top=top)).top_categories == scanned.categories[:top]
