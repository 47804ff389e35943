"""The creative commands: `/write` and `/continue`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import pieces
from bot.core.admission import Refusal
from bot.core.request import WriteJob
from bot.core.server_settings import choices_for
from bot.discord.choices import KIND_CHOICES, LENGTH_CHOICES
from bot.discord.writing import write

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

_MESSAGE_LINK = re.compile(r"(?:channels/(?:\d+|@me)/(\d+)/)?(\d{15,21})\s*$")

NOT_FOUND = Refusal("message_not_found", "I can't find that message here. Use a link to a message in this server.")


class WriteCog(commands.Cog, name="Write"):
    """`/write` (a new piece, the server's defaults filling the options not given) and `/continue` (the member's
    last piece here, a given Storyloom message, or someone's own message in this channel). Both go through the
    server's gate and the pipeline (bot/discord/writing.py)."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    @app_commands.command(name="write", description="Write a story, poem, lyrics, script scene, character or scene.")
    @app_commands.describe(
        kind="What to write",
        about="What it is about",
        genre="For example fantasy, noir, science fiction",
        tone="For example hopeful, eerie, funny",
        length="How long",
    )
    @app_commands.choices(kind=KIND_CHOICES, length=LENGTH_CHOICES)
    async def write(
        self,
        interaction: discord.Interaction,
        kind: app_commands.Choice[str],
        about: str,
        genre: app_commands.Range[str, 0, 100] | None = None,
        tone: app_commands.Range[str, 0, 100] | None = None,
        length: app_commands.Choice[str] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        choices = await choices_for(self.bot.core, interaction.guild_id)  # the server's defaults fill what was not given
        job = WriteJob(
            command="write",
            kind=kind.value,
            prompt=about,
            genre=genre if genre is not None else choices.genre,
            tone=tone if tone is not None else choices.tone,
            length=length.value if length else choices.length or "medium",
        )
        await write(self.bot.core, interaction, job)

    @app_commands.command(name="continue", description="Continue your last piece, or a given Storyloom message.")
    @app_commands.describe(
        message="A link to (or the id of) the message to continue; default: your last piece here",
        direction="Where it should go next",
    )
    async def continue_(
        self,
        interaction: discord.Interaction,
        message: str | None = None,
        direction: str | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        previous = await self._find_previous(interaction, message)
        job = pieces.continuation(previous, direction)
        if previous is None and message:  # refused through the pipeline, so the attempt is recorded too
            job.refused = NOT_FOUND
        await write(self.bot.core, interaction, job)

    async def _find_previous(self, interaction: discord.Interaction, message: str | None) -> pieces.PastOutput | None:
        core = self.bot.core
        if not message:
            return await pieces.last_piece(core, guild_id=interaction.guild_id, user_id=interaction.user.id)
        match = _MESSAGE_LINK.search(message.strip())
        if match is None:
            return None
        message_id = int(match.group(2))
        ours = await pieces.piece_posted_as(core, guild_id=interaction.guild_id, message_id=message_id)
        if ours is not None:
            return ours
        # Someone's own writing in this channel can be continued too; it passes the input rails like a prompt.
        channel = interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            return None
        try:
            found = await channel.fetch_message(message_id)
        except (discord.NotFound, discord.Forbidden, discord.HTTPException):
            return None
        return pieces.members_text(found.content) if found.content else None


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(WriteCog(bot))
