"""What every table shares: the declarative base, its column types, and UTC time as the tables keep it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were written in UTC (PostgreSQL keeps the zone)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


NO_GUILD = 0
"""Outside any guild, where a guild id is part of a key and cannot be NULL: the chain of requests from direct
messages (the terminal mode records as guild 1), their audit counters, their rate counters."""


def guild_key(guild_id: int | None) -> int:
    return NO_GUILD if guild_id is None else guild_id


class Base(DeclarativeBase):
    """Every table's base: `dict[str, Any]` columns are JSON, datetimes keep their zone."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}
