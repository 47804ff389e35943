"""Votes, servers' settings and the shared rate counter in storage: the migration from a database made at 0010,
one vote per member per piece, stats per kind and model, and a rate limit that is one limit across processes."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, select

from storage.audit import ALL_GUILDS, stats
from storage.db import alembic_config, create_engine, upgrade
from storage.feedback import cast_vote, my_pieces
from storage.models import Request, RequestStatus, Vote
from storage.ratelimit import SharedRateLimiter
from storage.recorder import Recorder


async def test_a_database_made_at_0010_upgrades_keeping_its_rows(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'at-0010.sqlite3'}")
    await upgrade(engine, "0010_story_version")
    async with engine.begin() as connection:  # rows as main's code at 0010 wrote them
        await connection.exec_driver_sql(
            "INSERT INTO requests (id, created_at, updated_at, interface, guild_id, user_id, user_name, command, kind,"
            " options, status) VALUES ('kept', '2026-12-01 00:00:00', '2026-12-01 00:00:00', 'discord', 5, 7, 'ada',"
            " 'write', 'poem', '{}', 'delivered')"
        )
        await connection.exec_driver_sql(
            "INSERT INTO guardrail_settings (guild_id, channel_id, key, value, updated_by, updated_at)"
            " VALUES (5, NULL, 'rating', 'G', 9, '2026-12-01 00:00:00')"
        )
    await upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        version = (await connection.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one()
        kept = (await connection.execute(select(Request.id))).scalars().all()
    assert {"votes", "server_settings", "rate_counters"} <= set(tables) and version == "0013_instance_leases" and kept == ["kept"]
    assert await cast_vote(engine, request_id="kept", guild_id=5, user_id=8, value=1) == (None, 1, 0)
    def downgrade(sync_connection) -> None:
        from alembic import command

        config = alembic_config(str(engine.url))
        config.attributes["connection"] = sync_connection
        command.downgrade(config, "0010_story_version")

    async with engine.begin() as connection:  # and back down
        await connection.run_sync(downgrade)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "votes" not in tables and "requests" in tables
    await engine.dispose()


async def _delivered(database, request_id: str, *, user_id: int = 7, kind: str = "poem") -> None:
    recorder = Recorder(database)
    recorder.request_arrived(
        id=request_id, interface="discord", guild_id=5, channel_id=50, user_id=user_id, user_name="ada",
        command="write", kind=kind, prompt="autumn",
    )  # fmt: skip
    recorder.generation(id=f"g-{request_id}", request_id=request_id, engine="openai", model_id="smollm2", template_version="t")
    recorder.request_status(request_id, RequestStatus.DELIVERED)
    await recorder.close()


async def test_one_vote_per_member_per_piece_changeable_and_counted_per_kind_and_model(database):
    await _delivered(database, "a")
    await _delivered(database, "b", kind="story")
    assert await cast_vote(database, request_id="a", guild_id=5, user_id=1, value=1) == (None, 1, 0)
    assert await cast_vote(database, request_id="a", guild_id=5, user_id=1, value=-1) == (1, 0, 1)
    assert await cast_vote(database, request_id="a", guild_id=5, user_id=2, value=1) == (None, 1, 1)
    await cast_vote(database, request_id="b", guild_id=5, user_id=2, value=1)
    async with database.connect() as connection:
        assert len((await connection.execute(select(Vote.id))).all()) == 3
    result = await stats(database, 5)
    assert result.votes == [("poem", "smollm2", 1, 1), ("story", "smollm2", 1, 0)]
    assert (await stats(database, 6)).votes == [] and len((await stats(database, ALL_GUILDS)).votes) == 2
    pieces, total = await my_pieces(database, guild_id=5, user_id=7, limit=1)
    assert total == 2 and [p.request_id for p in pieces] == ["b"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_rate_limit_is_one_limit_across_processes(database_url):
    url = database_url
    first, second = create_engine(url), create_engine(url)  # two bot processes' engines on one database
    await upgrade(first)
    clock = Clock(60_000 * 60.0 + 5.0)  # 5 s into a minute
    one, two = SharedRateLimiter(first, clock), SharedRateLimiter(second, clock)

    async def ask(limiter):
        return await limiter.admit(guild_id=5, user_id=7, per_minute=3)

    assert [await ask(one), await ask(two), await ask(one)] == [None, None, None]
    wait = await ask(two)
    assert wait is not None and 0 < wait <= 55, "the fourth in a minute is refused, whichever process gets it"
    assert await one.admit(guild_id=5, user_id=8, per_minute=3) is None, "another member has their own limit"
    assert await one.admit(guild_id=6, user_id=7, per_minute=3) is None, "and so has the same member elsewhere"

    clock.now += 60.0  # the next minute, 5 s in: the previous minute still weighs 55/60 of its 3
    assert await ask(two) is not None
    clock.now += 45.0  # 50 s in: 3 × 10/60 = 0.5 of the window's requests left
    assert [await ask(one), await ask(two)] == [None, None]
    assert await ask(one) is not None
    await first.dispose()
    await second.dispose()


async def test_concurrent_requests_never_pass_the_limit_together(database_url):
    url = database_url
    engines = [create_engine(url) for _ in range(3)]
    await upgrade(engines[0])
    clock = Clock(1_000_000 * 60.0)
    limiters = [SharedRateLimiter(engine, clock) for engine in engines]
    results = await asyncio.gather(*(limiters[n % 3].admit(guild_id=5, user_id=7, per_minute=4) for n in range(12)))
    assert sum(result is None for result in results) == 4
    for engine in engines:
        await engine.dispose()
