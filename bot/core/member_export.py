"""A member's own data in one server as a JSON file (`/privacy export`, and the terminal mode's equivalent)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from storage.feedback import member_data

if TYPE_CHECKING:
    from bot.core.app import Core


async def export_member(core: Core, guild_id: int | None, user_id: int) -> tuple[dict[str, Any], bytes]:
    await core.recorder.flush()  # what just ended is in the file
    data = await member_data(core.database, guild_id=guild_id, user_id=user_id)
    return data, json.dumps(data, ensure_ascii=False, indent=1).encode()


def export_facts(data: dict[str, Any]) -> dict[str, int]:
    """What an export held, counted (recorded with it; no content)."""
    return {key: len(data[key]) for key in ("requests", "votes", "story_games", "story_turns")}


def describe_export(data: dict[str, Any]) -> str:
    facts = export_facts(data)
    return (
        f"{facts['requests']} request(s), {facts['votes']} vote(s), {facts['story_games']} story game(s), "
        f"{facts['story_turns']} story turn(s)"
    )
