"""Lists of requests, newest first for moderators' pages, oldest first in batches for exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit.records import Record, load_records, plain_row
from storage.audit.scope import GuildScope, in_scope
from storage.models import NON_PASS, Request, Verdict


@dataclass(slots=True)
class RequestSummary:
    """One line of a list of requests: who asked what, where, what became of it, and its flags."""

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
    """One page of a list: its rows, where it starts, and how many there are in all."""

    total: int
    rows: list[RequestSummary]
    offset: int = 0


def request_filter(
    guild: GuildScope,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: int | None = None,
    flagged: bool = False,
    category: str | None = None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [in_scope(Request.guild_id, guild)]
    if user_id is not None:
        where.append(Request.user_id == user_id)
    if since is not None:
        where.append(Request.created_at >= since)
    if until is not None:
        where.append(Request.created_at < until)
    if flagged or category is not None:
        verdicts = select(Verdict.request_id).where(in_scope(Verdict.guild_id, guild), Verdict.decision.in_(NON_PASS))
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
    where = request_filter(guild, since=since, user_id=user_id, flagged=flagged, category=category)
    columns = (
        Request.id, Request.created_at, Request.guild_id, Request.channel_id, Request.user_id, Request.user_name,
        Request.command, Request.kind, Request.status, Request.status_reason,
    )  # fmt: skip
    query = select(*columns).where(*where).order_by(Request.created_at.desc(), Request.id.desc()).limit(limit).offset(offset)
    async with database.connect() as connection:
        if (flagged or category is not None) and user_id is None:
            total = await count_flagged(connection, guild, since=since, category=category)
        else:
            total = (await connection.execute(select(func.count()).select_from(Request).where(*where))).scalar_one()
        rows = [RequestSummary(**plain_row(row)) for row in await connection.execute(query)]
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


async def count_flagged(
    connection: AsyncConnection, guild: GuildScope, *, since: datetime | None = None, category: str | None = None
) -> int:
    """Requests with a non-pass verdict, counted from the guild's verdict index alone (a verdict is written within
    seconds of its request, so its time stands for the request's)."""
    where = [in_scope(Verdict.guild_id, guild), Verdict.decision.in_(NON_PASS)]
    if since is not None:
        where.append(Verdict.created_at >= since)
    if category is not None:
        where.append(Verdict.category == category)
    query = select(func.count(func.distinct(Verdict.request_id))).where(*where)
    return int((await connection.execute(query)).scalar_one())


async def count_requests(database: AsyncEngine, guild: GuildScope, *, since: datetime | None = None) -> int:
    async with database.connect() as connection:
        query = select(func.count()).select_from(Request).where(*request_filter(guild, since=since))
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
            *request_filter(guild, since=since, user_id=user_id)
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
            records = await load_records(connection, guild, [key.id for key in keys])
        for record in records:
            yield record
        after = (keys[-1].created_at, keys[-1].id)
        if len(keys) < batch:
            return
