"""Who counts as a moderator: Manage Messages, or the role a server set with `/guardrails set moderator_role:`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.core.policies import moderator_role

if TYPE_CHECKING:
    from bot.core.app import Core


async def is_moderator(core: Core, interaction: discord.Interaction) -> bool:
    permissions = getattr(interaction.user, "guild_permissions", None)
    if interaction.guild_id is None or permissions is None:
        return False
    if permissions.manage_messages:
        return True
    role = await moderator_role(core, interaction.guild_id)
    return role is not None and any(str(r.id) == role for r in getattr(interaction.user, "roles", ()))


class NotModerator(app_commands.CheckFailure):
    """Raised by moderator-only commands; the tree's error handler says what would let the member in."""

    message = "Only moderators can use that: Manage Messages, or the server's moderator role."


def require_manage_guild(interaction: discord.Interaction) -> bool:
    """A server-settings group's own check: `default_permissions` only hides a command in Discord's client, so the
    bot checks Manage Server itself, from the permissions Discord resolved for this interaction (the member cache
    may not know a role granted just now)."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])
    return True
