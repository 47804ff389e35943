"""`/audit stats`: a scope's requests, members, verdicts, votes and unread languages over a period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit.scope import AllGuilds, GuildScope, in_scope
from storage.audit_counters import counted_stats
from storage.feedback import votes_by_kind_and_model
from storage.models import Request, Verdict, Vote


@dataclass(slots=True)
class Stats:
    """A scope's figures over a period, as `/audit stats` shows them."""

    since: datetime | None
    requests: int = 0
    members: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_rail: dict[tuple[str, str], int] = field(default_factory=dict)
    """(rail, decision) → verdicts."""
    top_categories: list[tuple[str, int]] = field(default_factory=list)
    """Categories of non-pass verdicts, most frequent first."""
    flagged_requests: int = 0
    votes: list[tuple[str, str, int, int]] = field(default_factory=list)
    """Members' votes on pieces: (kind, model, 👍, 👎), most voted first."""
    unread_languages: dict[tuple[str, str], int] = field(default_factory=dict)
    """(languages found, what was done: refused | held | allowed | blocked (floor category)) → texts no rail of their
    stage could read."""


UNREAD_OUTCOMES = {"block": "refused", "flag": "held", "pass": "allowed"}


async def stats(database: AsyncEngine, guild: GuildScope, *, since: datetime | None = None, top: int = 8) -> Stats:
    """From the counters kept as rows arrive (storage/audit_counters.py): a few rows, however many requests."""
    every_guild = isinstance(guild, AllGuilds)
    result = Stats(since=since)
    async with database.connect() as connection:
        counted = await counted_stats(
            connection,
            None if every_guild else guild,  # type: ignore[arg-type]
            every_guild=every_guild,
            since=since,
            request_scope=in_scope(Request.guild_id, guild),
            verdict_scope=in_scope(Verdict.guild_id, guild),
        )
    result.requests, result.members = sum(counted.by_status.values()), counted.members
    result.by_status = dict(sorted(counted.by_status.items(), key=lambda item: (-item[1], item[0])))
    result.by_rail = counted.by_rail
    result.top_categories = counted.categories[:top]
    result.flagged_requests = counted.flagged_requests
    async with database.connect() as connection:
        result.votes = await votes_by_kind_and_model(connection, in_scope(Vote.guild_id, guild), since)
    in_verdicts = [in_scope(Verdict.guild_id, guild)] + ([Verdict.created_at >= since] if since is not None else [])
    async with database.connect() as connection:
        # The language rail's explanation starts with the languages found ("es: not read by ..."): grouped by it,
        # the rows are a handful per language whatever the volume.
        unread = (
            select(Verdict.explanation, Verdict.decision, Verdict.category, func.count())
            .where(*in_verdicts, Verdict.rail == "language", Verdict.category.is_not(None))
            .group_by(Verdict.explanation, Verdict.decision, Verdict.category)
        )
        for explanation, decision, category, n in await connection.execute(unread):
            # a category other than "language": the profanity floor blocked it (guardrails/text/profanity_floor.py)
            outcome = UNREAD_OUTCOMES.get(decision, decision) if category == "language" else f"blocked ({category})"
            key = ((explanation or "?").split(":")[0], outcome)
            result.unread_languages[key] = result.unread_languages.get(key, 0) + int(n)
    return result
