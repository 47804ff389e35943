"""The provenance store: schema by migration, batched writes off the loop, interrupted requests on restart."""

import asyncio
import sqlite3

import pytest
from sqlalchemy import inspect, select

from storage.db import create_engine, mark_interrupted, upgrade, use_wal
from storage.models import Generation, Request, RequestStatus, Verdict
from storage.recorder import Recorder


def _request(request_id: str, **extra) -> dict:
    return dict(
        id=request_id, interface="local", guild_id=1, channel_id=None, user_id=7, user_name="ada",
        command="write", kind="poem", prompt="autumn", **extra,
    )


async def test_migration_creates_every_table(database):
    async with database.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        version = (await connection.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one()
    assert {
        "requests", "generations", "verdicts", "deliveries", "guardrail_settings", "misinfo_entries", "reviews",
        "moderation_actions", "chain_entries", "chain_heads", "chain_checkpoints", "alembic_version",
    } <= set(tables)
    assert version == "0013_instance_leases"


async def test_processes_starting_at_once_on_a_new_database_create_it_once(database_url):
    """Shards and replicas start together: each upgrades the schema; one creates it, the others find it current."""
    from sqlalchemy import text

    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == ["0013_instance_leases"]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sqlite_files_are_in_wal_mode(sqlite_database, tmp_path):
    with sqlite3.connect(tmp_path / "prov.sqlite3") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0013_instance_leases"


class _LosingCursor:
    """A real sqlite3 cursor whose first switch to WAL loses the race, as a second process opening a new file can
    (SQLite then says "database is locked" without waiting)."""

    def __init__(self, cursor: sqlite3.Cursor, error: str = "database is locked", losses: int = 1) -> None:
        self.cursor, self.error, self.losses = cursor, error, losses

    def execute(self, sql: str) -> sqlite3.Cursor:
        if sql == "PRAGMA journal_mode=WAL" and self.losses:
            self.losses -= 1
            raise sqlite3.OperationalError(self.error)
        return self.cursor.execute(sql)

    def fetchone(self):  # noqa: ANN201 - a row
        return self.cursor.fetchone()


def test_a_new_file_lost_in_the_wal_race_is_switched_on_the_next_look(tmp_path):
    with sqlite3.connect(tmp_path / "new.sqlite3") as raw:
        losing = _LosingCursor(raw.cursor(), losses=2)
        use_wal(losing)
        assert losing.losses == 0 and raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with sqlite3.connect(tmp_path / "other.sqlite3") as raw, pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        use_wal(_LosingCursor(raw.cursor(), error="disk I/O error"))  # only the race is retried


async def test_recorder_shares_commits_between_concurrent_requests(database):
    recorder = Recorder(database)
    recorder.start()

    async def one(n: int) -> None:
        recorder.request_arrived(**_request(f"r{n}"))
        await asyncio.sleep(0)
        recorder.generation(id=f"g{n}", request_id=f"r{n}", engine="transformers", model_id="m",
                            template_version="t", params={"temperature": 0.8})
        recorder.verdicts([{"request_id": f"r{n}", "generation_id": f"g{n}", "stage": "output", "rail": "toxicity",
                            "backend": "embedded", "version": "1", "decision": "pass", "scores": {"toxicity": 0.01}}])
        recorder.request_status(f"r{n}", RequestStatus.DELIVERED)

    await asyncio.gather(*(one(n) for n in range(50)))
    await recorder.flush()
    assert recorder.rows_written == 200
    assert recorder.commits < 50, "concurrent requests should share commits"
    async with database.connect() as connection:
        statuses = (await connection.execute(select(Request.status))).scalars().all()
        verdict_count = len((await connection.execute(select(Verdict.id))).all())
    assert statuses == [RequestStatus.DELIVERED] * 50
    assert verdict_count == 50
    await recorder.close()


async def test_flush_makes_rows_visible_and_close_drains(database):
    recorder = Recorder(database)
    recorder.start()
    recorder.request_arrived(**_request("a"))
    await recorder.flush()
    async with database.connect() as connection:
        assert (await connection.execute(select(Request.status))).scalar_one() == RequestStatus.PENDING
    recorder.generation(id="g", request_id="a", engine="e", model_id="m", template_version="t")
    await recorder.close()
    async with database.connect() as connection:
        assert (await connection.execute(select(Generation.id))).scalar_one() == "g"


async def test_a_bad_row_does_not_lose_its_neighbours(database):
    recorder = Recorder(database)
    recorder.start()
    recorder.request_arrived(**_request("good"))
    recorder.generation(id="orphan", request_id="no-such-request", engine="e", model_id="m", template_version="t")
    recorder.request_arrived(**_request("also-good"))
    await recorder.flush()
    await recorder.close()
    async with database.connect() as connection:
        ids = set((await connection.execute(select(Request.id))).scalars())
    assert ids == {"good", "also-good"}


async def test_open_requests_are_marked_interrupted_on_start(database):
    recorder = Recorder(database)
    recorder.request_arrived(**_request("open"))
    recorder.request_arrived(**_request("generating"))
    recorder.request_status("generating", RequestStatus.GENERATING)
    recorder.request_arrived(**_request("done"))
    recorder.request_status("done", RequestStatus.DELIVERED)
    await recorder.close()
    assert await mark_interrupted(database) == 2
    async with database.connect() as connection:
        rows = dict((await connection.execute(select(Request.id, Request.status))).all())
    assert rows == {"open": "interrupted", "generating": "interrupted", "done": "delivered"}


async def test_models_and_migrations_agree(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    def diff(sync_connection):
        return compare_metadata(MigrationContext.configure(sync_connection), Base.metadata)

    async with database.connect() as connection:
        assert await connection.run_sync(diff) == [], "a model change needs an Alembic revision"


def test_db_upgrade_command(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "STORYLOOM_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0013_instance_leases"


async def test_a_baseline_database_upgrades_to_head_keeping_its_rows(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(engine, "0001_baseline")
    async with engine.begin() as connection:  # as 0001's code wrote it (today's Recorder knows later columns)
        await connection.exec_driver_sql(
            "INSERT INTO requests (id, created_at, updated_at, interface, user_id, user_name, command, options, status)"
            " VALUES ('kept', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'local', 7, 'ada', 'write', '{}', 'delivered')"
        )
    await upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        kept = (await connection.execute(select(Request.id))).scalars().all()
    await engine.dispose()
    assert {"guardrail_settings", "moderation_actions", "reviews"} <= set(tables) and kept == ["kept"]


async def test_ratings_set_before_0003_become_settings(tmp_path):
    from storage.policies import stored_settings

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rated.sqlite3'}")
    await upgrade(engine, "0002_ratings")
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO channel_ratings (guild_id, channel_id, rating, updated_by, updated_at) VALUES "
            "(5, NULL, 'G', 9, '2026-11-28 10:00:00'), (5, 50, 'M', 9, '2026-11-28 10:00:00')"
        )
    await upgrade(engine)
    assert await stored_settings(engine, 5, 50) == ({"rating": "G"}, {"rating": "M"})
    await engine.dispose()


async def test_settings_are_kept_per_scope_and_each_change_recorded(database):
    from storage.models import ModerationAction
    from storage.policies import change_settings, stored_settings

    assert await stored_settings(database, 5, 50) == ({}, {})

    async def change(channel_id, changes, policy_hash):
        return await change_settings(
            database, guild_id=5, channel_id=channel_id, changes=changes, user_id=9, policy_hash=policy_hash
        )

    assert await change(None, {"rating": "G"}, "h1") == {"rating": None}
    assert await change(50, {"rating": "M", "action.toxicity": "redact"}, "h2") == {"rating": None, "action.toxicity": None}
    assert await change(None, {"rating": "PG-13", "threshold.insult": "0.7"}, "h3") == {"rating": "G", "threshold.insult": None}
    assert await change(50, {"action.toxicity": None}, "h4") == {"action.toxicity": "redact"}
    assert await stored_settings(database, 5, 50) == ({"rating": "PG-13", "threshold.insult": "0.7"}, {"rating": "M"})
    assert await stored_settings(database, 5, 51) == ({"rating": "PG-13", "threshold.insult": "0.7"}, {})
    assert await stored_settings(database, 6, 50) == ({}, {}), "another guild sees nothing"
    async with database.connect() as connection:
        actions = (await connection.execute(select(ModerationAction).order_by(ModerationAction.id))).all()
    assert [(a.action, a.details["changes"], a.policy_hash) for a in actions] == [
        ("set_guardrails", {"rating": {"from": None, "to": "G"}}, "h1"),
        ("set_guardrails", {"rating": {"from": None, "to": "M"}, "action.toxicity": {"from": None, "to": "redact"}}, "h2"),
        ("set_guardrails", {"rating": {"from": "G", "to": "PG-13"}, "threshold.insult": {"from": None, "to": "0.7"}}, "h3"),
        ("set_guardrails", {"action.toxicity": {"from": "redact", "to": None}}, "h4"),
    ]


async def test_misinfo_entries_belong_to_their_guild_and_removal_keeps_the_row(database):
    from storage.models import MisinfoEntry
    from storage.policies import add_misinfo_entry, misinfo_entries, remove_misinfo_entry

    first = await add_misinfo_entry(database, guild_id=5, claim="Bats are blind.", correction="Bats can see.", user_id=9)
    other = await add_misinfo_entry(database, guild_id=6, claim="Goldfish forget.", correction="They remember.", user_id=8)
    assert [e.id for e in await misinfo_entries(database, 5)] == [first]
    assert not await remove_misinfo_entry(database, guild_id=5, entry_id=other, user_id=9), "not this guild's entry"
    assert await remove_misinfo_entry(database, guild_id=5, entry_id=first, user_id=9)
    assert not await remove_misinfo_entry(database, guild_id=5, entry_id=first, user_id=9), "already removed"
    assert [e.id for e in await misinfo_entries(database)] == [other]
    async with database.connect() as connection:
        removed = (await connection.execute(select(MisinfoEntry).where(MisinfoEntry.id == first))).one()
    assert removed.removed_by == 9 and removed.removed_at is not None and removed.claim == "Bats are blind."


async def test_a_review_is_decided_once(database):
    from storage.reviews import create_review, decide_review, get_review

    recorder = Recorder(database)
    recorder.request_arrived(**_request("held"))
    await recorder.close()
    review_id = await create_review(
        database, request_id="held", guild_id=5, channel_id=50, author_id=7, review_channel_id=51,
        rail="toxicity", category="insult", text="The held text.",
    )  # fmt: skip
    assert await decide_review(database, review_id, approve=False, user_id=9)
    assert not await decide_review(database, review_id, approve=True, user_id=8), "the second click loses"
    review = await get_review(database, review_id)
    assert review is not None and (review.status, review.decided_by) == ("rejected", 9)
