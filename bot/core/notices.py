"""After a crash: the requests a previous process left unfinished, whose members a front end tells so.

A process killed mid-generation (SIGKILL, out of memory, power) can tell nobody; the next start marks what it left
open `interrupted` ("process stopped", storage/db.py). The Discord bot, as it starts, posts one short message per
such request from the last `RECENT` and records it as the request's `notice` delivery, so no restart tells anyone
twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, or_, select

from storage.models import Delivery, Request, RequestStatus, utcnow

if TYPE_CHECKING:
    from bot.core.app import Core

RECENT = timedelta(minutes=15)
"""Older than Discord's interaction lifetime, a notice is noise: the member has long seen it fail."""
MAX_NOTICES = 50
"""A crash under load must not flood the channels: the rest stay recorded as interrupted."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A request a previous process left unfinished, with where its member asked."""

    request_id: str
    guild_id: int | None
    channel_id: int
    user_id: int
    command: str


async def untold(core: Core, interface: str) -> list[Interrupted]:
    """This instance's recently interrupted requests from `interface` that nobody was told about yet, oldest first."""
    query = (
        select(Request.id, Request.guild_id, Request.channel_id, Request.user_id, Request.command)
        .where(
            Request.status == RequestStatus.INTERRUPTED,
            Request.status_reason == "process stopped",
            Request.interface == interface,
            Request.channel_id.is_not(None),
            Request.updated_at >= utcnow() - RECENT,
            ~exists().where(Delivery.request_id == Request.id),
        )
        .where(or_(Request.instance == core.recorder.instance, Request.instance.is_(None)))  # as mark_interrupted
        .order_by(Request.created_at)
        .limit(MAX_NOTICES)
    )
    async with core.database.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [Interrupted(row.id, row.guild_id, row.channel_id, row.user_id, row.command) for row in rows]


def told(core: Core, request: Interrupted, message_id: int) -> None:
    core.recorder.delivery(request_id=request.request_id, channel_id=request.channel_id, message_id=message_id, kind="notice")
