"""Audit counters (storage/audit_counters.py, migration 0012): `/audit stats` from a few rows, not a scan.

Kept by the recorder in the same transaction as the rows they count. `guild_id` 0: outside any guild; `day`: the
UTC date 'YYYY-MM-DD' of the counted row's `created_at`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AuditRequestCount(Base):
    """Requests by guild, day of arrival and current status (a status change moves one from a status to another)."""

    __tablename__ = "audit_request_counts"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AuditVerdictCount(Base):
    """Verdict rows by guild, day, rail, decision and category ('' for none)."""

    __tablename__ = "audit_verdict_counts"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    rail: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AuditFlaggedCount(Base):
    """Flagged requests (with a non-pass verdict) by guild and the day of their latest non-pass verdict: a request
    counts once, on one day, so a period's flagged requests are a sum (see audit_counters.counted_stats)."""

    __tablename__ = "audit_flagged_counts"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AuditMember(Base):
    """Each member who made a request in a guild, with the day of their latest one: distinct members since a day
    are the rows from that day on."""

    __tablename__ = "audit_members"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_day: Mapped[str] = mapped_column(String(10))

    __table_args__ = (
        Index("ix_audit_members_guild_day", "guild_id", "last_day"),
        Index("ix_audit_members_user", "user_id", "last_day"),
    )
