"""A member's own data in one server: everything stored about them as a JSON file (`/privacy export`, and the
terminal mode's equivalent; each export recorded), and erasing their prompts and outputs (`/privacy forget-me`;
each record keeps its digest, storage/erasure.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from storage.erasure import ErasureResult, describe, erase_user
from storage.feedback import member_data

from bot.core import moderation

if TYPE_CHECKING:
    from bot.core.app import Core


async def export_member(
    core: Core, *, guild_id: int | None, channel_id: int | None, user_id: int
) -> tuple[dict[str, Any], bytes]:
    """Everything stored about the member here, and that as a file; the export is recorded (counts, no content)."""
    await core.recorder.flush()  # what just ended is in the file
    data = await member_data(core.database, guild_id=guild_id, user_id=user_id)
    await moderation.record(
        core, guild_id=guild_id, channel_id=channel_id, user_id=user_id, action="privacy_export",
        details=export_facts(data),
    )  # fmt: skip
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


async def forget_member(
    core: Core, *, guild_id: int | None, channel_id: int | None, user_id: int
) -> tuple[ErasureResult, str]:
    """Erase the member's prompts and outputs here, at their own request; what was erased, and that in words."""
    await core.recorder.flush()  # requests that just ended are in the database before we look
    result = await erase_user(core.database, user_id, guild_id, requested_by=user_id, channel_id=channel_id)
    return result, describe(result)
