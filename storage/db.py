"""Database engine, schema upgrades and start-up housekeeping."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, event, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.models import InstanceLease, Request, RequestStatus, utcnow

if TYPE_CHECKING:
    from storage.leases import Lease

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite files get WAL, a busy timeout and their folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
        cursor = dbapi_connection.cursor()
        # WAL lets readers (audit queries) run while the recorder writes; NORMAL is durable under WAL
        # except for the last transactions on power loss, which is the usual trade for a bot.
        use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Erased content (storage/erasure.py) must not linger in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


WAL_ATTEMPTS = 40


def use_wal(cursor) -> None:  # noqa: ANN001 - a DBAPI cursor
    """Put a SQLite file in WAL mode (it stays so: later connections find it there and change nothing).

    Several processes opening a new file at once (shards starting together) race on that switch, and SQLite can
    answer the loser "database is locked" at once, busy timeout or not (1 start in 60 with four processes here;
    once in CI). So look again: if another process made it WAL, done; if not, try again a moment later. The wait
    blocks the connecting thread only in that race, at start, for milliseconds."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as error:  # the driver's OperationalError, whichever adapter raised it
            if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.025 * min(attempt + 1, 8))


class NoDatabase(LookupError):
    """No Storyloom database where the settings point: tools that only read (the audit commands) create nothing."""


async def require_database(url: str) -> None:
    """Raise `NoDatabase` unless `url` holds Storyloom's tables; a missing SQLite file is not created."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    parsed = make_url(url)
    where = parsed.render_as_string(hide_password=True)
    hint = "start Storyloom once or run `storyloom db upgrade` to create one; STORYLOOM_DATABASE_URL says where"
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser()
        if not path.is_file():
            raise NoDatabase(f"no Storyloom database at {path} ({hint})")
        where = str(path)
    engine = create_async_engine(url)  # no WAL set-up here: only a look at the table names
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(lambda sync: inspect(sync).has_table("requests"))
    except (DBAPIError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        raise NoDatabase(f"cannot open the database at {where}: {reason}") from None
    finally:
        await engine.dispose()
    if not found:
        raise NoDatabase(f"no Storyloom database at {where}: it has no Storyloom tables ({hint})")


def alembic_config(url: str):  # noqa: ANN201 - alembic.config.Config, imported lazily
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade_on(connection: Connection, url: str, revision: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


MIGRATION_LOCK = 0x53746F72  # "Stor": PostgreSQL's advisory lock key for migrations


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic, over the engine's own connection.

    Several processes starting at once on a new database (shards, replicas) would each create the tables: the first
    takes the database's lock for its whole upgrade (SQLite's write lock, PostgreSQL's advisory lock), the others
    wait for it and then find the schema current."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        await connection.run_sync(_upgrade_on, url, revision)


async def mark_interrupted(
    engine: AsyncEngine, instance: str | None = None, lease: Lease | None = None, *, at_start: bool = True
) -> int:
    """Close requests a process that is gone left open: a crash leaves a marked, chained request, never a gap.

    With `instance`, only requests of that name (sharding: each shard's process closes its own), and only those
    whose own process is gone: its lease dead or released (storage/leases.py), so a second process of the same name
    starting beside a live one leaves the live one's requests alone. `lease`: the caller's own. Without `instance`,
    every open request but the caller's."""
    from storage import audit_counters
    from storage.chain import chain_requests
    from storage.leases import orphaned_requests

    async with engine.begin() as connection:
        request_ids, dead = await orphaned_requests(connection, instance, lease, at_start=at_start)
        if request_ids:
            rows = (
                await connection.execute(
                    select(Request.guild_id, Request.created_at, Request.status).where(Request.id.in_(request_ids))
                )
            ).all()
            deltas = audit_counters.Deltas()
            for row in rows:
                deltas.moved(row.guild_id, row.created_at, row.status, RequestStatus.INTERRUPTED)
            await audit_counters.apply(connection, deltas)
            await connection.execute(
                update(Request)
                .where(Request.id.in_(request_ids))
                .values(status=RequestStatus.INTERRUPTED, status_reason="process stopped", updated_at=utcnow())
            )
            await chain_requests(connection, request_ids)
        if dead:
            await connection.execute(delete(InstanceLease).where(InstanceLease.id.in_(dead)))
    return len(request_ids)
