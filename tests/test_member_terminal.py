"""The terminal mode's `/mine` and `/privacy export`: typed, parsed, answered from the same records as Discord."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from bot.terminal.parser import CommandError, parse
from bot.config import Settings
from bot.core.app import Core
from bot.core.request import Author
from bot.engines.openai_engine import OpenAIEngine
from bot.terminal.repl import run_command
from storage.models import ModerationAction

BENIGN = "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass."


def test_mine_and_privacy_export_parse_and_explain_mistakes():
    assert (parse("/mine").name, parse("/mine").text) == ("mine", "1")
    assert parse("/mine 3").text == "3"
    assert (parse("/privacy export").name, parse("/privacy export").kind) == ("privacy", "export")
    for line in ("/mine zero", "/mine 0", "/privacy", "/privacy forget"):
        with pytest.raises(CommandError):
            parse(line)


async def test_mine_lists_and_privacy_export_writes_the_local_users_data(tmp_path, default_rails, openai_server):
    openai_server.scripted_reply = BENIGN
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url])
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    author = Author(interface="local", user_id=1, user_name="ada", guild_id=settings.guild_id_for_local, channel_id=None,
                    exempt_from_rate_limit=True)  # fmt: skip
    try:
        out = io.StringIO()
        assert "no pieces" in (await _run(core, author, "/mine", out))
        await _run(core, author, "/write poem about a lighthouse keeper", out)
        listed = await _run(core, author, "/mine", out)
        assert "Your pieces (1)" in listed and "poem" in listed and "a lighthouse keeper" in listed

        said = await _run(core, author, "/privacy export", out)
        path = tmp_path / "exports" / f"storyloom-{settings.guild_id_for_local or 0}-1.json"
        assert str(path) in said and "1 request(s)" in said
        data = json.loads(path.read_text())
        assert data["requests"][0]["request"]["prompt"] == "a lighthouse keeper"
        assert data["requests"][0]["generations"][0]["shown_output"] == BENIGN
        async with core.database.connect() as connection:
            actions = (await connection.execute(select(ModerationAction.action, ModerationAction.user_id))).all()
        assert ("privacy_export", 1) in actions
    finally:
        await core.close()
        await engine.close()


async def _run(core: Core, author: Author, line: str, out: io.StringIO) -> str:
    start = out.tell()
    await run_command(core, author, parse(line), out)
    return out.getvalue()[start:]
