"""The moderation log every front end writes to: who did what, where, and under which policy hash (an audit query,
a settings change, a review's decision, a member's export). One call, so each action is recorded the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.policies import record_action

if TYPE_CHECKING:
    from bot.core.app import Core


async def record(
    core: Core,
    *,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    action: str,
    details: dict[str, Any],
    policy_hash: str | None = None,
) -> None:
    """One moderation action (`moderation_actions`), chained like every record."""
    await record_action(
        core.database,
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=user_id,
        action=action,
        details=details,
        policy_hash=policy_hash,
    )
