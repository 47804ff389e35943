"""Erasure that keeps the hash chain verifiable: a member's own request (`/privacy forget-me`, `storyloom audit
erase`), or everything past the retention period (`STORYLOOM_RETENTION_DAYS`).

Every content field (storage.chain.CONTENT_COLUMNS: prompts, the member's display name, rendered prompts, raw and
shown outputs, flagged sentences and their explanations, held texts) is replaced by `erased_marker(text)`, which
keeps the SHA-256 the chain committed to; the digest of every record, and so every chain, is unchanged. What is not
content stays: ids (the member's Discord id included), times, statuses, scores, thresholds, policy hashes.

Copies count too: an AI story turn's rendered prompt (another member's request) quotes the players' turns, the
title, premise, lines and veils; a `/continue` of someone's piece quotes it. So erasing a member also erases the
rendered prompts of other requests that derive from theirs (children by `parent_request_id`, and the AI turns and
recaps of every story they played in, from the time they joined), the title, premise, lines, veils and summary of
the stories they hosted, their name in every story's players, and the summary of the stories they played in. A
story still running keeps its own rows until it ends (its lines and veils still guard it). On SQLite the write-ahead
log is then checkpointed and truncated (`secure_delete` is on), so the erased bytes are gone from the database file
and its `-wal` file even while other processes keep it open; on PostgreSQL the touched tables are vacuumed.

Each guild's chain is erased in one transaction that also records a moderation action (`erase_user` or
`retention_prune`) and appends an `erasure` entry whose facts say who asked, whose content, how many requests and
rows, and when; no content. Erasing again finds nothing left and writes nothing. Requests still open, or held for a
moderator's review, are left until they end (`ErasureResult.in_progress`): their text is still being written or
still needed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain import CONTENT_COLUMNS, ERASED, chain_fact, erased_marker, erased_options
from storage.models import (
    NO_GUILD,
    Generation,
    Request,
    RequestStatus,
    Review,
    StoryPlayer,
    StorySession,
    StoryStatus,
    StoryTurn,
    Verdict,
    Vote,
    guild_key,
    utcnow,
)
from storage.policies import insert_action

log = logging.getLogger(__name__)

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
    stories: int = 0
    """Story games whose rows (title, premise, lines, veils, summary, player names) were erased by this call."""
    stories_in_progress: int = 0
    """Matching story games left alone because they are still running."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def erased(self) -> bool:
        return self.requests > 0 or self.stories > 0 or bool(self.rows.get("votes"))

    def _add(self, chain: int, erasure_id: str, requests: int, rows: dict[str, int], stories: int = 0) -> None:
        self.requests += requests
        self.stories += stories
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
    compact: bool = False,
) -> ErasureResult:
    """Erase the content of `user_id`'s requests in one guild (0: outside any guild), or in every guild.

    `requested_by` is the member who asked (themselves, for forget-me); None for the operator's command line.
    `compact`: on PostgreSQL, rewrite the touched tables so the old row versions leave the files now (see `scrub`)."""
    where: list[Any] = [Request.user_id == user_id]
    if guild_id is not None:
        where.append(Request.guild_id.is_(None) if guild_id == NO_GUILD else Request.guild_id == guild_id)
    facts = {
        "scope": "user",
        "user_id": user_id,
        "requested_by": requested_by if requested_by is not None else "operator",
    }
    result = await _erase(
        engine, where, facts, action="erase_user", user_id=requested_by or SYSTEM_USER, channel_id=channel_id,
        stories=_UserStories(user_id, guild_id), compact=compact,
    )  # fmt: skip
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
    return await _erase(
        engine, where, facts, action="retention_prune", user_id=SYSTEM_USER, channel_id=None,
        stories=_StoriesEndedBefore(cutoff),
    )  # fmt: skip


