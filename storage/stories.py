"""Story-game queries (bot/core/story): dialect-neutral SQLAlchemy 2.0 Core on one connection, SQLite and PostgreSQL.

Every function takes the caller's `AsyncConnection` so a command's reads and writes are one transaction: a
restart finds each session exactly as its last command left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    PlayerStatus,
    StoryChoiceSet,
    StoryPlayer,
    StorySession,
    StoryStatus,
    StoryTurn,
    StoryVote,
    TurnStatus,
    utcnow,
)

sessions = StorySession.__table__
players_t = StoryPlayer.__table__
turns_t = StoryTurn.__table__
choice_sets = StoryChoiceSet.__table__
votes_t = StoryVote.__table__


async def _insert(connection: AsyncConnection, table: Any, **row: Any) -> int:
    result = await connection.execute(insert(table).values(**row))
    return int(result.inserted_primary_key[0])


# -- sessions -----------------------------------------------------------------------------------------------------


async def open_session_at(
    connection: AsyncConnection, guild_id: int, place_id: int, *, status: str | None = StoryStatus.OPEN
) -> Row | None:
    """The open session played in `place_id` (its thread, or its channel when it has no thread); with
    `status=None` the latest session there, ended or not."""
    where = or_(sessions.c.thread_id == place_id, and_(sessions.c.thread_id.is_(None), sessions.c.channel_id == place_id))
    statement = (
        select(sessions)
        .where(sessions.c.guild_id == guild_id, where, *([sessions.c.status == status] if status else []))
        .order_by(sessions.c.id.desc())
        .limit(1)
    )
    return (await connection.execute(statement)).first()


async def claim(connection: AsyncConnection, session_id: int) -> int | None:
    """Take the session for this transaction: bump its version as the transaction's first write, which holds
    the row's lock on PostgreSQL and the database's write lock on SQLite (WAL: a deferred transaction whose first
    statement writes waits for the other writer, then reads what it committed) until commit. Another bot process
    claiming the same session waits here, then sees this transaction's changes. Returns the new version, or None
    when there is no such session."""
    result = await connection.execute(
        update(sessions).where(sessions.c.id == session_id).values(version=sessions.c.version + 1).returning(sessions.c.version)
    )
    return result.scalar_one_or_none()


async def session_by_id(connection: AsyncConnection, session_id: int) -> Row | None:
    return (await connection.execute(select(sessions).where(sessions.c.id == session_id))).first()


async def create_session(connection: AsyncConnection, **row: Any) -> int:
    now = utcnow()
    row.setdefault("created_at", now)
    row.setdefault("updated_at", now)
    return await _insert(connection, sessions, **row)


async def update_session(connection: AsyncConnection, session_id: int, **values: Any) -> None:
    values.setdefault("updated_at", utcnow())
    await connection.execute(update(sessions).where(sessions.c.id == session_id).values(**values))


async def next_number(connection: AsyncConnection, session_id: int) -> int:
    """Give out the session's next turn number (an UPDATE first: it locks the session row on PostgreSQL)."""
    await connection.execute(
        update(sessions).where(sessions.c.id == session_id).values(last_number=sessions.c.last_number + 1)
    )
    return int((await connection.execute(select(sessions.c.last_number).where(sessions.c.id == session_id))).scalar_one())


async def due_sessions(connection: AsyncConnection, now: datetime) -> Sequence[int]:
    """Open sessions whose turn deadline has passed: the front end's timer calls `StoryService.expire` on each."""
    statement = select(sessions.c.id).where(sessions.c.status == StoryStatus.OPEN, sessions.c.turn_deadline <= now)
    return (await connection.execute(statement)).scalars().all()


# -- players -------------------------------------------------------------------------------------------------------


async def players(connection: AsyncConnection, session_id: int) -> Sequence[Row]:
    statement = select(players_t).where(players_t.c.session_id == session_id).order_by(players_t.c.join_order)
    return (await connection.execute(statement)).all()


