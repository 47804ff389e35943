"""Moderators' settings and knowledge-base entries per guild and channel; every change recorded as a moderation action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain import chain_moderation
from storage.models import GuardrailSetting, MisinfoEntry, ModerationAction, utcnow


def _scope(guild_id: int, channel_id: int | None) -> Any:
    channel = GuardrailSetting.channel_id.is_(None) if channel_id is None else GuardrailSetting.channel_id == channel_id
    return (GuardrailSetting.guild_id == guild_id) & channel


async def stored_settings(
    database: AsyncEngine, guild_id: int, channel_id: int | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(the guild's settings, this channel's settings), each key → value."""
    query = select(GuardrailSetting.channel_id, GuardrailSetting.key, GuardrailSetting.value).where(
        GuardrailSetting.guild_id == guild_id,
        (GuardrailSetting.channel_id == channel_id) | GuardrailSetting.channel_id.is_(None),
    )
    async with database.connect() as connection:
        rows = (await connection.execute(query)).all()
    guild = {row.key: row.value for row in rows if row.channel_id is None}
    channel = {row.key: row.value for row in rows if row.channel_id is not None}
    return guild, channel


async def change_settings(
    database: AsyncEngine,
    *,
    guild_id: int,
    channel_id: int | None,
    changes: dict[str, str | None],
    user_id: int,
    policy_hash: str,
) -> dict[str, str | None]:
    """Set (or, with None, clear) keys for a guild (`channel_id` None) or a channel, in one transaction with the
    moderation action that records them. Returns the values they replaced."""
    previous: dict[str, str | None] = {}
    async with database.begin() as connection:
        for key, value in changes.items():
            where = _scope(guild_id, channel_id) & (GuardrailSetting.key == key)
            previous[key] = (await connection.execute(select(GuardrailSetting.value).where(where))).scalar_one_or_none()
            await connection.execute(delete(GuardrailSetting).where(where))
            if value is not None:
                await connection.execute(
                    insert(GuardrailSetting).values(
                        guild_id=guild_id, channel_id=channel_id, key=key, value=value, updated_by=user_id
                    )
                )
        await insert_action(
            connection,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            action="set_guardrails",
            details={
                "scope": "guild" if channel_id is None else "channel",
                "changes": {key: {"from": previous[key], "to": value} for key, value in changes.items()},
            },
            policy_hash=policy_hash,
        )
    return previous


async def record_action(
    database: AsyncEngine,
    *,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    action: str,
    details: dict[str, Any],
    policy_hash: str | None = None,
) -> None:
    async with database.begin() as connection:
        await insert_action(
            connection,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            action=action,
            details=details,
            policy_hash=policy_hash,
        )


async def insert_action(connection: AsyncConnection, *, guild_id: int | None, **values: Any) -> int:
    """A moderation action row, chained in the caller's transaction; returns its id."""
    result = await connection.execute(insert(ModerationAction).values(guild_id=guild_id, **values))
    action_id = int(result.inserted_primary_key[0])
    await chain_moderation(connection, action_id, guild_id)
    return action_id


async def add_misinfo_entry(database: AsyncEngine, *, guild_id: int, claim: str, correction: str, user_id: int) -> int:
    async with database.begin() as connection:
        result = await connection.execute(
            insert(MisinfoEntry).values(guild_id=guild_id, claim=claim, correction=correction, added_by=user_id)
        )
    return int(result.inserted_primary_key[0])


async def remove_misinfo_entry(database: AsyncEngine, *, guild_id: int, entry_id: int, user_id: int) -> bool:
    """Mark a guild's own entry removed (the row stays, with who and when); False if the guild has no such entry."""
    async with database.begin() as connection:
        result = await connection.execute(
            update(MisinfoEntry)
            .where(MisinfoEntry.id == entry_id, MisinfoEntry.guild_id == guild_id, MisinfoEntry.removed_at.is_(None))
            .values(removed_by=user_id, removed_at=utcnow())
        )
    return result.rowcount == 1


async def misinfo_entries(database: AsyncEngine, guild_id: int | None = None) -> list[MisinfoEntry]:
    """The entries in force: one guild's, or every guild's (to load the knowledge base at start)."""
    query = select(MisinfoEntry).where(MisinfoEntry.removed_at.is_(None)).order_by(MisinfoEntry.id)
    if guild_id is not None:
        query = query.where(MisinfoEntry.guild_id == guild_id)
    async with database.connect() as connection:
        return [MisinfoEntry(**row._mapping) for row in (await connection.execute(query)).all()]
