"""A server's own choices for the bot (`/settings`), as key → text rows; every change is recorded as a moderation
action (who, when, the new policy hash) in the same transaction, like `/guardrails` changes (storage/policies.py)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import ServerSetting
from storage.policies import insert_action


async def server_settings(database: AsyncEngine, guild_id: int) -> dict[str, str]:
    query = select(ServerSetting.key, ServerSetting.value).where(ServerSetting.guild_id == guild_id)
    async with database.connect() as connection:
        return {key: value for key, value in await connection.execute(query)}


async def change_server_settings(
    database: AsyncEngine,
    *,
    guild_id: int,
    channel_id: int | None,
    changes: dict[str, str | None],
    user_id: int,
    policy_hash: str | None,
) -> dict[str, str | None]:
    """Set (or, with None, clear) keys, with the moderation action `set_settings` recording them, in one
    transaction. Returns the values they replaced."""
    previous: dict[str, str | None] = {}
    async with database.begin() as connection:
        for key, value in changes.items():
            where = (ServerSetting.guild_id == guild_id) & (ServerSetting.key == key)
            previous[key] = (await connection.execute(select(ServerSetting.value).where(where))).scalar_one_or_none()
            await connection.execute(delete(ServerSetting).where(where))
            if value is not None:
                await connection.execute(
                    insert(ServerSetting).values(guild_id=guild_id, key=key, value=value, updated_by=user_id)
                )
        await insert_action(
            connection,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            action="set_settings",
            details={"changes": {key: {"from": previous[key], "to": value} for key, value in changes.items()}},
            policy_hash=policy_hash,
        )
    return previous
