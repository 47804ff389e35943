"""`/help`: what Storyloom does and every command the asking member may use, generated from the command tree so
it never goes stale. Moderators' commands (those with default permissions) are listed only for moderators.
Ephemeral."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.audit.render import paginate
from bot.discord.delivery import NO_PINGS
from bot.discord.moderators import is_moderator

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

INTRO = (
    "**Storyloom** writes stories, poems, song lyrics, script scenes, character sheets and scene descriptions, and "
    "plays story games with you. Every piece passes this server's checks before anyone sees it, and is labelled "
    "AI-generated. Under each piece: **Continue**, **Another take**, 👍 and 👎."
)
Command = app_commands.Command | app_commands.Group | app_commands.ContextMenu


def for_moderators(command: Command) -> bool:
    """Moderators' commands carry default permissions (the bot checks them itself as well)."""
    permissions = command.default_permissions
    return permissions is not None and permissions.value != 0


def usage(command: app_commands.Command) -> str:
    options = " ".join(p.name if p.required else f"[{p.name}]" for p in command.parameters)
    return f"`/{command.qualified_name}{' ' + options if options else ''}`"


def command_lines(commands_: list[Command]) -> list[str]:
    lines = []
    for command in sorted(commands_, key=lambda c: c.name):
        if isinstance(command, app_commands.ContextMenu):
            target = "a message" if command.type is discord.AppCommandType.message else "a member"
            lines.append(f"Apps → **{command.name}** (on {target})")
        elif isinstance(command, app_commands.Group):
            lines += [f"{usage(leaf)} — {leaf.description}" for leaf in command.walk_commands()
                      if isinstance(leaf, app_commands.Command)]  # fmt: skip
        else:
            lines.append(f"{usage(command)} — {command.description}")
    return lines


def help_lines(tree: app_commands.CommandTree, *, moderator: bool) -> list[str]:
    every = [*tree.get_commands(type=discord.AppCommandType.chat_input), *tree.get_commands(type=discord.AppCommandType.message)]
    members = [c for c in every if not for_moderators(c)]
    moderators = [c for c in every if for_moderators(c)]
    lines = [INTRO, "", "**Commands**", *command_lines(members)]
    if moderator:
        lines += ["", "**For moderators** (only you see this)", *command_lines(moderators)]
    return lines


class HelpCog(commands.Cog, name="Help"):
    """`/help`, generated from the command tree."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What Storyloom does and the commands you can use here")
    async def help(self, interaction: discord.Interaction) -> None:
        moderator = interaction.guild_id is not None and (
            interaction.permissions.manage_guild or await is_moderator(self.bot.core, interaction)
        )
        pages = paginate(help_lines(self.bot.tree, moderator=moderator))
        await interaction.response.send_message(pages[0], ephemeral=True, allowed_mentions=NO_PINGS)
        for page in pages[1:]:
            await interaction.followup.send(page, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(HelpCog(bot))
