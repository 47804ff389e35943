"""The audit queries a moderator's front end runs (Discord's `/audit`, the terminal's typed `/audit`), scoped to one
guild, each seeing every record written so far. The operators' command line
(bot/cli/audit.py) queries every guild straight from storage, as it runs without a core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from storage.audit import Target, iter_records, list_requests, owner_guild, parse_since, parse_target, provenance_for, stats
from storage.export import write_export

if TYPE_CHECKING:
    from datetime import datetime

    from bot.core.app import Core
    from storage.audit import Page, Record, Stats


@dataclass(frozen=True, slots=True)
class Card:
    """The provenance record asked for (None: not in this guild) and whether another guild holds it."""

    record: Record | None
    elsewhere: bool = False


def since_of(text: str | None) -> datetime | None:
    """A moderator's `since` (`7d`, `24h`, a date) as a moment; ValueError says what is wrong with it."""
    return parse_since(text)


async def card(core: Core, guild_id: int | None, given: str | int) -> Card:
    """`given`: what the moderator typed (a message link or id, a request id; ValueError when none), or the id of
    the message they picked."""
    target = Target(message_id=given) if isinstance(given, int) else parse_target(given)
    await core.recorder.flush()
    record = await provenance_for(core.database, guild_id, target)
    if record is not None:
        return Card(record)
    exists, owner = await owner_guild(core.database, target)
    return Card(None, elsewhere=exists and owner != guild_id)


async def requests(
    core: Core,
    guild_id: int | None,
    *,
    user_id: int | None = None,
    flagged: bool = False,
    category: str | None = None,
    since: datetime | None = None,
    limit: int,
    offset: int = 0,
) -> Page:
    await core.recorder.flush()
    return await list_requests(
        core.database, guild_id, user_id=user_id, flagged=flagged, category=category, since=since, limit=limit,
        offset=offset,
    )  # fmt: skip


async def guild_stats(core: Core, guild_id: int | None, *, since: datetime | None) -> Stats:
    await core.recorder.flush()
    return await stats(core.database, guild_id, since=since)


async def export(core: Core, guild_id: int | None, fmt: str, out: TextIO, *, since: datetime | None) -> int:
    """The guild's records written to `out` in `fmt`; how many."""
    await core.recorder.flush()
    return await write_export(iter_records(core.database, guild_id, since=since), fmt, out)

