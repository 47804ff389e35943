"""Starting, joining, leaving and ending a story game, and its status and export."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.core.story import StoryError
from bot.discord.choices import RATING_CHOICES, ROUND_ROBIN, STORY_MODE_CHOICES
from bot.discord.context import in_thread
from bot.discord.delivery import NO_PINGS, reply

from .base import StoryBase
from .views import status_text, story_file

log = logging.getLogger(__name__)

NO_MESSAGE_CONTENT = (
    "I can't read plain messages here: the bot runs without the message content intent (the operator switches it "
    "on in the developer portal and sets STORYLOOM_MESSAGE_CONTENT_INTENT=true). Start without messages, and use "
    "/story add."
)


class LifecycleMixin(StoryBase):
    """`/story start | join | leave | status | kick | end | export`."""

    @app_commands.command(name="start", description="Start a story: a thread for it, you host and play first")
    @app_commands.describe(
        title="The story's title",
        premise="Where it starts, e.g. two rivals stranded in a lighthouse",
        mode="round-robin (default): turns in join order; free: anyone any time; vote: AI turns are voted on",
        rating="At most the channel's rating",
        lines="Topics that must never appear, separated by commas",
        veils="Topics that may happen only off-screen, separated by commas",
        timeout="Seconds before an idle round-robin turn passes on",
        messages="Plain messages in the story's thread are turns too (needs the message content intent)",
    )
    @app_commands.choices(mode=STORY_MODE_CHOICES, rating=RATING_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 100],
        premise: app_commands.Range[str, 1, 1000],
        mode: app_commands.Choice[str] | None = None,
        rating: app_commands.Choice[str] | None = None,
        lines: app_commands.Range[str, 0, 500] | None = None,
        veils: app_commands.Range[str, 0, 500] | None = None,
        timeout: app_commands.Range[int, 10, 86400] | None = None,
        messages: bool = False,
    ) -> None:
        if messages and not self.bot.intents.message_content:
            await reply(interaction, NO_MESSAGE_CONTENT)
            return
        await interaction.response.defer(thinking=True)
        author = await self._author(interaction)
        here_in_thread = in_thread(interaction.channel)
        opened: list[Any] = []

        async def open_thread() -> int:
            reply = await interaction.edit_original_response(
                content=f"📖 **{' '.join(title.split())}** starts in the thread below: /story join there to play.",
                allowed_mentions=NO_PINGS,
            )
            thread = await reply.create_thread(name=" ".join(title.split())[:100], auto_archive_duration=1440)
            opened.append(thread)
            return thread.id

        try:
            view = await self.service.start(
                author, title, premise, mode=mode.value if mode else ROUND_ROBIN,
                rating=rating.value if rating else None, lines=lines, veils=veils, turn_timeout_s=timeout,
                thread_id=interaction.channel_id if here_in_thread else None,
                open_thread=None if here_in_thread else open_thread, take_messages=messages,
            )  # fmt: skip
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        thread = opened[0] if opened else interaction.channel
        status = await thread.send(status_text(view), allowed_mentions=NO_PINGS)
        try:
            await status.pin()
        except discord.HTTPException as error:
            log.info("could not pin the status of story %s: %s", view.id, error)
        await self.service.set_status_message(view.id, status.id)
        if here_in_thread:
            await interaction.edit_original_response(
                content=f"📖 **{view.title}** starts here: /story join to play.", allowed_mentions=NO_PINGS
            )

    @app_commands.command(name="join", description="Join the story in this thread")
    async def join(self, interaction: discord.Interaction) -> None:
        await self._simple(interaction, lambda a: self.service.join(a), "{name} joined the story.")

    @app_commands.command(name="leave", description="Leave the story in this thread")
    async def leave(self, interaction: discord.Interaction) -> None:
        await self._simple(interaction, lambda a: self.service.leave(a), "{name} left the story.")

    @app_commands.command(name="status", description="Players, whose turn it is, an open vote, lines and veils")
    async def status(self, interaction: discord.Interaction) -> None:
        try:
            view = await self.service.status(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await reply(interaction, status_text(view))
        await self.refresh(view)

    @app_commands.command(name="kick", description="Remove a player (host or moderator)")
    @app_commands.describe(member="The player to remove")
    async def kick(self, interaction: discord.Interaction, member: discord.Member) -> None:
        moderator = await self._moderator(interaction)
        await self._simple(
            interaction,
            lambda a: self.service.kick(a, member.id, moderator=moderator),
            f"{member.display_name} was removed from the story by {{name}}.",
        )

    @app_commands.command(name="end", description="End the story and post it (host or moderator)")
    async def end(self, interaction: discord.Interaction) -> None:
        author = await self._author(interaction)
        try:
            view = await self.service.end(author, moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self.refresh(view)
        markdown = await self.service.export(session_id=view.id)
        await reply(
            interaction, (f"{view.note}\n" if view.note else "") + f"📖 **{view.title}** has ended after {view.turn_count} turns. The story:",
            ephemeral=False, file=story_file(markdown),
        )  # fmt: skip

    @app_commands.command(name="export", description="The story so far as a Markdown file")
    async def export(self, interaction: discord.Interaction) -> None:
        try:
            markdown = await self.service.export(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await reply(interaction, "The story so far:", ephemeral=False, file=story_file(markdown))
