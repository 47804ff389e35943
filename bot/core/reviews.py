"""Outputs held for a moderator, the storage side of the pipeline's `ReviewDesk`: a held output becomes a review,
a moderator's decision is taken once (the database decides races), and the outcome is recorded on the request and
in the moderation log. The front end that shows the review (Discord's review channel) calls these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.models import RequestStatus
from storage.reviews import create_review, decide_review, get_review, set_review_message

from bot.core import moderation

if TYPE_CHECKING:
    from bot.core.app import Core
    from bot.core.held import Held
    from storage.models import Review


@dataclass(frozen=True, slots=True)
class Decision:
    """A moderator's click: the review it was on (None: no such review in that server) and whether this click
    decided it (False: someone already had, `review` says who)."""

    review: Review | None
    decided: bool = False


async def open_review(core: Core, held: Held, review_channel_id: int) -> int:
    """The review for `held` (its number); the request row it refers to is written first."""
    author, verdict = held.author, held.verdict
    assert author.guild_id is not None and author.channel_id is not None
    await core.recorder.flush()
    return await create_review(
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


async def review_posted(core: Core, review_id: int, message_id: int) -> None:
    await set_review_message(core.database, review_id, message_id)


async def withdraw(core: Core, review_id: int, *, user_id: int) -> None:
    """Nowhere to show the review: it is rejected (by `user_id`, the bot) and the request stays blocked."""
    await decide_review(core.database, review_id, approve=False, user_id=user_id)


async def decide(core: Core, review_id: int, *, guild_id: int | None, approve: bool, user_id: int) -> Decision:
    review = await get_review(core.database, review_id)
    if review is None or review.guild_id != guild_id:
        return Decision(None)
    if not await decide_review(core.database, review_id, approve=approve, user_id=user_id):
        return Decision(await get_review(core.database, review_id))
    return Decision(review, decided=True)


async def record_decision(core: Core, review: Review, *, approve: bool, user_id: int, author_told: bool) -> None:
    """The request ends delivered or blocked, and the decision goes to the moderation log."""
    status = RequestStatus.DELIVERED if approve else RequestStatus.BLOCKED
    core.recorder.request_status(review.request_id, status, f"review #{review.id}: {'approved' if approve else 'rejected'}")
    await moderation.record(
        core,
        guild_id=review.guild_id,
        channel_id=review.channel_id,
        user_id=user_id,
        action="review_approved" if approve else "review_rejected",
        details={"review": review.id, "request_id": review.request_id, "author_told": author_told},
    )


def approved_delivery(core: Core, request_id: str, channel_id: int, message_id: int) -> None:
    """A message of an approved piece, posted in its channel."""
    core.recorder.delivery(request_id=request_id, channel_id=channel_id, message_id=message_id, kind="message")