async def _erase(
    engine: AsyncEngine,
    where: list[Any],
    facts: dict[str, Any],
    *,
    action: str,
    user_id: int,
    channel_id: int | None,
    stories: _StoryScope,
    compact: bool = False,
) -> ErasureResult:
    result = ErasureResult()
    async with engine.connect() as connection:
        rows = (await connection.execute(select(Request.id, Request.guild_id, Request.status).where(*where))).all()
        sessions = (await connection.execute(stories.sessions())).all()
    by_guild: dict[int | None, list[str]] = {}
    for row in rows:
        if row.status in ERASABLE_STATUSES:
            by_guild.setdefault(row.guild_id, []).append(row.id)
        else:
            result.in_progress += 1
    sessions_by_guild: dict[int | None, list[Any]] = {}
    for session in sessions:
        if session.status == StoryStatus.ENDED:
            sessions_by_guild.setdefault(session.guild_id, []).append(session)
            by_guild.setdefault(session.guild_id, [])
        else:
            result.stories_in_progress += 1
    for guild_id, request_ids in sorted(by_guild.items(), key=lambda item: guild_key(item[0])):
        async with engine.begin() as connection:  # one guild's chain: erasure, action and entry together
            erased, changed = await _erase_requests(connection, request_ids)
            story_ids, story_rows = await stories.erase(connection, sessions_by_guild.get(guild_id, []))
            copies = await _erase_copies(connection, request_ids, stories.since(sessions_by_guild.get(guild_id, [])))
            for table, count in (*story_rows.items(), *copies.items()):
                changed[table] = changed.get(table, 0) + count
            if not erased and not changed:
                continue  # already erased: nothing more to change or to record
            erasure_id = "erasure-" + uuid.uuid4().hex
            chain = guild_key(guild_id)
            told = {
                **facts,
                "erasure": erasure_id,
                "guild_id": chain,
                "requests": len(erased),
                "rows": changed,
                "at": utcnow().isoformat(),
            }
            if story_ids:
                told["stories"] = len(story_ids)
            action_id = await insert_action(
                connection, guild_id=guild_id, channel_id=channel_id, user_id=user_id, action=action, details=told
            )
            await chain_fact(connection, guild_id, "erasure", erasure_id, {**told, "moderation_action": action_id})
        result._add(chain, erasure_id, len(erased), changed, len(story_ids))
    if result.erased:
        await scrub(engine, sorted(result.rows), compact=compact)
    return result


