"""Provenance tables: a request is a row from the moment it arrives; each later step adds rows beside it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class RequestStatus(enum.StrEnum):
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


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Request(Base):
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

    __table_args__ = (
        Index("ix_requests_guild_created", "guild_id", "created_at"),
        Index("ix_requests_user_created", "user_id", "created_at"),
        Index("ix_requests_status", "status"),
        # Audit queries (storage/audit.py, migration 0005): one member's requests in a guild, newest first;
        # counts by status over a period.
        Index("ix_requests_guild_user_created", "guild_id", "user_id", "created_at"),
        Index("ix_requests_guild_status_created", "guild_id", "status", "created_at"),
    )


class Generation(Base):
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


class Verdict(Base):
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


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # message | file | notice


class GuardrailSetting(Base):
    """One moderator setting (`guardrails/policy.py` keys: rating, threshold.<category>, action.<rail>,
    review_channel) for a whole guild (`channel_id` NULL) or for one channel."""

    __tablename__ = "guardrail_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_guardrail_settings_scope", "guild_id", "channel_id", "key", unique=True),)


class MisinfoEntry(Base):
    """A false claim and its correction a guild's moderators added; removal keeps the row (who, when)."""

    __tablename__ = "misinfo_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    claim: Mapped[str] = mapped_column(Text)
    correction: Mapped[str] = mapped_column(Text)
    added_by: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_by: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column()


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Review(Base):
    """An output held for a moderator: what was held, why, where it was posted for review, and the decision."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)
    review_channel_id: Mapped[int] = mapped_column(BigInteger)
    review_message_id: Mapped[int | None] = mapped_column(BigInteger)
    rail: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.PENDING)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column()

    # `/audit message` on a review post (migration 0005).
    __table_args__ = (Index("ix_reviews_review_message_id", "review_message_id"),)


class ModerationAction(Base):
    """Who changed what and when: configuration changes now, review outcomes and overrides later."""

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_hash: Mapped[str | None] = mapped_column(String(64))


class ChainEntry(Base):
    """One link of a guild's append-only hash chain (storage/chain.py): a record's digest, in order.

    `chain` is the guild id (0 for requests from outside any guild: terminal mode). Leaf and link hashes are
    domain-separated as in RFC 6962: leaf = H(0x00 || entry), link = H(0x01 || previous link || leaf)."""

    __tablename__ = "chain_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # request | delivery | moderation | erasure
    record_id: Mapped[str] = mapped_column(String(64))
    record_digest: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_chain_entries_chain_seq"),
        Index("ix_chain_entries_record", "kind", "record_id"),
    )


class ChainHead(Base):
    """The last link of each chain: appends lock this row, so two processes never fork a chain."""

    __tablename__ = "chain_heads"

    chain: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))


class ChainCheckpoint(Base):
    """A chain's link hash every `CHECKPOINT_EVERY` entries: `storyloom audit verify` prints the latest ones so
    operators can keep them elsewhere; a rewritten history no longer matches a checkpoint kept outside."""

    __tablename__ = "chain_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_chain_checkpoints_chain_seq"),)


class PolicyVersion(Base):
    """What a policy hash stands for: the rails, versions, thresholds and actions it digests. The hash is the
    SHA-256 of this canonical JSON (guardrails/stack.py), so a row proves itself."""

    __tablename__ = "policy_versions"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
