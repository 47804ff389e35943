"""Buttons under every delivered piece: Continue, Another take, 👍 and 👎.

They are `DynamicItem`s whose custom_id carries the request id (`storyloom:piece:<action>:<request id>`), so they
work after a restart without the bot remembering any view, in any process sharing the database. Each click looks
the piece up in this server first: an erased, held, blocked or unknown piece gets a short private answer and
nothing else. Continue and Another take go through the same gate and pipeline as `/continue` and `/write`
(recorded, checked, streamed, with their own buttons); Another take is the same request written again with a new
seed, recorded with `options.derived_from` naming the first. A vote is one per member per piece; clicking the other
thumb changes it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.request import WriteJob
from bot.discord.delivery import NO_PINGS
from bot.core.server_settings import choices_for, places_of, role_ids_of
from storage.feedback import DOWN, UP, Piece, cast_vote, find_piece, refusal_for

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

ACTIONS = {
    "continue": ("Continue", None, discord.ButtonStyle.primary),
    "retake": ("Another take", None, discord.ButtonStyle.secondary),
    "up": (None, "👍", discord.ButtonStyle.secondary),
    "down": (None, "👎", discord.ButtonStyle.secondary),
}


class PieceButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:piece:(?P<action>continue|retake|up|down):(?P<id>[0-9a-f]{32})",
):
    def __init__(self, action: str, request_id: str) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"storyloom:piece:{action}:{request_id}")
        )
        self.action = action
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> PieceButton:
        return cls(match["action"], match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog: PiecesCog = interaction.client.get_cog("Pieces")  # type: ignore[attr-defined]
        try:
            await cog.clicked(interaction, self.action, self.request_id)
        except Exception:  # a button has no command tree to catch it: the member still gets a short answer
            log.exception("piece button %s on %s failed", self.action, self.request_id)
            message = "Something went wrong on my side. Please try again."
            with contextlib.suppress(discord.HTTPException):
                if interaction.response.is_done():
                    await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_PINGS)
                else:
                    await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)


def piece_view(request_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(PieceButton(action, request_id))
    return view


class PiecesCog(commands.Cog, name="Pieces"):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PieceButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PieceButton)

    async def _tell(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    async def clicked(self, interaction: discord.Interaction, action: str, request_id: str) -> None:
        core = self.bot.core
        await core.recorder.flush()  # a piece delivered a moment ago is in the database before we look
        piece = await find_piece(core.database, guild_id=interaction.guild_id, request_id=request_id)
        refused = refusal_for(piece)
        if refused is not None or piece is None:
            await self._tell(interaction, refused or "I have no record of that piece in this server.")
            return
        if action in ("up", "down"):
            await self._vote(interaction, piece, UP if action == "up" else DOWN)
            return
        job = await self._job(interaction, action, piece)
        if job is None:
            return
        await interaction.response.defer(thinking=True)
        await self.bot.get_cog("Write").run(interaction, job)  # type: ignore[union-attr]

    async def _job(self, interaction: discord.Interaction, action: str, piece: Piece) -> WriteJob | None:
        if action == "continue":
            return WriteJob(
                command="continue",
                kind=piece.kind,
                prompt=None,
                previous_text=piece.shown,
                previous_checked=True,
                parent_request_id=piece.id,
            )
        options = piece.options
        if piece.command == "write":
            return WriteJob(
                command="write",
                kind=piece.kind,
                prompt=piece.prompt,
                genre=options.get("genre"),
                tone=options.get("tone"),
                length=options.get("length") or "medium",
                derived_from=piece.id,
            )
        if piece.command == "continue" and piece.parent_request_id:
            parent = await find_piece(
                self.bot.core.database, guild_id=interaction.guild_id, request_id=piece.parent_request_id
            )
            if refusal_for(parent) is None and parent is not None:
                return WriteJob(
                    command="continue",
                    kind=piece.kind,
                    prompt=piece.prompt,
                    previous_text=parent.shown,
                    previous_checked=True,
                    parent_request_id=parent.id,
                    derived_from=piece.id,
                )
            await self._tell(interaction, "I can't write that one again: the piece it continued is no longer usable.")
            return None
        await self._tell(interaction, "I can't write that one again from here; ask with `/write` or `/continue`.")
        return None

    async def _vote(self, interaction: discord.Interaction, piece: Piece, value: int) -> None:
        choices = await choices_for(self.bot, interaction.guild_id)
        refused = None if interaction.permissions.manage_guild else choices.refusal(places_of(interaction), role_ids_of(interaction))
        if refused is not None:
            await self._tell(interaction, refused.message)
            return
        previous, up, down = await cast_vote(
            self.bot.core.database, request_id=piece.id, guild_id=piece.guild_id, user_id=interaction.user.id, value=value
        )
        thumb = "👍" if value == UP else "👎"
        if previous == value:
            said = f"You already voted {thumb} on this piece."
        elif previous is None:
            said = f"Thanks: your {thumb} is recorded."
        else:
            said = f"Changed your vote to {thumb}."
        await self._tell(interaction, f"{said} This piece: 👍 {up} · 👎 {down}.")


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(PiecesCog(bot))
