"""Fixtures for end-to-end bot tests against the loopback fake Discord (usage: `tests/fakediscord/__init__.py`).

`fake_discord_server` starts the server once per session; `fake_discord` resets its world and records for each
test and points discord.py at it for the test's duration, restoring discord.py's URLs afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakediscord import FakeDiscord, pointed_at


@pytest.fixture(scope="session")
async def fake_discord_server() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fake_discord(fake_discord_server: FakeDiscord) -> AsyncIterator[FakeDiscord]:
    fake_discord_server.reset()
    with pointed_at(fake_discord_server):
        yield fake_discord_server
