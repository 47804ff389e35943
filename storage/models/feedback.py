"""Members' votes on delivered pieces (bot/discord/cogs/pieces.py, storage/feedback.py, migration 0011)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class Vote(Base):
    """A member's 👍 (+1) or 👎 (-1) on a delivered piece: one per member per piece, changeable (`updated_at`).

    Not part of the request's chained record: a vote is an opinion about the record, and changes."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"))
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("request_id", "user_id", name="uq_votes_request_user"),
        Index("ix_votes_guild_user", "guild_id", "user_id"),
    )
