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



class Base(DeclarativeBase):
    """Every table's base: `dict[str, Any]` columns are JSON, datetimes keep their zone."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}
