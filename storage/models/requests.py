"""A request and the rows each later step adds beside it: generations, verdicts, deliveries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class RequestStatus(enum.StrEnum):
    """Where a request stands: open while generating, then exactly one end state."""

    PENDING = "pending"
    GENERATING = "generating"
    DELIVERED = "delivered"
    BLOCKED = "blocked"
    REJECTED = "rejected"  # refused before generation: bad input, rate limit, busy
    FAILED = "failed"
    HELD = "held"  # waiting for a moderator's review (storage.models.Review)
    INTERRUPTED = "interrupted"  # the process stopped while the request was open

    @property
    def is_open(self) -> bool:
        return self in (RequestStatus.PENDING, RequestStatus.GENERATING)


class Request(Base):
    """A member's request as it arrived: who, where, which command and options; its status follows it to the end."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    interface: Mapped[str] = mapped_column(String(16))  # discord | local
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(100))
    command: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompt: Mapped[str | None] = mapped_column(Text)
    parent_request_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(String(200))
    policy_hash: Mapped[str | None] = mapped_column(String(64))
    instance: Mapped[str | None] = mapped_column(String(64))
    """The bot process that took the request (`Settings.effective_instance`), where several share the database."""
    lease_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The lease (`instance_leases`) of the very process that took it: two processes of one name never share one,
    so a process starting closes only requests whose own process is gone (storage/leases.py)."""

    __table_args__ = (
        Index("ix_requests_guild_created", "guild_id", "created_at"),
        Index("ix_requests_user_created", "user_id", "created_at"),
        Index("ix_requests_status", "status"),
        # Audit queries (storage/audit, migration 0005): one member's requests in a guild, newest first;
        # counts by status over a period.
        Index("ix_requests_guild_user_created", "guild_id", "user_id", "created_at"),
        Index("ix_requests_guild_status_created", "guild_id", "status", "created_at"),
    )


class Generation(Base):
    """One attempt of the engine at a request: model, parameters, prompt, the raw and shown output, timings."""

    __tablename__ = "generations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    engine: Mapped[str] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    template_version: Mapped[str] = mapped_column(String(32))
    rendered_prompt: Mapped[str | None] = mapped_column(Text)
    raw_output: Mapped[str | None] = mapped_column(Text)
    shown_output: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)
    replicas: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """The engine replicas the generation went through when one failed ([{"replica", "error", "shown_chars"}, ...,
    {"replica"} that finished]); NULL when the first replica served it all, or the engine has no replicas."""


class Verdict(Base):
    """One rail's decision on a request's input or on a chunk of its output, with scores, thresholds and policy hash."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    generation_id: Mapped[str | None] = mapped_column(ForeignKey("generations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stage: Mapped[str] = mapped_column(String(8))  # input | output
    rail: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sentence: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[str | None] = mapped_column(Text)
    chunk_index: Mapped[int | None] = mapped_column(Integer)
    policy_hash: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)

    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    """The request's guild, repeated so a guild's verdicts are one index range (audit queries, migration 0005)."""

    __table_args__ = (
        # /audit flagged [category]: a guild's non-pass verdicts lead to their requests.
        Index("ix_verdicts_guild_decision", "guild_id", "decision", "category", "created_at", "request_id"),
        # /audit stats: counts by rail and decision over a period, in index order, from the index alone.
        Index("ix_verdicts_guild_rail", "guild_id", "rail", "decision", "created_at"),
    )


NON_PASS = ("block", "redact", "flag", "error")
"""Verdict decisions a moderator looks at: anything but pass (and skip)."""


class Delivery(Base):
    """A message, file or notice the front end posted for a request."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # message | file | notice
