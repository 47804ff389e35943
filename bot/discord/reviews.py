"""Hold for review in Discord, the pipeline's `ReviewDesk`: a held output goes to the guild's review channel with
Approve / Reject buttons (bot/core/reviews.py keeps the review and records the decision).

The buttons are `DynamicItem`s whose custom_id carries the review's id, so they keep working after a restart
without the bot remembering any view. The decision is taken once (the database decides races), recorded as a
moderation action, and the author is told: an approved piece is posted in its channel addressed to them, a
rejected one is explained in a direct message.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING

import discord

from bot.core import reviews
from bot.core.held import Held
from bot.core.replies import disclosure, reference
from bot.core.visible import visible
from bot.discord.delivery import MESSAGE_LIMIT, NO_PINGS, reply, split_for_discord
from bot.discord.moderators import is_moderator

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

PREVIEW_CHARS = 1200  # past this the held text goes as a file: the review post must stay under MESSAGE_LIMIT


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:review:(?P<decision>approve|reject):(?P<id>[0-9]+)",
):
    """Approve or Reject under a held piece, for moderators; the bot's review desk acts on a click."""

    def __init__(self, decision: str, review_id: int, *, disabled: bool = False) -> None:
        approve = decision == "approve"
        super().__init__(
            discord.ui.Button(
                label="Approve" if approve else "Reject",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"storyloom:review:{decision}:{review_id}",
                disabled=disabled,
            )
        )
        self.approve = approve
        self.review_id = review_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ReviewButton:
        return cls(match["decision"], int(match["id"]))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await is_moderator(interaction.client.core, interaction):  # type: ignore[attr-defined]
            await reply(interaction, "Only moderators (Manage Messages or the moderator role) can decide on held pieces.")
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        desk: ReviewDesk = interaction.client.review_desk  # type: ignore[attr-defined]
        await desk.decide(interaction, self.review_id, approve=self.approve)


def review_view(review_id: int, *, decided: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton("approve", review_id, disabled=decided))
    view.add_item(ReviewButton("reject", review_id, disabled=decided))
    return view


class ReviewDesk:
    """The pipeline's `ReviewDesk` for Discord: posts held pieces for moderators and carries out their decisions."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    async def hold(self, held: Held) -> bool:
        author, verdict = held.author, held.verdict
        review_channel_id = author.policy.review_channel_id
        if author.guild_id is None or author.channel_id is None or review_channel_id is None:
            return False
        core = self.bot.core
        review_id = await reviews.open_review(core, held, review_channel_id)
        category = verdict.category or verdict.rail
        score, limit = verdict.scores.get(category, 0.0), verdict.thresholds.get(category, 0.0)
        header = (
            f"**Held for review** (#{review_id}) · {verdict.rail}: {category.replace('_', ' ')} {score:.2f}, "
            f"limit {limit:.2f}\nAsked by <@{author.user_id}> in <#{author.channel_id}> · request `{held.request_id}`"
        )
        if verdict.sentence:
            header += f"\nFlagged: > {visible(verdict.sentence.strip())[:300]}"
        files = []
        shown = visible(held.text, keep_newlines=True)  # control and bidi characters cannot reorder what is read
        if len(shown) > PREVIEW_CHARS:
            body = shown[:PREVIEW_CHARS] + "… *(the whole text is attached)*"
            files = [discord.File(io.BytesIO(held.text.encode()), filename=f"held-{review_id}.md")]
        else:
            body = shown
        try:
            message = await self.bot.messageable(review_channel_id, author.guild_id).send(
                f"{header}\n\n{body}", view=review_view(review_id), files=files, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as error:
            log.warning("could not post review %s to channel %s: %s", review_id, review_channel_id, error)
            await reviews.withdraw(core, review_id, user_id=self.bot.user.id if self.bot.user else 0)
            return False
        await reviews.review_posted(core, review_id, message.id)
        return True

    async def decide(self, interaction: discord.Interaction, review_id: int, *, approve: bool) -> None:
        """A moderator's click: decided once, the review post marked, the author told, all of it recorded."""
        core = self.bot.core
        decision = await reviews.decide(
            core, review_id, guild_id=interaction.guild_id, approve=approve, user_id=interaction.user.id
        )
        review = decision.review
        if review is None:
            await reply(interaction, "I have no such review.")
            return
        if not decision.decided:
            await reply(interaction, f"Already {review.status} by <@{review.decided_by}>.")
            return
        outcome = f"\n**{'Approved' if approve else 'Rejected'}** by <@{interaction.user.id}>."
        posted = interaction.message.content if interaction.message else ""
        await interaction.response.edit_message(
            content=posted[: MESSAGE_LIMIT - len(outcome)] + outcome,
            view=review_view(review_id, decided=True),
            allowed_mentions=NO_PINGS,
        )
        if approve:
            told = await self._post_approved(review.channel_id, review.guild_id, review.author_id, review.request_id, review.text)
        else:
            told = await self._tell_rejected(review.author_id, review.request_id)
        await reviews.record_decision(core, review, approve=approve, user_id=interaction.user.id, author_told=told)

    async def _post_approved(self, channel_id: int, guild_id: int, author_id: int, request_id: str, text: str) -> bool:
        """Post the piece in the channel it was asked in, addressed (and only that ping) to its author."""
        intro = f"<@{author_id}>, a moderator approved your piece:\n\n"
        parts = split_for_discord(intro + text, disclosure(request_id))
        channel = self.bot.messageable(channel_id, guild_id)
        author_only = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(author_id)])
        try:
            for index, part in enumerate(parts):
                message = await channel.send(part, allowed_mentions=author_only if index == 0 else NO_PINGS)
                reviews.approved_delivery(self.bot.core, request_id, channel_id, message.id)
        except discord.HTTPException as error:
            log.warning("could not post approved piece %s: %s", request_id, error)
            return False
        return True

    async def _tell_rejected(self, author_id: int, request_id: str) -> bool:
        """A direct message: a rejection is for the author alone. Closed DMs are recorded, not retried."""
        try:
            channel = await self.bot.create_dm(discord.Object(author_id))
            await channel.send(
                "A moderator reviewed the piece you asked me for and decided not to post it. "
                f"You are welcome to try a different prompt.\n{reference(request_id)}",
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as error:
            log.info("could not tell %s about rejected request %s: %s", author_id, request_id, error)
            return False
        return True
