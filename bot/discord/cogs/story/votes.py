"""Votes on AI choices (`/story vote`, the Vote buttons) and the session timers: an idle round-robin turn passes
on, a vote past its deadline closes; what happened is posted in the thread."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import tasks

from bot.core import provenance
from bot.core.story import MAX_CHOICES, StoryError, StoryView, TurnResult
from bot.discord.delivery import NO_PINGS, reply

from .base import StoryBase
from .views import vote_view

log = logging.getLogger(__name__)

TIMER_INTERVAL_S = 15.0


class VotesMixin(StoryBase):
    """`/story vote`, the Vote buttons, and the timer loop."""

    @app_commands.command(name="vote", description="Vote for an AI choice, or close the vote (host or moderator)")
    @app_commands.describe(choice="The choice's number", close="Close the vote now (host or moderator)")
    async def vote(
        self,
        interaction: discord.Interaction,
        choice: app_commands.Range[int, 1, MAX_CHOICES] | None = None,
        close: bool = False,
    ) -> None:
        author = await self._author(interaction)
        try:
            before = await self.service.status(author)
            if close:
                result = await self.service.close_vote(author, moderator=await self._moderator(interaction))
            elif choice is None:
                raise StoryError("Give a choice's number, or close:True to close the vote.")
            else:
                result = await self.service.vote(author, choice)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._said_vote(interaction, before, result)

    async def vote_clicked(self, interaction: discord.Interaction, choice_set_id: int, choice: int) -> None:
        author = await self._author(interaction)
        try:
            before = await self.service.status(author)
            if before.vote is None or before.vote.choice_set_id != choice_set_id:
                raise StoryError("That vote has closed.")
            result = await self.service.vote(author, choice)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._said_vote(interaction, before, result)

    async def _said_vote(self, interaction: discord.Interaction, before: StoryView, result: Any) -> None:
        await reply(interaction, result.message, ephemeral=not result.closed)
        if result.closed and before.vote is not None and result.chosen is not None:
            await self._close_buttons(before, result.chosen.choice_index)
        await self.refresh(await self.service.view(before.id))

    async def _close_buttons(self, before: StoryView, chosen: int | None) -> None:
        """Disable the closed vote's buttons (the messages the pipeline recorded for each choice)."""
        assert before.vote is not None
        by_request = {c.request_id: c.choice_index for c in before.vote.choices}
        first = await provenance.first_messages(self.bot.core, list(by_request))  # the button sits on the first
        for request_id, posted in first.items():
            index = by_request[request_id]
            channel = self.bot.messageable(posted.channel_id, None)
            try:
                await channel.get_partial_message(posted.message_id).edit(
                    view=vote_view(before.vote.choice_set_id, index or 0, closed=True, chosen=index == chosen)
                )
            except discord.HTTPException as error:
                log.info("could not close vote buttons: %s", error)

    @tasks.loop(seconds=TIMER_INTERVAL_S)
    async def timers(self) -> None:
        await self.run_timers()

    @timers.before_loop
    async def _before_timers(self) -> None:
        await self.bot.wait_until_ready()

    @timers.error
    async def _timers_failed(self, error: BaseException) -> None:
        log.exception("story timers failed", exc_info=error)

    async def run_timers(self) -> None:
        """Apply due timers: an idle round-robin turn passes on, a vote past its deadline closes. Posts the outcome."""
        for session_id in await self.service.due():
            before = await self.service.view(session_id)
            try:
                result = await self.service.expire(session_id)
            except Exception:  # one broken session must not stop the others
                log.exception("could not expire story %s", session_id)
                continue
            if result is None or before is None:
                continue
            await self._announce(before, result)
            await self._refresh_id(session_id)

    async def _announce(self, before: StoryView, result: TurnResult) -> None:
        channel = self.bot.messageable(before.thread_id or before.channel_id or 0, None)
        try:
            await channel.send(result.message, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.info("could not post a timer's outcome for story %s: %s", before.id, error)
        if before.vote is not None and result.turn is not None and result.turn.choice_index is not None:
            await self._close_buttons(before, result.turn.choice_index)
