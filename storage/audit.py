"""Moderators' audit queries: who asked for an output, what the model got, which checks ran, why it was shown or
blocked. Pure SQLAlchemy 2.0 Core, no dialect-specific SQL (SQLite and PostgreSQL).

Isolation: every query takes a guild scope and only ever sees that guild's rows. A scope is a guild id, `None`
(requests from outside any guild), or `ALL_GUILDS`, which only operators' tools (`storyloom audit`) pass. The
Discord and terminal front ends always pass the asking member's guild id.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit_counters import counted_stats
from storage.chain import request_children
from storage.feedback import vote_counts, votes_by_kind_and_model
from storage.models import ChainEntry, Delivery, Request, Review, Verdict, Vote, aware

NON_PASS: Final = ("block", "redact", "flag", "error")
"""Verdict decisions a moderator looks at: anything but pass (and skip)."""
NO_GUILD_CHAIN: Final = 0  # storage.chain.NO_GUILD: the chain of requests from outside any guild


class _AllGuilds:
    _instance: _AllGuilds | None = None

    def __new__(cls) -> _AllGuilds:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL_GUILDS"


ALL_GUILDS: Final = _AllGuilds()
"""The operators' scope: every guild. Never passed on behalf of a Discord member."""

GuildScope = int | None | _AllGuilds


def _in_scope(column: Any, guild: GuildScope) -> ColumnElement[bool]:
    if isinstance(guild, _AllGuilds):
        return true()
    if guild is None:
        return column.is_(None)
    return column == guild


def _chain_of(guild: GuildScope) -> int | None:
    if isinstance(guild, _AllGuilds):
        return None
    return NO_GUILD_CHAIN if guild is None else guild


# -- parsing what moderators type ----------------------------------------------------------------------------------

