"""`/mine`: the asking member's recent pieces in this server (kind, topic, date, a jump link), newest first, ten to
a page with Previous / Next that only they can turn. Ephemeral: a member's history is theirs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import pieces
from bot.discord.delivery import NO_PINGS
from bot.discord.views import Pager

if TYPE_CHECKING:
    from bot.core.app import Core
    from bot.discord.bot import StoryloomBot

PAGE_SIZE = 10
TOPIC_CHARS = 60


def topic_of(piece: pieces.MinePiece) -> str:
    if piece.topic is None:
        return "*(erased)*" if piece.command == "write" else "*(continued)*"
    topic = " ".join(piece.topic.split())
    topic = topic if len(topic) <= TOPIC_CHARS else topic[: TOPIC_CHARS - 1] + "…"
    return f"“{discord.utils.escape_markdown(discord.utils.escape_mentions(topic))}”"


def piece_line(piece: pieces.MinePiece, guild_id: int | None) -> str:
    when = f"<t:{int(piece.created_at.timestamp())}:d>"
    ask = piece.kind or piece.command
    if piece.command == "continue":
        ask += " (continued)"
    link = (
        f" · [jump](https://discord.com/channels/{guild_id or '@me'}/{piece.channel_id}/{piece.message_id})"
        if piece.message_id is not None
        else ""
    )
    return f"**{ask}** · {topic_of(piece)} · {when}{link}"


async def mine_page(core: Core, guild_id: int | None, user_id: int, page: int) -> tuple[str, int]:
    """(the page's text, how many pages there are)."""
    found, total = await pieces.mine(core, guild_id=guild_id, user_id=user_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if not total:
        return "You have no pieces in this server yet: try `/write`.", pages
    lines = [f"**Your pieces here** ({total}), newest first:", *(piece_line(p, guild_id) for p in found)]
    lines.append(f"-# page {page + 1} of {pages}")
    return "\n".join(lines), pages


class MineCog(commands.Cog, name="Mine"):
    """`/mine`: the member's own pieces here, paged."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    @app_commands.command(name="mine", description="Your recent pieces in this server, with links")
    @app_commands.guild_only()
    async def mine(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id, user_id = interaction.guild_id, interaction.user.id
        text, pages = await mine_page(self.bot.core, guild_id, user_id, 0)
        if pages > 1:

            async def page_text(index: int) -> tuple[str, int]:
                return await mine_page(self.bot.core, guild_id, user_id, index)

            await Pager(user_id, pages, page_text, not_yours="These are someone else's pieces.").send(interaction)
        else:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(MineCog(bot))
