"""What every part of the story cog shares: who asks (and under which policy), short private refusals, and the
pinned status kept up to date."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.core.story import StoryError, StoryService, StoryView
from bot.discord.context import author
from bot.discord.delivery import NO_PINGS, reply
from bot.discord.moderators import is_moderator

from .views import status_text

if TYPE_CHECKING:
    from bot.core.request import Author
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)


class StoryBase:
    """The story cog's shared state and helpers; each mixin of this package builds on it."""

    bot: StoryloomBot
    service: StoryService

    async def _author(self, interaction: discord.Interaction) -> Author:
        return await author(self.bot.core, interaction)

    async def _moderator(self, interaction: discord.Interaction) -> bool:
        return await is_moderator(self.bot.core, interaction)

    async def _refuse(self, interaction: discord.Interaction, error: StoryError) -> None:
        """A refusal is short and for the member alone; a public placeholder goes first."""
        if interaction.response.is_done():
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
        await reply(interaction, str(error))

    async def refresh(self, view: StoryView | None) -> None:
        """Edit the session's pinned status message to match `view`."""
        if view is None or view.status_message_id is None:
            return
        channel = self.bot.messageable(view.thread_id or view.channel_id or 0, None)
        try:
            await channel.get_partial_message(view.status_message_id).edit(content=status_text(view), allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.info("could not update the status of story %s: %s", view.id, error)

    async def _refresh_id(self, session_id: int) -> None:
        await self.refresh(await self.service.view(session_id))

    async def _refresh_here(self, interaction: discord.Interaction) -> None:
        try:
            view = await self.service.status(await self._author(interaction))
        except StoryError:
            return
        await self.refresh(view)

    async def _simple(self, interaction: discord.Interaction, call: Any, said: str) -> None:
        """A service call that changes the session and is announced to the thread."""
        try:
            view = await call(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await reply(interaction, said.format(name=interaction.user.display_name), ephemeral=False)
        await self.refresh(view)
