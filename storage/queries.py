"""Read-side queries the front ends need. Every query is scoped to one guild."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.chain import ERASED
from storage.models import Delivery, Generation, Request, RequestStatus

NOT_ERASED = or_(Generation.shown_output.is_(None), Generation.shown_output.not_like(ERASED + "%"))
"""Erased outputs (storage/erasure.py) are markers, not text to continue."""


@dataclass(frozen=True, slots=True)
class PastOutput:
    """A delivered output a member asks to build on: its request, its kind and the text that was shown."""

    request_id: str
    kind: str | None
    text: str


async def last_output(database: AsyncEngine, *, guild_id: int | None, user_id: int) -> PastOutput | None:
    """The member's most recent delivered output in this guild."""
    query = _delivered_outputs(Request.guild_id == guild_id, Request.user_id == user_id).order_by(
        Request.created_at.desc(), Generation.attempt.desc()
    )
    return await _first_output(database, query)


async def output_for_message(database: AsyncEngine, *, guild_id: int | None, message_id: int) -> PastOutput | None:
    """The delivered output posted as `message_id` in this guild; None for other guilds' messages."""
    query = (
        _delivered_outputs(Delivery.message_id == message_id, Request.guild_id == guild_id)
        .join(Delivery, Delivery.request_id == Request.id)
        .order_by(Generation.attempt.desc())
    )
    return await _first_output(database, query)


def _delivered_outputs(*where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(Request.id, Request.kind, Generation.shown_output)
        .join(Generation, Generation.request_id == Request.id)
        .where(*where, Request.status == RequestStatus.DELIVERED, NOT_ERASED)
    )


async def _first_output(database: AsyncEngine, query: Select[Any]) -> PastOutput | None:
    async with database.connect() as connection:
        row = (await connection.execute(query.limit(1))).first()
    return PastOutput(row.id, row.kind, row.shown_output) if row and row.shown_output else None
