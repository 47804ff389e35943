"""The running Storyloom bot for Discord tests: the `storyloom` fixture and helpers to read its records."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core.app import Core
from bot.discord.bot import StoryloomBot
from bot.engines.openai_engine import OpenAIEngine
from tests.fakediscord import FAST_CLIENT_OPTIONS

REQUEST_ID = re.compile(r"request `([0-9a-f]{32})`")


@pytest.fixture
async def storyloom(tmp_path, fake_discord, default_rails, openai_server):
    """A running bot on the `openai` engine (a loopback server replaying `openai_server.scripted_reply`)."""
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2
    )
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
    async with fake_discord.run_bot(bot):
        yield core
    await core.close()
    await engine.close()


async def records(core: Core, model, *where):
    await core.recorder.flush()
    async with core.database.connect() as connection:
        return (await connection.execute(select(model).where(*where))).all()


