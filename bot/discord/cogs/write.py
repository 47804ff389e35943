"""The creative commands: `/write` and `/continue`."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.cogs.guardrails import channel_policy
from bot.discord.cogs.pieces import piece_view
from bot.core.admission import Refusal
from bot.core.request import Author, WriteJob
from bot.core.prompts import KINDS
from bot.discord.delivery import InteractionSink
from bot.core.server_settings import choices_for, gate
from guardrails.policy import Policy
from storage.queries import PastOutput, last_output, output_for_message

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

_MESSAGE_LINK = re.compile(r"(?:channels/(?:\d+|@me)/(\d+)/)?(\d{15,21})\s*$")

NOT_FOUND = Refusal("message_not_found", "I can't find that message here. Use a link to a message in this server.")
KIND_CHOICES = [app_commands.Choice(name=name, value=name) for name in KINDS]
LENGTH_CHOICES = [app_commands.Choice(name=name, value=name) for name in ("short", "medium", "long")]


def author_of(interaction: discord.Interaction, policy: Policy) -> Author:
    return Author(
        interface="discord",
        user_id=interaction.user.id,
        user_name=str(interaction.user),
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        policy=policy,
        locale=str(interaction.locale),
    )


class WriteCog(commands.Cog, name="Write"):
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
        choices = await choices_for(self.bot, interaction.guild_id)  # the server's defaults fill what was not given
        job = WriteJob(
            command="write",
            kind=kind.value,
            prompt=about,
            genre=genre if genre is not None else choices.genre,
            tone=tone if tone is not None else choices.tone,
            length=length.value if length else choices.length or "medium",
        )
        await self.run(interaction, job)

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
        job = WriteJob(
            command="continue",
            kind=previous.kind if previous else None,
            prompt=direction,
            previous_text=previous.text if previous else None,
            previous_checked=bool(previous and previous.request_id),
            parent_request_id=(previous.request_id or None) if previous else None,
        )
        if previous is None and message:  # refused through the pipeline, so the attempt is recorded too
            job.refused = NOT_FOUND
        await self.run(interaction, job)

    async def _find_previous(self, interaction: discord.Interaction, message: str | None) -> PastOutput | None:
        core = self.bot.core
        await core.recorder.flush()
        if not message:
            return await last_output(core.database, guild_id=interaction.guild_id, user_id=interaction.user.id)
        match = _MESSAGE_LINK.search(message.strip())
        if match is None:
            return None
        message_id = int(match.group(2))
        ours = await output_for_message(core.database, guild_id=interaction.guild_id, message_id=message_id)
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
        return PastOutput("", None, found.content) if found.content else None

    async def run(self, interaction: discord.Interaction, job: WriteJob) -> None:
        """Through the server's gate (channels, roles, the shared rate limit) and the pipeline; a delivered piece
        gets its buttons (bot/discord/cogs/pieces.py). A refusal at the gate is recorded like any other."""
        passed = await gate(self.bot, interaction)
        if passed.refused is not None and job.refused is None:
            job.refused = passed.refused
        sink = InteractionSink(interaction, self.bot.core.settings.stream_edit_interval_s, buttons=piece_view)
        policy = await channel_policy(self.bot, interaction)
        # The shared limiter above counted this request; the pipeline's in-process one must not count it again.
        author = replace(author_of(interaction, policy), exempt_from_rate_limit=passed.counted)
        await self.bot.core.pipeline.run(author, job, sink)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(WriteCog(bot))
