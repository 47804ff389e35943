"""Outputs held for a moderator's review: created when the pipeline holds one, decided once by a button."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.chain import chain_request
from storage.models import Review, ReviewStatus, utcnow


async def create_review(
    database: AsyncEngine,
    *,
    request_id: str,
    guild_id: int,
    channel_id: int,
    author_id: int,
    review_channel_id: int,
    rail: str,
    category: str | None,
    text: str,
) -> int:
    async with database.begin() as connection:
        result = await connection.execute(
            insert(Review).values(
                request_id=request_id,
                guild_id=guild_id,
                channel_id=channel_id,
                author_id=author_id,
                review_channel_id=review_channel_id,
                rail=rail,
                category=category,
                text=text,
            )
        )
    return int(result.inserted_primary_key[0])


async def set_review_message(database: AsyncEngine, review_id: int, message_id: int) -> None:
    async with database.begin() as connection:
        await connection.execute(update(Review).where(Review.id == review_id).values(review_message_id=message_id))


async def get_review(database: AsyncEngine, review_id: int) -> Review | None:
    async with database.connect() as connection:
        row = (await connection.execute(select(Review).where(Review.id == review_id))).first()
    return Review(**row._mapping) if row is not None else None


async def decide_review(database: AsyncEngine, review_id: int, *, approve: bool, user_id: int) -> bool:
    """Approve or reject a pending review; False when it was already decided (two moderators clicking at once)."""
    status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    async with database.begin() as connection:
        result = await connection.execute(
            update(Review)
            .where(Review.id == review_id, Review.status == ReviewStatus.PENDING)
            .returning(Review.request_id)
            .values(status=status, decided_by=user_id, decided_at=utcnow())
        )
        decided = result.scalar_one_or_none()
        if decided is not None:
            await chain_request(connection, decided)
    return decided is not None
