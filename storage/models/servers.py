"""A server's own choices (`/settings`, migration 0011) and its members' request counts for the shared rate limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class ServerSetting(Base):
    """A server's own choice for the bot (`/settings`): defaults, house style, where and by whom it may be used,
    its rate limit. Keys are listed in bot/core/server_settings.py; changes are recorded as moderation actions."""

    __tablename__ = "server_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_server_settings_guild_key", "guild_id", "key", unique=True),)


class RateCounter(Base):
    """Requests a member made in one minute in one server, shared by every bot process on the database
    (storage/ratelimit.py): one upsert per request."""

    __tablename__ = "rate_counters"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
