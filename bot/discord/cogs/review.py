"""Hold for review: a held output goes to the guild's review channel with Approve / Reject buttons.

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
from discord.ext import commands

from bot.core.replies import disclosure, reference
from bot.core.held import Held
from bot.core.visible import visible
from bot.discord.delivery import NO_PINGS, split_for_discord
from bot.discord.moderators import is_moderator
from storage.models import RequestStatus
from storage.policies import record_action
from storage.reviews import create_review, decide_review, get_review, set_review_message

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

PREVIEW_CHARS = 1200  # past this the held text goes as a file: the review post must stay under 2,000


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:review:(?P<decision>approve|reject):(?P<id>[0-9]+)",
):
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
            await interaction.response.send_message(
                "Only moderators (Manage Messages or the moderator role) can decide on held pieces.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Review")  # type: ignore[attr-defined]
        await cog.decide(interaction, self.review_id, approve=self.approve)


def review_view(review_id: int, *, decided: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton("approve", review_id, disabled=decided))
    view.add_item(ReviewButton("reject", review_id, disabled=decided))
    return view


class ReviewCog(commands.Cog, name="Review"):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReviewButton)
        self.bot.core.pipeline.reviews = self

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReviewButton)
        if self.bot.core.pipeline.reviews is self:
            self.bot.core.pipeline.reviews = None

    # -- the pipeline's ReviewDesk ------------------------------------------------------------------------------

    async def hold(self, held: Held) -> bool:
        author, verdict = held.author, held.verdict
        review_channel_id = author.policy.review_channel_id
        if author.guild_id is None or author.channel_id is None or review_channel_id is None:
            return False
        core = self.bot.core
        await core.recorder.flush()  # the review row refers to the request row
        review_id = await create_review(
            core.database,
            request_id=held.request_id,
            guild_id=author.guild_id,
            channel_id=author.channel_id,
            author_id=author.user_id,
            review_channel_id=review_channel_id,
            rail=verdict.rail,
            category=verdict.category,
            text=held.text,
        )
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
            await decide_review(core.database, review_id, approve=False, user_id=self.bot.user.id if self.bot.user else 0)
            return False
        await set_review_message(core.database, review_id, message.id)
        return True

    # -- a moderator's click ---------------------------------------------------------------------------------

    async def decide(self, interaction: discord.Interaction, review_id: int, *, approve: bool) -> None:
        core = self.bot.core
        review = await get_review(core.database, review_id)
        if review is None or review.guild_id != interaction.guild_id:
            await interaction.response.send_message("I have no such review.", ephemeral=True, allowed_mentions=NO_PINGS)
            return
        if not await decide_review(core.database, review_id, approve=approve, user_id=interaction.user.id):
            decided = await get_review(core.database, review_id)
            assert decided is not None
            await interaction.response.send_message(
                f"Already {decided.status} by <@{decided.decided_by}>.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        outcome = f"\n**{'Approved' if approve else 'Rejected'}** by <@{interaction.user.id}>."
        posted = interaction.message.content if interaction.message else ""
        await interaction.response.edit_message(
            content=posted[: 2000 - len(outcome)] + outcome,
            view=review_view(review_id, decided=True),
            allowed_mentions=NO_PINGS,
        )

        if approve:
            told = await self._post_approved(review.channel_id, review.guild_id, review.author_id, review.request_id, review.text)
            core.recorder.request_status(review.request_id, RequestStatus.DELIVERED, f"review #{review_id}: approved")
        else:
            told = await self._tell_rejected(review.author_id, review.request_id)
            core.recorder.request_status(review.request_id, RequestStatus.BLOCKED, f"review #{review_id}: rejected")
        await record_action(
            core.database,
            guild_id=review.guild_id,
            channel_id=review.channel_id,
            user_id=interaction.user.id,
            action="review_approved" if approve else "review_rejected",
            details={"review": review_id, "request_id": review.request_id, "author_told": told},
        )

    async def _post_approved(self, channel_id: int, guild_id: int, author_id: int, request_id: str, text: str) -> bool:
        """Post the piece in the channel it was asked in, addressed (and only that ping) to its author."""
        intro = f"<@{author_id}>, a moderator approved your piece:\n\n"
        parts = split_for_discord(intro + text, disclosure(request_id))
        channel = self.bot.messageable(channel_id, guild_id)
        author_only = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(author_id)])
        try:
            for index, part in enumerate(parts):
                message = await channel.send(part, allowed_mentions=author_only if index == 0 else NO_PINGS)
                self.bot.core.recorder.delivery(
                    request_id=request_id, channel_id=channel_id, message_id=message.id, kind="message"
                )
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


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(ReviewCog(bot))
