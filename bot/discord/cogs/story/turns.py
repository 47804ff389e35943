"""Turns: a member's (`/story add`, or a plain message in a thread that takes them), passing and taking back a
turn, and the AI's (one streamed turn, or several choices put to a vote), and the recap."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.request import Author
from bot.core.policies import policy_at
from bot.core.story import MAX_CHOICES, StoryError
from bot.discord.context import in_thread, place_of
from bot.discord.delivery import NO_PINGS, InteractionSink, reply, split_for_discord

from .base import StoryBase
from .views import ChoiceSink, vote_view

log = logging.getLogger(__name__)


class TurnsMixin(StoryBase):
    """`/story add | skip | undo | ai | recap`, and plain messages as turns."""

    @app_commands.command(name="add", description="Write your turn")
    @app_commands.describe(text="Your turn: a few sentences")
    async def add(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 1500]) -> None:
        await interaction.response.defer(thinking=True)  # the rails take a moment
        try:
            result = await self.service.add_turn(await self._author(interaction), text)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        if result.status != "kept" or result.turn is None:
            await self._refuse(interaction, StoryError(result.message))
            return
        await interaction.edit_original_response(
            content=split_for_discord(result.turn.text, f"— *{result.turn.author_name}*")[0], allowed_mentions=NO_PINGS
        )
        await self._refresh_here(interaction)

    @app_commands.command(name="skip", description="Pass the turn (yours, or the host passes anyone's)")
    async def skip(self, interaction: discord.Interaction) -> None:
        try:
            result = await self.service.skip(await self._author(interaction), moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await reply(interaction, result.message, ephemeral=False)
        await self._refresh_here(interaction)

    @app_commands.command(name="undo", description="Take back the latest turn (host or moderator)")
    async def undo(self, interaction: discord.Interaction) -> None:
        try:
            result = await self.service.undo(await self._author(interaction), moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await reply(interaction, result.message, ephemeral=False)
        await self._refresh_here(interaction)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A member's plain message in a session thread that takes messages is their turn, by `/story add`'s rules.
        A refusal is a short reply that pings nobody; the message stays. Bots, commands and other places are ignored."""
        channel = message.channel
        if message.author.bot or message.guild is None or not in_thread(channel):
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        text = message.content.strip()
        addressed = text.startswith("<@") and self.bot.user in message.mentions
        if not text or text.startswith(("/", "!")) or addressed:
            return  # no content (no intent, or only attachments), or meant as a command
        if not await self.service.takes_messages(message.guild.id, channel.id):
            return
        policy = await policy_at(self.bot.core, place_of(message.guild.id, channel, channel.id))
        author = Author(
            interface="discord", user_id=message.author.id, user_name=str(message.author),
            guild_id=message.guild.id, channel_id=channel.id, policy=policy,
        )  # fmt: skip
        try:
            result = await self.service.add_turn(author, text)
            refusal = None if result.status == "kept" else result.message
        except StoryError as error:
            refusal = str(error)
        if refusal is not None:
            try:
                await message.reply(refusal[:300], allowed_mentions=NO_PINGS, mention_author=False)
            except discord.HTTPException as error:
                log.info("could not answer a refused story message: %s", error)
            return
        try:
            await self.refresh(await self.service.status(author))
        except StoryError:
            pass

    @app_commands.command(name="ai", description="An AI turn; several choices go to a vote")
    @app_commands.describe(choices="How many continuations to choose from (1-3)", direction="Where it should go")
    async def ai(
        self,
        interaction: discord.Interaction,
        choices: app_commands.Range[int, 1, MAX_CHOICES] | None = None,
        direction: app_commands.Range[str, 0, 300] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        author = await self._author(interaction)
        moderator = await self._moderator(interaction)
        try:
            count = self.service.choice_count((await self.service.status(author)).mode, choices)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        interval = self.bot.core.settings.stream_edit_interval_s
        sinks: list[ChoiceSink] = []
        thread = interaction.channel

        def sink_for(index: int) -> Any:
            if count == 1:
                return InteractionSink(interaction, interval)
            sinks.append(ChoiceSink(thread, f"**Choice {index}**", interval))
            return sinks[-1]

        try:
            result = await self.service.ai_turn(author, count, direction, moderator=moderator, sink_for=sink_for)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        if count == 1:  # the turn streamed into the reply (or its refusal went to the member alone)
            await self._refresh_here(interaction)
            return
        delivered = [sink for sink in sinks if sink.message is not None]
        if result.kept is not None:  # only one choice passed: it is the turn
            for sink in delivered:
                await sink.message.edit(content=sink.content("**AI turn**"), allowed_mentions=NO_PINGS)
            await interaction.edit_original_response(content=result.message, allowed_mentions=NO_PINGS)
        elif result.choices:
            view = await self.service.status(author)
            set_id = view.vote.choice_set_id if view.vote is not None else 0
            for choice in result.choices:  # matched by request: a choice the rails refused leaves no message
                sink = next((sink for sink in delivered if f"`{choice.request_id}`" in sink.footer), None)
                if sink is None or sink.message is None or choice.choice_index is None:
                    continue
                await sink.message.edit(
                    content=sink.content(f"**Choice {choice.choice_index}**"),
                    view=vote_view(set_id, choice.choice_index),
                    allowed_mentions=NO_PINGS,
                )
            closes = f" The vote closes <t:{int(view.vote.deadline.timestamp())}:R>." if view.vote else ""
            await interaction.edit_original_response(
                content=f"{len(result.choices)} choices are up for a vote: press Vote under the one you want "
                f"(one vote each).{closes}",
                allowed_mentions=NO_PINGS,
            )
        else:
            await self._refuse(interaction, StoryError(result.message[:300]))
        await self._refresh_here(interaction)

    @app_commands.command(name="recap", description="An AI summary of the story so far")
    async def recap(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        sink = InteractionSink(interaction, self.bot.core.settings.stream_edit_interval_s)
        try:
            await self.service.recap(await self._author(interaction), sink)
        except StoryError as error:
            await self._refuse(interaction, error)