async def add_player(connection: AsyncConnection, session_id: int, user_id: int, name: str) -> None:
    order = (
        await connection.execute(select(func.coalesce(func.max(players_t.c.join_order), 0)).where(players_t.c.session_id == session_id))
    ).scalar_one()
    await _insert(
        connection, players_t, session_id=session_id, user_id=user_id, name=name[:100], join_order=int(order) + 1,
        status=PlayerStatus.ACTIVE, joined_at=utcnow(),
    )  # fmt: skip


async def set_player_status(
    connection: AsyncConnection, session_id: int, user_id: int, status: PlayerStatus, name: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status, "left_at": None if status == PlayerStatus.ACTIVE else utcnow()}
    if name is not None:
        values["name"] = name[:100]
    await connection.execute(
        update(players_t).where(players_t.c.session_id == session_id, players_t.c.user_id == user_id).values(**values)
    )


# -- turns ---------------------------------------------------------------------------------------------------------


async def add_turn(connection: AsyncConnection, **row: Any) -> int:
    row.setdefault("created_at", utcnow())
    return await _insert(connection, turns_t, **row)


async def turns(connection: AsyncConnection, session_id: int, *statuses: TurnStatus, after: int = 0) -> Sequence[Row]:
    """The session's turns in number order, only those with one of `statuses` when given, numbered above `after`."""
    statement = select(turns_t).where(turns_t.c.session_id == session_id, turns_t.c.number > after)
    if statuses:
        statement = statement.where(turns_t.c.status.in_([str(s) for s in statuses]))
    return (await connection.execute(statement.order_by(turns_t.c.number))).all()


async def latest_kept(connection: AsyncConnection, session_id: int) -> Row | None:
    statement = (
        select(turns_t)
        .where(turns_t.c.session_id == session_id, turns_t.c.status == TurnStatus.KEPT)
        .order_by(turns_t.c.number.desc())
        .limit(1)
    )
    return (await connection.execute(statement)).first()


async def set_turn_status(connection: AsyncConnection, turn_ids: Sequence[int], status: TurnStatus, reason: str | None = None) -> None:
    if turn_ids:
        values: dict[str, Any] = {"status": status}
        if reason is not None:
            values["reason"] = reason[:200]
        await connection.execute(update(turns_t).where(turns_t.c.id.in_(list(turn_ids))).values(**values))


async def turn_by_id(connection: AsyncConnection, turn_id: int) -> Row | None:
    return (await connection.execute(select(turns_t).where(turns_t.c.id == turn_id))).first()


# -- choice sets and votes -----------------------------------------------------------------------------------------


async def create_choice_set(connection: AsyncConnection, **row: Any) -> int:
    row.setdefault("created_at", utcnow())
    return await _insert(connection, choice_sets, **row)


async def open_choice_set(connection: AsyncConnection, session_id: int) -> Row | None:
    statement = (
        select(choice_sets)
        .where(choice_sets.c.session_id == session_id, choice_sets.c.status == "open")
        .order_by(choice_sets.c.id.desc())
        .limit(1)
    )
    return (await connection.execute(statement)).first()


async def choices(connection: AsyncConnection, choice_set_id: int) -> Sequence[Row]:
    statement = select(turns_t).where(turns_t.c.choice_set_id == choice_set_id).order_by(turns_t.c.choice_index)
    return (await connection.execute(statement)).all()


async def votes(connection: AsyncConnection, choice_set_id: int) -> Sequence[Row]:
    statement = select(votes_t).where(votes_t.c.choice_set_id == choice_set_id).order_by(votes_t.c.id)
    return (await connection.execute(statement)).all()


async def add_vote(connection: AsyncConnection, choice_set_id: int, user_id: int, turn_id: int) -> None:
    await _insert(connection, votes_t, choice_set_id=choice_set_id, user_id=user_id, turn_id=turn_id, created_at=utcnow())


async def close_choice_set(connection: AsyncConnection, choice_set_id: int, chosen_turn_id: int | None, closed_by: str) -> bool:
    """Close an open set (compare-and-swap on its status): False when it was closed already, by anyone."""
    result = await connection.execute(
        update(choice_sets)
        .where(choice_sets.c.id == choice_set_id, choice_sets.c.status == "open")
        .values(status="closed", chosen_turn_id=chosen_turn_id, closed_at=utcnow(), closed_by=closed_by)
    )
    return result.rowcount == 1
