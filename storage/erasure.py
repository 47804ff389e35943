"""Erasure that keeps the hash chain verifiable: a member's own request (`/privacy forget-me`, `storyloom audit
erase`), or everything past the retention period (`STORYLOOM_RETENTION_DAYS`).

Every content field (storage.chain.CONTENT_COLUMNS: prompts, the member's display name, rendered prompts, raw and
shown outputs, flagged sentences and their explanations, held texts) is replaced by `erased_marker(text)`, which
keeps the SHA-256 the chain committed to; the digest of every record, and so every chain, is unchanged. What is not
content stays: ids (the member's Discord id included), times, statuses, scores, thresholds, policy hashes.

Each guild's chain is erased in one transaction that also records a moderation action (`erase_user` or
`retention_prune`) and appends an `erasure` entry whose facts say who asked, whose content, how many requests and
rows, and when; no content. Erasing again finds nothing left and writes nothing. Requests still open, or held for a
moderator's review, are left until they end (`ErasureResult.in_progress`): their text is still being written or
still needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain import CONTENT_COLUMNS, ERASED, NO_GUILD, chain_fact, erased_marker, erased_options
from storage.models import Generation, Request, RequestStatus, Review, StoryTurn, Verdict, Vote, utcnow
from storage.policies import insert_action

ERASABLE_STATUSES = tuple(s.value for s in RequestStatus if not s.is_open and s is not RequestStatus.HELD)
"""Ended requests; a held one waits for its moderator, who needs the text."""
SYSTEM_USER = 0
"""`moderation_actions.user_id` when no member asked: the operator's command line, the retention task."""
_CHUNK = 500

# Each table with content, and the column that ties its rows to a request.
_TABLES: tuple[tuple[Table, str], ...] = (
    (Request.__table__, "id"),
    (Generation.__table__, "request_id"),
    (Verdict.__table__, "request_id"),
    (Review.__table__, "request_id"),
    (StoryTurn.__table__, "request_id"),  # a story game's turn repeats its request's text and author
)


@dataclass(slots=True)
class ErasureResult:
    requests: int = 0
    """Requests whose content was erased by this call."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows changed, by table."""
    in_progress: int = 0
    """Matching requests left alone because they are still open or held for review."""
    erasures: dict[int, str] = field(default_factory=dict)
    """The chain (guild id, 0 outside any guild) → the id of its `erasure` entry."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def erased(self) -> bool:
        return self.requests > 0 or bool(self.rows.get("votes"))

    def _add(self, chain: int, erasure_id: str, requests: int, rows: dict[str, int]) -> None:
        self.requests += requests
        for table, count in rows.items():
            self.rows[table] = self.rows.get(table, 0) + count
        self.erasures[chain] = erasure_id


async def erase_user(
    engine: AsyncEngine,
    user_id: int,
    guild_id: int | None = None,
    *,
    requested_by: int | None = None,
    channel_id: int | None = None,
) -> ErasureResult:
    """Erase the content of `user_id`'s requests in one guild (0: outside any guild), or in every guild.

    `requested_by` is the member who asked (themselves, for forget-me); None for the operator's command line."""
    where: list[Any] = [Request.user_id == user_id]
    if guild_id is not None:
        where.append(Request.guild_id.is_(None) if guild_id == NO_GUILD else Request.guild_id == guild_id)
    facts = {
        "scope": "user",
        "user_id": user_id,
        "requested_by": requested_by if requested_by is not None else "operator",
    }
    result = await _erase(
        engine, where, facts, action="erase_user", user_id=requested_by or SYSTEM_USER, channel_id=channel_id
    )
    # The member's 👍 / 👎 (storage/feedback.py) carry no content but are theirs: they go entirely.
    votes = [Vote.user_id == user_id]
    if guild_id is not None:
        votes.append(Vote.guild_id.is_(None) if guild_id == NO_GUILD else Vote.guild_id == guild_id)
    async with engine.begin() as connection:
        removed = await connection.execute(delete(Vote).where(*votes))
    if removed.rowcount:
        result.rows["votes"] = result.rows.get("votes", 0) + int(removed.rowcount)
    return result