_SINCE_SPAN = re.compile(r"^\s*(\d{1,5})\s*(m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|weeks?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """`7d`, `24h`, `90m`, `2w`, `2026-11-01` or `2026-11-01T18:30` (UTC unless an offset is given) → an aware
    datetime; None for nothing given. Raises ValueError with a message a moderator can act on."""
    if text is None or not text.strip():
        return None
    now = now or datetime.now(UTC)
    span = _SINCE_SPAN.match(text)
    if span is not None:
        amount, unit = int(span.group(1)), span.group(2)[0].lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"`{text.strip()[:40]}` is not a time I understand: use 7d, 24h, 90m, 2w or a date like 2026-11-01"
        ) from None
    # In UTC: SQLite stores datetimes without their offset, so a bound value must already be in UTC.
    moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if moment > now:
        raise ValueError(f"{moment.date().isoformat()} is in the future")
    return moment


_LINK = re.compile(r"channels/([0-9]{1,19}|@me)/([0-9]{1,19})/([0-9]{1,19})(?![0-9])")
_SNOWFLAKE = re.compile(r"^[0-9]{1,19}$")
_MAX_ID = 2**63 - 1
"""Ids past a BIGINT would overflow the query (an OverflowError), so they are no message of ours."""
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class Target:
    """What `/audit message` was given: a message (link or id) or a request id (from an output's disclosure)."""

    message_id: int | None = None
    request_id: str | None = None
    link_guild_id: int | None = None
    """The guild a message link names, when it was a link."""


def parse_target(text: str) -> Target:
    text = text.strip().strip("<>").strip("`")
    link = _LINK.search(text)
    if link is not None and all(part == "@me" or int(part) <= _MAX_ID for part in link.groups()):
        guild = None if link.group(1) == "@me" else int(link.group(1))
        return Target(message_id=int(link.group(3)), link_guild_id=guild)
    if _SNOWFLAKE.match(text) and int(text) <= _MAX_ID:
        return Target(message_id=int(text))
    if _REQUEST_ID.match(text.lower()):
        return Target(request_id=text.lower())
    raise ValueError("Give a message link, a message id, or the request id from an output's footer.")


# -- records ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChainPosition:
    chain: int
    seq: int
    chain_hash: str
    created_at: datetime | None
    times_chained: int


@dataclass(slots=True)
class Record:
    """One request and everything recorded beside it, as plain dicts (column name → value)."""

    request: dict[str, Any]
    generations: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    chain: ChainPosition | None = None
    votes: tuple[int, int] = (0, 0)
    """Members' (👍, 👎) on the piece (storage/feedback.py); not part of the chained record."""

    @property
    def id(self) -> str:
        return self.request["id"]

    @property
    def final_generation(self) -> dict[str, Any] | None:
        return self.generations[-1] if self.generations else None

    @property
    def flags(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v["decision"] in NON_PASS]


def _plain_row(row: Any) -> dict[str, Any]:
    return _aware_values(dict(row._mapping))


def _aware_values(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        if isinstance(value, datetime):
            values[key] = aware(value)
    return values


async def _load_records(connection: AsyncConnection, guild: GuildScope, request_ids: Sequence[str]) -> list[Record]:
    """Records for these request ids, in the given order; ids outside the scope are silently left out."""
    if not request_ids:
        return []
    ids = list(dict.fromkeys(request_ids))
    requests = await connection.execute(
        select(Request.__table__).where(Request.id.in_(ids), _in_scope(Request.guild_id, guild))
    )
    by_id = {row.id: Record(_plain_row(row)) for row in requests}
    if not by_id:
        return []
    found = list(by_id)
    for request_id, children in (await request_children(connection, found)).items():
        for attribute, rows in children.items():
            getattr(by_id[request_id], attribute).extend(_aware_values(row) for row in rows)
    chain_query = select(
        ChainEntry.record_id, ChainEntry.chain, ChainEntry.seq, ChainEntry.chain_hash, ChainEntry.created_at
    ).where(ChainEntry.kind == "request", ChainEntry.record_id.in_(found))
    chain = _chain_of(guild)
    if chain is not None:
        chain_query = chain_query.where(ChainEntry.chain == chain)
    times: Counter[str] = Counter()
    for row in await connection.execute(chain_query):
        times[row.record_id] += 1
        record = by_id[row.record_id]
        if record.chain is None or row.seq > record.chain.seq:
            record.chain = ChainPosition(row.chain, row.seq, row.chain_hash, aware(row.created_at), 0)
    for record_id, count in times.items():
        position = by_id[record_id].chain
        if position is not None:
            position.times_chained = count
    for record_id, votes in (await vote_counts(connection, found)).items():
        by_id[record_id].votes = votes
    return [by_id[request_id] for request_id in ids if request_id in by_id]


async def find_request(database: AsyncEngine, guild: GuildScope, target: Target) -> str | None:
    """The request a message (an output, a refusal notice, or its review post) or a request id stands for, in this
    scope; None when there is none here (whether or not it exists elsewhere)."""
    if target.link_guild_id is not None and not isinstance(guild, _AllGuilds) and target.link_guild_id != guild:
        return None
    async with database.connect() as connection:
        return await _find_request(connection, guild, target)


async def _find_request(connection: AsyncConnection, guild: GuildScope, target: Target) -> str | None:
    if target.request_id is not None:
        query = select(Request.id).where(Request.id == target.request_id, _in_scope(Request.guild_id, guild))
        return (await connection.execute(query)).scalar_one_or_none()
    delivered = (
        select(Delivery.request_id)
        .join(Request, Request.id == Delivery.request_id)
        .where(Delivery.message_id == target.message_id, _in_scope(Request.guild_id, guild))
        .limit(1)
    )
    found = (await connection.execute(delivered)).scalar_one_or_none()
    if found is not None:
        return found
    reviewed = (
        select(Review.request_id)
        .join(Request, Request.id == Review.request_id)
        .where(Review.review_message_id == target.message_id, _in_scope(Request.guild_id, guild))
        .limit(1)
    )
    return (await connection.execute(reviewed)).scalar_one_or_none()


async def owner_guild(database: AsyncEngine, target: Target) -> tuple[bool, int | None]:
    """(exists anywhere, its guild id): only to record a probe across guilds, never to answer one."""
    async with database.connect() as connection:
        request_id = await _find_request(connection, ALL_GUILDS, target)
        if request_id is None:
            return False, None
        guild = (await connection.execute(select(Request.guild_id).where(Request.id == request_id))).scalar_one()
    return True, guild


async def provenance(database: AsyncEngine, guild: GuildScope, request_id: str) -> Record | None:
    async with database.connect() as connection:
        records = await _load_records(connection, guild, [request_id])
    return records[0] if records else None


async def provenance_for(database: AsyncEngine, guild: GuildScope, target: Target) -> Record | None:
    """`find_request` then `provenance`: the card for whatever a moderator pointed at, if it is in this scope."""
    request_id = await find_request(database, guild, target)
    return None if request_id is None else await provenance(database, guild, request_id)


# -- lists --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestSummary:
    id: str
    created_at: datetime
    guild_id: int | None
    channel_id: int | None
    user_id: int
    user_name: str
    command: str
    kind: str | None
    status: str
    status_reason: str | None
    flags: list[dict[str, Any]] = field(default_factory=list)
    """Its non-pass verdicts: rail, stage, decision, category, score, threshold."""


@dataclass(slots=True)
class Page:
    total: int
    rows: list[RequestSummary]
    offset: int = 0


def _request_filter(
    guild: GuildScope,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: int | None = None,
    flagged: bool = False,
    category: str | None = None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [_in_scope(Request.guild_id, guild)]
    if user_id is not None:
        where.append(Request.user_id == user_id)
    if since is not None:
        where.append(Request.created_at >= since)
    if until is not None:
        where.append(Request.created_at < until)
    if flagged or category is not None:
        verdicts = select(Verdict.request_id).where(_in_scope(Verdict.guild_id, guild), Verdict.decision.in_(NON_PASS))
        if category is not None:
            verdicts = verdicts.where(Verdict.category == category)
        where.append(Request.id.in_(verdicts))
    return where


async def list_requests(
    database: AsyncEngine,
    guild: GuildScope,
    *,
    user_id: int | None = None,
    since: datetime | None = None,
    flagged: bool = False,
    category: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Requests newest first (a member's, or those with a non-pass verdict, optionally of one category)."""
    where = _request_filter(guild, since=since, user_id=user_id, flagged=flagged, category=category)
    columns = (
        Request.id, Request.created_at, Request.guild_id, Request.channel_id, Request.user_id, Request.user_name,
        Request.command, Request.kind, Request.status, Request.status_reason,
    )  # fmt: skip
    query = select(*columns).where(*where).order_by(Request.created_at.desc(), Request.id.desc()).limit(limit).offset(offset)
    async with database.connect() as connection:
        if (flagged or category is not None) and user_id is None:
            total = await _count_flagged(connection, guild, since=since, category=category)
        else:
            total = (await connection.execute(select(func.count()).select_from(Request).where(*where))).scalar_one()
        rows = [RequestSummary(**_plain_row(row)) for row in await connection.execute(query)]
        if rows:
            by_id = {row.id: row for row in rows}
            flags = select(
                Verdict.request_id, Verdict.stage, Verdict.rail, Verdict.decision, Verdict.category,
                Verdict.scores, Verdict.thresholds, Verdict.chunk_index,
            ).where(Verdict.request_id.in_(list(by_id)), Verdict.decision.in_(NON_PASS)).order_by(Verdict.id)  # fmt: skip
            for verdict in await connection.execute(flags):
                by_id[verdict.request_id].flags.append(_verdict_brief(verdict._mapping))
    return Page(total=total, rows=rows, offset=offset)


def _verdict_brief(verdict: Any) -> dict[str, Any]:
    category = verdict["category"]
    scores, thresholds = verdict["scores"] or {}, verdict["thresholds"] or {}
    return {
        "stage": verdict["stage"],
        "rail": verdict["rail"],
        "decision": verdict["decision"],
        "category": category,
        "score": scores.get(category) if category else None,
        "threshold": thresholds.get(category) if category else None,
        "chunk_index": verdict["chunk_index"],
    }


# -- stats --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Stats:
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
    every_guild = isinstance(guild, _AllGuilds)
    result = Stats(since=since)
    async with database.connect() as connection:
        counted = await counted_stats(
            connection,
            None if every_guild else guild,  # type: ignore[arg-type]
            every_guild=every_guild,
            since=since,
            request_scope=_in_scope(Request.guild_id, guild),
            verdict_scope=_in_scope(Verdict.guild_id, guild),
        )
    result.requests, result.members = sum(counted.by_status.values()), counted.members
    result.by_status = dict(sorted(counted.by_status.items(), key=lambda item: (-item[1], item[0])))
    result.by_rail = counted.by_rail
    result.top_categories = counted.categories[:top]
    result.flagged_requests = counted.flagged_requests
    async with database.connect() as connection:
        result.votes = await votes_by_kind_and_model(connection, _in_scope(Vote.guild_id, guild), since)
    in_verdicts = [_in_scope(Verdict.guild_id, guild)] + ([Verdict.created_at >= since] if since is not None else [])
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


async def _count_flagged(
    connection: AsyncConnection, guild: GuildScope, *, since: datetime | None = None, category: str | None = None
) -> int:
    """Requests with a non-pass verdict, counted from the guild's verdict index alone (a verdict is written within
    seconds of its request, so its time stands for the request's)."""
    where = [_in_scope(Verdict.guild_id, guild), Verdict.decision.in_(NON_PASS)]
    if since is not None:
        where.append(Verdict.created_at >= since)
    if category is not None:
        where.append(Verdict.category == category)
    query = select(func.count(func.distinct(Verdict.request_id))).where(*where)
    return int((await connection.execute(query)).scalar_one())


# -- export -------------------------------------------------------------------------------------------------------


async def count_requests(database: AsyncEngine, guild: GuildScope, *, since: datetime | None = None) -> int:
    async with database.connect() as connection:
        query = select(func.count()).select_from(Request).where(*_request_filter(guild, since=since))
        return int((await connection.execute(query)).scalar_one())


async def iter_records(
    database: AsyncEngine,
    guild: GuildScope,
    *,
    since: datetime | None = None,
    user_id: int | None = None,
    batch: int = 500,
) -> AsyncIterator[Record]:
    """Every record in scope, oldest first, loaded `batch` requests at a time (keyset pagination, so a long export
    neither holds one transaction open nor slows down as it goes)."""
    after: tuple[datetime, str] | None = None
    while True:
        query: Select[Any] = select(Request.created_at, Request.id).where(
            *_request_filter(guild, since=since, user_id=user_id)
        )
        if after is not None:
            moment, last_id = after
            query = query.where(
                or_(Request.created_at > moment, and_(Request.created_at == moment, Request.id > last_id))
            )
        query = query.order_by(Request.created_at, Request.id).limit(batch)
        async with database.connect() as connection:
            keys = (await connection.execute(query)).all()
            if not keys:
                return
            records = await _load_records(connection, guild, [key.id for key in keys])
        for record in records:
            yield record
        after = (keys[-1].created_at, keys[-1].id)
        if len(keys) < batch:
            return


__all__ = [
    "ALL_GUILDS",
    "NON_PASS",
    "ChainPosition",
    "GuildScope",
    "Page",
    "Record",
    "RequestSummary",
    "Stats",
    "Target",
    "aware",
    "count_requests",
    "find_request",
    "iter_records",
    "list_requests",
    "owner_guild",
    "parse_since",
    "parse_target",
    "provenance",
    "provenance_for",
    "stats",
]
