"""Moderators' settings per guild and channel, each change recorded as a moderation action."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import ChannelRating, ModerationAction


async def stored_ratings(database: AsyncEngine, guild_id: int, channel_id: int | None) -> tuple[str | None, str | None]:
    """(this channel's rating, the guild's rating), each None when not set."""
    query = select(ChannelRating.channel_id, ChannelRating.rating).where(
        ChannelRating.guild_id == guild_id,
        (ChannelRating.channel_id == channel_id) | ChannelRating.channel_id.is_(None),
    )
    async with database.connect() as connection:
        rows = (await connection.execute(query)).all()
    by_scope = {row.channel_id: row.rating for row in rows}
    return (by_scope.get(channel_id) if channel_id is not None else None), by_scope.get(None)


async def set_rating(
    database: AsyncEngine, *, guild_id: int, channel_id: int | None, rating: str, user_id: int, policy_hash: str
) -> str | None:
    """Set the rating of a guild (`channel_id` None) or a channel; returns the rating it replaced."""
    scope = ChannelRating.channel_id.is_(None) if channel_id is None else ChannelRating.channel_id == channel_id
    async with database.begin() as connection:
        previous = (
            await connection.execute(select(ChannelRating.rating).where(ChannelRating.guild_id == guild_id, scope))
        ).scalar_one_or_none()
        await connection.execute(delete(ChannelRating).where(ChannelRating.guild_id == guild_id, scope))
        await connection.execute(
            insert(ChannelRating).values(guild_id=guild_id, channel_id=channel_id, rating=rating, updated_by=user_id)
        )
        await connection.execute(
            insert(ModerationAction).values(
                guild_id=guild_id,
                channel_id=channel_id,
                user_id=user_id,
                action="set_rating",
                details={"from": previous, "to": rating, "scope": "guild" if channel_id is None else "channel"},
                policy_hash=policy_hash,
            )
        )
    return previous
