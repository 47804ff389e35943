"""Buttons under every delivered piece: Continue, Another take, 👍 and 👎 (the buttons: bot/discord/views.py).

Each click looks the piece up in this server first: an erased, held, blocked or unknown piece gets a short private
answer and nothing else. Continue and Another take go through the same gate and pipeline as `/continue` and
`/write` (recorded, checked, streamed, with their own buttons); Another take is the same request written again with
a new seed, recorded with `options.derived_from` naming the first. A vote is one per member per piece; clicking the
other thumb changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core import pieces
from bot.core.server_settings import choices_for
from bot.discord.context import places_of, role_ids_of
from bot.discord.delivery import reply
from bot.discord.views import PieceButton
from bot.discord.writing import write

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot


class PiecesCog(commands.Cog, name="Pieces"):
    """What a click on a piece's button does (bot/core/pieces.py finds the piece, writes it again, counts votes)."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PieceButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PieceButton)

    async def clicked(self, interaction: discord.Interaction, action: str, request_id: str) -> None:
        core = self.bot.core
        piece, refused = await pieces.find(core, guild_id=interaction.guild_id, request_id=request_id)
        if refused is not None or piece is None:
            await reply(interaction, refused or "I have no record of that piece in this server.")
            return
        if action in ("up", "down"):
            await self._vote(interaction, piece, up=action == "up")
            return
        job = await pieces.again(core, action, piece)
        if isinstance(job, str):
            await reply(interaction, job)
            return
        await interaction.response.defer(thinking=True)
        await write(core, interaction, job)

    async def _vote(self, interaction: discord.Interaction, piece: pieces.Piece, *, up: bool) -> None:
        choices = await choices_for(self.bot.core, interaction.guild_id)
        refused = None if interaction.permissions.manage_guild else choices.refusal(places_of(interaction), role_ids_of(interaction))
        if refused is not None:
            await reply(interaction, refused.message)
            return
        votes = await pieces.vote(self.bot.core, piece, user_id=interaction.user.id, up=up)
        thumb = "👍" if votes.thumbs_up else "👎"
        if votes.previous == votes.value:
            said = f"You already voted {thumb} on this piece."
        elif votes.previous is None:
            said = f"Thanks: your {thumb} is recorded."
        else:
            said = f"Changed your vote to {thumb}."
        await reply(interaction, f"{said} This piece: 👍 {votes.up} · 👎 {votes.down}.")


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(PiecesCog(bot))
