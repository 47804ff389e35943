"""Lookups over what was delivered: which request posted a message (and is it still there), the messages each
request posted, and later changes to them (an edit or a deletion seen on the gateway is a new delivery row and
chains the request again)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from storage.models import Delivery, Request, aware

if TYPE_CHECKING:
    from bot.core.app import Core

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The request that posted a message, as recorded."""

    request_id: str
    latest: datetime
    """When the latest row for this message was recorded."""
    deleted: bool


@dataclass(frozen=True, slots=True)
class Message:
    """Where a request's message is."""

    channel_id: int
    message_id: int


async def delivered(core: Core, message_id: int, guild_id: int | None) -> Delivered | None:
    """The request that posted `message_id` in this guild, if one did."""
    guild = Request.guild_id.is_(None) if guild_id is None else Request.guild_id == guild_id
    query = (
        select(Delivery.request_id, Delivery.kind, Delivery.created_at)
        .join(Request, Request.id == Delivery.request_id)
        .where(Delivery.message_id == message_id, guild)
    )
    async with core.database.connect() as connection:
        rows = (await connection.execute(query)).all()
    if not rows:
        return None
    latest = max(aware(row.created_at) for row in rows)
    return Delivered(rows[0].request_id, latest, any(row.kind == "deleted" for row in rows))


def later_edit(found: Delivered, edited_at: datetime, grace: timedelta) -> bool:
    """An edit stamped after `grace` past the latest row for its message: not the delivery's own last edit."""
    return aware(edited_at) > found.latest + grace


def record_change(core: Core, delivered_as: Delivered, channel_id: int, message_id: int, kind: str) -> None:
    """A delivered message was `edited` or `deleted` since."""
    core.recorder.delivery(request_id=delivered_as.request_id, channel_id=channel_id, message_id=message_id, kind=kind)
    log.info("delivery %s of request %s was %s", message_id, delivered_as.request_id, kind)


async def first_messages(core: Core, request_ids: list[str]) -> dict[str, Message]:
    """Each request's first posted message (a long output goes on in more), everything recorded so far included."""
    await core.recorder.flush()
    query = select(Delivery.request_id, Delivery.channel_id, Delivery.message_id).where(
        Delivery.request_id.in_([r for r in request_ids if r]), Delivery.kind == "message"
    )
    async with core.database.connect() as connection:
        rows = (await connection.execute(query)).all()
    first: dict[str, Message] = {}
    for row in sorted(rows, key=lambda row: row.message_id or 0):
        first.setdefault(row.request_id, Message(row.channel_id, row.message_id))
    return first
