"""The provenance database on both backends: `database_url` (an empty database) and `database` (an engine on it,
schema at head), each parametrized over `sqlite` (a file in tmp_path) and `postgresql` (a fresh database per
test on the server STORYLOOM_TEST_POSTGRES_URL names, dropped afterwards; scripts/test.sh starts one).

Without that URL the `postgresql` cases skip, unless STORYLOOM_TEST_POSTGRES=required (CI): then they fail.
`sqlite_database` is the SQLite case alone, for tests of SQLite files as such.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import create_engine, upgrade

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_VARIABLE = "STORYLOOM_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    """The PostgreSQL server's URL, or skip (fail where STORYLOOM_TEST_POSTGRES=required)."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    if not url:
        reason = f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server (bash scripts/test.sh starts one)"
        if os.environ.get("STORYLOOM_TEST_POSTGRES") == "required":
            pytest.fail(f"STORYLOOM_TEST_POSTGRES=required but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


class PostgresDatabases:
    """Creates and drops whole databases on the test server, over an autocommit connection."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self._admin = create_async_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    async def create(self) -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        async with self._admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        async with self._admin.connect() as connection:
            # FORCE: a test that failed half-way may have left a connection open.
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def close(self) -> None:
        await self._admin.dispose()


@pytest.fixture
async def postgres_databases() -> AsyncIterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_server_url())
    yield databases
    await databases.close()


@pytest.fixture
async def postgres_database_url(postgres_databases: PostgresDatabases) -> AsyncIterator[str]:
    """An empty database of its own on the PostgreSQL test server."""
    url = await postgres_databases.create()
    yield url
    await postgres_databases.drop(url)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL database. (Not async: an async fixture
    cannot request another one by name while the loop runs it.)"""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'prov.sqlite3'}"
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of each backend, its schema upgraded to head."""
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_database(tmp_path) -> AsyncIterator[AsyncEngine]:
    """The SQLite case alone (tmp_path/prov.sqlite3), for tests of SQLite files as such."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'prov.sqlite3'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()
