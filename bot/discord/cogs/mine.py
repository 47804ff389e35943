"""`/mine`: the asking member's recent pieces in this server (kind, topic, date, a jump link), newest first, ten to
a page with Previous / Next that only they can turn. Ephemeral: a member's history is theirs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.delivery import NO_PINGS
from storage.feedback import MinePiece, my_pieces

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

PAGE_SIZE = 10
PAGER_TIMEOUT_S = 10 * 60
TOPIC_CHARS = 60


def topic_of(piece: MinePiece) -> str:
    if piece.topic is None:
        return "*(erased)*" if piece.command == "write" else "*(continued)*"
    topic = " ".join(piece.topic.split())
    topic = topic if len(topic) <= TOPIC_CHARS else topic[: TOPIC_CHARS - 1] + "…"
    return f"“{discord.utils.escape_markdown(discord.utils.escape_mentions(topic))}”"


def piece_line(piece: MinePiece, guild_id: int | None) -> str:
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


async def mine_page(bot: StoryloomBot, guild_id: int | None, user_id: int, page: int) -> tuple[str, int]:
    """(the page's text, how many pages there are)."""
    pieces, total = await my_pieces(bot.core.database, guild_id=guild_id, user_id=user_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if not total:
        return "You have no pieces in this server yet: try `/write`.", pages
    lines = [f"**Your pieces here** ({total}), newest first:", *(piece_line(p, guild_id) for p in pieces)]
    lines.append(f"-# page {page + 1} of {pages}")
    return "\n".join(lines), pages


class MinePager(discord.ui.View):
    def __init__(self, bot: StoryloomBot, interaction: discord.Interaction, pages: int) -> None:
        super().__init__(timeout=PAGER_TIMEOUT_S)
        self.bot = bot
        self.asked = interaction
        self.owner_id = interaction.user.id
        self.guild_id = interaction.guild_id
        self.page = 0
        self.pages = pages
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("These are someone else's pieces.", ephemeral=True, allowed_mentions=NO_PINGS)
            return False
        return True

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = max(0, min(self.pages - 1, self.page + step))
        text, self.pages = await mine_page(self.bot, self.guild_id, self.owner_id, self.page)
        self._sync()
        await interaction.response.edit_message(content=text, view=self, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def on_timeout(self) -> None:
        try:
            await self.asked.edit_original_response(view=None)
        except discord.HTTPException:
            pass  # dismissed, or the token expired


class MineCog(commands.Cog, name="Mine"):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    @app_commands.command(name="mine", description="Your recent pieces in this server, with links")
    @app_commands.guild_only()
    async def mine(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.core.recorder.flush()
        text, pages = await mine_page(self.bot, interaction.guild_id, interaction.user.id, 0)
        if pages > 1:
            await interaction.followup.send(text, view=MinePager(self.bot, interaction, pages), ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(MineCog(bot))