async def scrub(engine: AsyncEngine, tables: list[str], *, compact: bool = False, attempts: int = 20) -> bool:
    """Make overwritten content unrecoverable from the database's files, not only from its rows; True once done.

    SQLite: `secure_delete` (storage/db.py) zeroes freed cells and pages, but the old page images still sit in the
    write-ahead log until a checkpoint copies the new pages over the old and the log is truncated. A checkpoint
    waits for readers in the middle of a read: it is retried for a while.
    PostgreSQL: an update leaves the old row version in the table's file. A VACUUM frees it for reuse but leaves its
    bytes there until the page is rewritten; `compact` (VACUUM FULL: the tables rewritten into new files, every
    write to them waiting meanwhile) removes them at once. The write-ahead log segments and any backups keep
    them until they age out (docs/erasure-on-disk.md)."""
    if engine.dialect.name == "sqlite":
        for attempt in range(attempts):
            async with engine.connect() as connection:
                # A pending TRUNCATE checkpoint holds back every writer (the recorder): wait briefly, retry later.
                await connection.exec_driver_sql("PRAGMA busy_timeout=100")
                try:
                    busy, _, _ = (await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
                except OperationalError:  # "database is locked": as busy
                    busy = 1
                finally:
                    await connection.exec_driver_sql("PRAGMA busy_timeout=30000")  # as storage/db.py sets it
            if not busy:
                return True
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        log.warning("erasure: the write-ahead log is busy (a long read); the erased text leaves it at its next checkpoint")
        return False
    if engine.dialect.name == "postgresql" and tables:
        known = {table.name for table in (*(table for table, _ in _TABLES), StorySession.__table__, StoryPlayer.__table__)}
        names = ", ".join(table for table in tables if table in known)  # only our own table names reach the SQL
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(f"VACUUM {'(FULL) ' if compact else ''}{names}")
        return compact
    return False


async def _erase_copies(
    connection: AsyncConnection, request_ids: list[str], story_since: dict[int, datetime | None]
) -> dict[str, int]:
    """Erase the rendered prompts of other requests that quote these requests' content or the stories': replies
    to them (`/continue`, the next story turn's AI request), and the AI turns and recaps of each story in
    `story_since` (session id → from when on; None: all of them)."""
    generations, requests = Generation.__table__, Request.__table__
    conditions = []
    for chunk in _chunks(request_ids, _CHUNK):
        conditions.append(requests.c.parent_request_id.in_(chunk))
    for session_id, since in story_since.items():
        in_story = requests.c.options["story_session"].as_integer() == session_id
        conditions.append(and_(in_story, requests.c.created_at >= since) if since is not None else in_story)
    if not conditions:
        return {}
    query = (
        select(generations.c.id, generations.c.rendered_prompt)
        .join(requests, requests.c.id == generations.c.request_id)
        .where(or_(*conditions), generations.c.rendered_prompt.is_not(None))
        .where(generations.c.rendered_prompt.not_like(ERASED + "%"))
    )
    updates = [
        {"row_id": row.id, "new_rendered_prompt": erased_marker(row.rendered_prompt)}
        for row in await connection.execute(query)
    ]
    if updates:
        statement = (
            update(generations)
            .where(generations.c.id == bindparam("row_id"))
            .values(rendered_prompt=bindparam("new_rendered_prompt"))
        )
        await connection.execute(statement, updates)
    return {"generations": len(updates)} if updates else {}


def _erased_list(values: list[str] | None) -> list[str] | None:
    return None if values is None else [erased_marker(value) for value in values]


class _StoryScope:
    """Which story games an erasure reaches, and what of them."""

    def sessions(self) -> Any:
        raise NotImplementedError

    def reach(self, session: Any) -> tuple[bool, Any]:
        """(whether all of the session's own text goes or only its summary, which of its players lose their name)."""
        raise NotImplementedError

    async def erase(self, connection: AsyncConnection, sessions: list[Any]) -> tuple[set[int], dict[str, int]]:
        touched, rows = set(), {"story_sessions": 0, "story_players": 0}
        for session in sessions:
            whole, players = self.reach(session)
            changed = await _erase_session_rows(connection, session, whole=whole)
            names = await _erase_player_names(connection, players)
            rows["story_sessions"] += changed
            rows["story_players"] += names
            if changed or names:
                touched.add(session.id)
        return touched, {table: count for table, count in rows.items() if count}

    def since(self, sessions: list[Any]) -> dict[int, datetime | None]:
        # From the session's start: the premise and title quoted from the first AI turn on; a player's turns only
        # after they joined, but a player who left and joined again has one row: the start is the safe bound.
        return {session.id: None for session in sessions}


_SESSION_COLUMNS = (
    StorySession.id, StorySession.guild_id, StorySession.status, StorySession.host_id, StorySession.created_at,
)  # fmt: skip


async def _erase_session_rows(connection: AsyncConnection, session: Any, *, whole: bool) -> int:
    """The session's own text: all of it (`whole`: its host is erased, or it aged out), else its summary (a recap
    of everyone's turns). Returns 1 when something changed."""
    table = StorySession.__table__
    row = (await connection.execute(select(table).where(table.c.id == session.id))).one()
    new: dict[str, Any] = {"summary": erased_marker(row.summary)}
    if whole:
        new.update(
            title=erased_marker(row.title), premise=erased_marker(row.premise), host_name=erased_marker(row.host_name),
            lines=_erased_list(row.lines), veils=_erased_list(row.veils),
        )  # fmt: skip
    if all(new[column] == getattr(row, column) for column in new):
        return 0
    await connection.execute(update(table).where(table.c.id == session.id).values(**new))
    return 1


async def _erase_player_names(connection: AsyncConnection, where: Any) -> int:
    table = StoryPlayer.__table__
    rows = (await connection.execute(select(table.c.id, table.c.name).where(where))).all()
    changed = [{"row_id": row.id, "new_name": erased_marker(row.name)} for row in rows if not row.name.startswith(ERASED)]
    if changed:
        statement = update(table).where(table.c.id == bindparam("row_id")).values(name=bindparam("new_name"))
        await connection.execute(statement, changed)
    return len(changed)


@dataclass(slots=True)
class _UserStories(_StoryScope):
    """A member's erasure: the stories they hosted (all of their text) or played in (their name, the summary)."""

    user_id: int
    guild_id: int | None

    def sessions(self) -> Any:
        played = select(StoryPlayer.session_id).where(StoryPlayer.user_id == self.user_id)
        query = select(*_SESSION_COLUMNS).where(or_(StorySession.host_id == self.user_id, StorySession.id.in_(played)))
        if self.guild_id is not None:
            query = query.where(StorySession.guild_id == self.guild_id)
        return query

    def reach(self, session: Any) -> tuple[bool, Any]:
        return session.host_id == self.user_id, and_(
            StoryPlayer.session_id == session.id, StoryPlayer.user_id == self.user_id
        )


@dataclass(slots=True)
class _StoriesEndedBefore(_StoryScope):
    """Retention: stories that ended before the cutoff lose all of their text and their players' names."""

    cutoff: datetime

    def sessions(self) -> Any:
        return select(*_SESSION_COLUMNS).where(
            StorySession.status == StoryStatus.ENDED,
            StorySession.ended_at < self.cutoff,
            StorySession.title.not_like(ERASED + "%"),
        )

    def reach(self, session: Any) -> tuple[bool, Any]:
        return True, StoryPlayer.session_id == session.id


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
    text = _count(result.requests, "request") + (f" ({', '.join(parts)})" if parts else "")
    return text + (f" and {_count(result.stories, 'story game')}" if result.stories else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
