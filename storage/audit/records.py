"""Provenance cards: one request and everything recorded beside it, found by what a moderator pointed at."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit.parsing import Target
from storage.audit.scope import ALL_GUILDS, AllGuilds, GuildScope, chain_of, in_scope
from storage.chain import request_children
from storage.feedback import vote_counts
from storage.models import NON_PASS, ChainEntry, Delivery, Request, Review, aware


@dataclass(slots=True)
class ChainPosition:
    """Where a request's latest digest stands in its chain, and how often it was chained."""

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


def plain_row(row: Any) -> dict[str, Any]:
    return aware_values(dict(row._mapping))


def aware_values(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        if isinstance(value, datetime):
            values[key] = aware(value)
    return values


async def load_records(connection: AsyncConnection, guild: GuildScope, request_ids: Sequence[str]) -> list[Record]:
    """Records for these request ids, in the given order; ids outside the scope are silently left out."""
    if not request_ids:
        return []
    ids = list(dict.fromkeys(request_ids))
    requests = await connection.execute(
        select(Request.__table__).where(Request.id.in_(ids), in_scope(Request.guild_id, guild))
    )
    by_id = {row.id: Record(plain_row(row)) for row in requests}
    if not by_id:
        return []
    found = list(by_id)
    for request_id, children in (await request_children(connection, found)).items():
        for attribute, rows in children.items():
            getattr(by_id[request_id], attribute).extend(aware_values(row) for row in rows)
    chain_query = select(
        ChainEntry.record_id, ChainEntry.chain, ChainEntry.seq, ChainEntry.chain_hash, ChainEntry.created_at
    ).where(ChainEntry.kind == "request", ChainEntry.record_id.in_(found))
    chain = chain_of(guild)
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
    if target.link_guild_id is not None and not isinstance(guild, AllGuilds) and target.link_guild_id != guild:
        return None
    async with database.connect() as connection:
        return await _find_request(connection, guild, target)


async def _find_request(connection: AsyncConnection, guild: GuildScope, target: Target) -> str | None:
    if target.request_id is not None:
        query = select(Request.id).where(Request.id == target.request_id, in_scope(Request.guild_id, guild))
        return (await connection.execute(query)).scalar_one_or_none()
    delivered = (
        select(Delivery.request_id)
        .join(Request, Request.id == Delivery.request_id)
        .where(Delivery.message_id == target.message_id, in_scope(Request.guild_id, guild))
        .limit(1)
    )
    found = (await connection.execute(delivered)).scalar_one_or_none()
    if found is not None:
        return found
    reviewed = (
        select(Review.request_id)
        .join(Request, Request.id == Review.request_id)
        .where(Review.review_message_id == target.message_id, in_scope(Request.guild_id, guild))
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
        records = await load_records(connection, guild, [request_id])
    return records[0] if records else None


async def provenance_for(database: AsyncEngine, guild: GuildScope, target: Target) -> Record | None:
    """`find_request` then `provenance`: the card for whatever a moderator pointed at, if it is in this scope."""
    request_id = await find_request(database, guild, target)
    return None if request_id is None else await provenance(database, guild, request_id)
