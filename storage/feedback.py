"""Members and their pieces: what a button under a piece may act on, 👍 / 👎 votes, a member's own pieces (`/mine`)
and everything stored about a member in one server (`/privacy export`). Every query is scoped to one guild."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain import ERASED
from storage.models import (
    Delivery, Generation, Request, RequestStatus, StoryPlayer, StorySession, StoryTurn, Vote, aware, utcnow,
)  # fmt: skip

UP, DOWN = 1, -1


def is_erased(text: str | None) -> bool:
    return text is not None and text.startswith(ERASED)


@dataclass(frozen=True, slots=True)
class Piece:
    """A request as the buttons under its post see it."""

    id: str
    guild_id: int | None
    user_id: int
    command: str
    kind: str | None
    status: str
    prompt: str | None
    options: dict[str, Any]
    parent_request_id: str | None
    shown: str | None
    """The delivered text (the last attempt's), None when nothing was shown."""
    erased: bool


async def find_piece(database: AsyncEngine, *, guild_id: int | None, request_id: str) -> Piece | None:
    """The request `request_id` in this guild (None for another guild's or an unknown id)."""
    guild = Request.guild_id.is_(None) if guild_id is None else Request.guild_id == guild_id
    async with database.connect() as connection:
        row = (await connection.execute(select(Request).where(Request.id == request_id, guild))).first()
        if row is None:
            return None
        request = row
        shown = (
            await connection.execute(
                select(Generation.shown_output)
                .where(Generation.request_id == request_id)
                .order_by(Generation.attempt.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    erased = is_erased(request.user_name) or is_erased(request.prompt) or is_erased(shown)
    return Piece(
        request.id, request.guild_id, request.user_id, request.command, request.kind, request.status,
        request.prompt, dict(request.options or {}), request.parent_request_id, shown or None, erased,
    )  # fmt: skip


def refusal_for(piece: Piece | None) -> str | None:
    """Why a button cannot act on this piece, in words for the member; None when it can."""
    if piece is None:
        return "I have no record of that piece in this server."
    if piece.erased:
        return "That piece was erased (at its author's request, or by the server's retention), so it can't be used any more."
    if piece.status == RequestStatus.HELD:
        return "That piece is waiting for a moderator's review; its buttons work once it is approved."
    if piece.status == RequestStatus.BLOCKED:
        return "That piece was blocked by the checks and never shown, so there is nothing to use."
    if piece.status != RequestStatus.DELIVERED or not piece.shown:
        return "That piece was never delivered, so there is nothing to use."
    return None


# -- votes --------------------------------------------------------------------------------------------------------


def _upsert(connection: AsyncConnection) -> Any:
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


async def cast_vote(
    database: AsyncEngine, *, request_id: str, guild_id: int | None, user_id: int, value: int
) -> tuple[int | None, int, int]:
    """Record (or change) this member's vote on a piece; (their previous vote or None, 👍 count, 👎 count)."""
    if value not in (UP, DOWN):
        raise ValueError("a vote is +1 or -1")
    async with database.begin() as connection:
        previous = (
            await connection.execute(select(Vote.value).where(Vote.request_id == request_id, Vote.user_id == user_id))
        ).scalar_one_or_none()
        now = utcnow()
        statement = _upsert(connection)(Vote).values(
            request_id=request_id, guild_id=guild_id, user_id=user_id, value=value, created_at=now, updated_at=now
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=["request_id", "user_id"], set_={"value": value, "updated_at": now}
            )
        )
        counts = (await vote_counts(connection, [request_id])).get(request_id, (0, 0))
    return previous, counts[0], counts[1]


async def vote_counts(connection: AsyncConnection, request_ids: list[str]) -> dict[str, tuple[int, int]]:
    """request id → (👍, 👎)."""
    if not request_ids:
        return {}
    query = (
        select(
            Vote.request_id,
            func.sum(case((Vote.value > 0, 1), else_=0)),
            func.sum(case((Vote.value < 0, 1), else_=0)),
        )
        .where(Vote.request_id.in_(request_ids))
        .group_by(Vote.request_id)
    )
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in await connection.execute(query)}


async def votes_by_kind_and_model(
    connection: AsyncConnection, guild_filter: Any, since: datetime | None = None
) -> list[tuple[str, str, int, int]]:
    """(kind, model, 👍, 👎) over the votes on requests in scope, most voted first. `guild_filter` is a condition
    on `Vote.guild_id`. The model is the one of the request's last attempt."""
    last_attempt = (
        select(Generation.request_id, func.max(Generation.attempt).label("attempt"))
        .group_by(Generation.request_id)
        .subquery()
    )
    up = func.sum(case((Vote.value > 0, 1), else_=0))
    down = func.sum(case((Vote.value < 0, 1), else_=0))
    query = (
        select(Request.kind, Generation.model_id, up, down)
        .select_from(Vote)
        .join(Request, Request.id == Vote.request_id)
        .join(last_attempt, last_attempt.c.request_id == Vote.request_id)
        .join(
            Generation,
            and_(Generation.request_id == last_attempt.c.request_id, Generation.attempt == last_attempt.c.attempt),
        )
        .where(guild_filter)
        .group_by(Request.kind, Generation.model_id)
        .order_by((up + down).desc(), Request.kind, Generation.model_id)
    )
    if since is not None:
        query = query.where(Vote.updated_at >= since)
    return [(kind or "-", model, int(u or 0), int(d or 0)) for kind, model, u, d in await connection.execute(query)]


# -- a member's own pieces ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinePiece:
    request_id: str
    created_at: datetime
    command: str
    kind: str | None
    topic: str | None
    channel_id: int | None
    message_id: int | None


async def my_pieces(
    database: AsyncEngine, *, guild_id: int | None, user_id: int, offset: int = 0, limit: int = 10
) -> tuple[list[MinePiece], int]:
    """The member's delivered pieces in this guild, newest first, one page; and how many there are in all."""
    guild = Request.guild_id.is_(None) if guild_id is None else Request.guild_id == guild_id
    where = [guild, Request.user_id == user_id, Request.status == RequestStatus.DELIVERED, Request.command != "story"]
    first_message = (
        select(Delivery.message_id)
        .where(Delivery.request_id == Request.id, Delivery.kind.in_(("message", "file")))
        .order_by(Delivery.id)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Request.id, Request.created_at, Request.command, Request.kind, Request.prompt, Request.channel_id, first_message)
        .where(*where)
        .order_by(Request.created_at.desc(), Request.id.desc())
        .offset(offset)
        .limit(limit)
    )
    async with database.connect() as connection:
        total = int((await connection.execute(select(func.count()).select_from(Request).where(*where))).scalar_one())
        rows = (await connection.execute(query)).all()
    pieces = [
        MinePiece(row[0], aware(row[1]), row[2], row[3], None if is_erased(row[4]) else row[4], row[5], row[6])
        for row in rows
    ]
    return pieces, total


# -- everything about a member in one guild -----------------------------------------------------------------------


async def member_data(database: AsyncEngine, *, guild_id: int | None, user_id: int) -> dict[str, Any]:
    """Everything Storyloom stores about this member in this guild: their requests with every attempt, verdict,
    message and review, the story games they joined and their turns, their votes. JSON-ready (erased content
    appears as `[erased]` with its digest, as in moderators' exports)."""
    from storage.audit import iter_records
    from storage.export import record_json, row_json

    requests = [record_json(record) async for record in iter_records(database, guild_id, user_id=user_id)]
    in_guild = Vote.guild_id.is_(None) if guild_id is None else Vote.guild_id == guild_id
    sessions = select(StorySession.id).where(
        StorySession.guild_id.is_(None) if guild_id is None else StorySession.guild_id == guild_id
    )
    async with database.connect() as connection:
        votes = await connection.execute(select(Vote.__table__).where(Vote.user_id == user_id, in_guild).order_by(Vote.id))
        games = await connection.execute(
            select(
                StorySession.id.label("session_id"), StorySession.title, StorySession.channel_id,
                StoryPlayer.name, StoryPlayer.status, StoryPlayer.joined_at, StoryPlayer.left_at,
            )
            .join(StoryPlayer, StoryPlayer.session_id == StorySession.id)
            .where(StoryPlayer.user_id == user_id, StorySession.id.in_(sessions))
            .order_by(StorySession.id)
        )  # fmt: skip
        turns = await connection.execute(
            select(StoryTurn.__table__)
            .where(StoryTurn.author_id == user_id, StoryTurn.session_id.in_(sessions))
            .order_by(StoryTurn.id)
        )
        return {
            "member": {"user_id": user_id, "guild_id": guild_id, "exported_at": utcnow().isoformat()},
            "requests": requests,
            "votes": [row_json(dict(row._mapping)) for row in votes],
            "story_games": [row_json(dict(row._mapping)) for row in games],
            "story_turns": [row_json(dict(row._mapping)) for row in turns],
        }


__all__ = [
    "DOWN",
    "UP",
    "MinePiece",
    "Piece",
    "cast_vote",
    "find_piece",
    "is_erased",
    "member_data",
    "my_pieces",
    "refusal_for",
    "vote_counts",
    "votes_by_kind_and_model",
]