async def prune_older_than(engine: AsyncEngine, days: int) -> ErasureResult:
    """Retention: erase the content of every request created more than `days` days ago (every member)."""
    if days < 1:
        raise ValueError("retention needs at least one day")
    cutoff = utcnow() - timedelta(days=days)
    # An erased request has an erased user_name (never NULL): skipping those keeps the daily pass cheap.
    where = [Request.created_at < cutoff, Request.user_name.not_like(ERASED + "%")]
    facts = {"scope": "retention", "older_than_days": days, "cutoff": cutoff.isoformat(), "requested_by": "retention"}
    return await _erase(engine, where, facts, action="retention_prune", user_id=SYSTEM_USER, channel_id=None)


async def _erase(
    engine: AsyncEngine, where: list[Any], facts: dict[str, Any], *, action: str, user_id: int, channel_id: int | None
) -> ErasureResult:
    result = ErasureResult()
    async with engine.connect() as connection:
        rows = (await connection.execute(select(Request.id, Request.guild_id, Request.status).where(*where))).all()
    by_guild: dict[int | None, list[str]] = {}
    for row in rows:
        if row.status in ERASABLE_STATUSES:
            by_guild.setdefault(row.guild_id, []).append(row.id)
        else:
            result.in_progress += 1
    for guild_id, request_ids in sorted(by_guild.items(), key=lambda item: item[0] or NO_GUILD):
        async with engine.begin() as connection:  # one guild's chain: erasure, action and entry together
            erased, changed = await _erase_requests(connection, request_ids)
            if not erased:
                continue  # already erased: nothing more to change or to record
            erasure_id = "erasure-" + uuid.uuid4().hex
            chain = NO_GUILD if guild_id is None else guild_id
            told = {
                **facts,
                "erasure": erasure_id,
                "guild_id": chain,
                "requests": len(erased),
                "rows": changed,
                "at": utcnow().isoformat(),
            }
            action_id = await insert_action(
                connection, guild_id=guild_id, channel_id=channel_id, user_id=user_id, action=action, details=told
            )
            await chain_fact(connection, guild_id, "erasure", erasure_id, {**told, "moderation_action": action_id})
        result._add(chain, erasure_id, len(erased), changed)
    return result


async def _erase_requests(connection: AsyncConnection, request_ids: list[str]) -> tuple[set[str], dict[str, int]]:
    """Replace every content field of these requests' rows by its marker; (requests touched, rows per table)."""
    erased: set[str] = set()
    changed: dict[str, int] = {}
    for table, link in _TABLES:
        columns = sorted(CONTENT_COLUMNS[table.name]) + (["options"] if table.name == "requests" else [])
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({column: bindparam(f"new_{column}") for column in columns})
        )
        count = 0
        for chunk in _chunks(request_ids, _CHUNK):
            query = select(table.c.id, table.c[link].label("request_id"), *(table.c[c] for c in columns))
            updates = []
            for row in await connection.execute(query.where(table.c[link].in_(chunk))):
                values = row._mapping
                new = {c: erased_options(values[c]) if c == "options" else erased_marker(values[c]) for c in columns}
                if any(new[column] != values[column] for column in columns):
                    updates.append({"row_id": values["id"], **{f"new_{c}": v for c, v in new.items()}})
                    erased.add(values["request_id"])
            if updates:
                await connection.execute(statement, updates)
                count += len(updates)
        if count:
            changed[table.name] = count
    return erased, changed


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe(
    result: ErasureResult, rows: Iterable[str] = ("requests", "generations", "verdicts", "reviews", "votes")
) -> str:
    """`3 requests (3 prompts, 4 generations, 20 verdicts)`: the counts in words, for replies and the CLI."""
    names = {
        "requests": "prompt", "generations": "generation", "verdicts": "check verdict", "reviews": "held text",
        "votes": "vote",
    }  # fmt: skip
    parts = [_count(result.rows[table], names[table]) for table in rows if result.rows.get(table)]
    return _count(result.requests, "request") + (f" ({', '.join(parts)})" if parts else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
