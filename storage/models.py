"""Provenance tables: a request is a row from the moment it arrives; each later step adds rows beside it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false,
)  # fmt: skip
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were written in UTC (PostgreSQL keeps the zone)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


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
    instance: Mapped[str | None] = mapped_column(String(64))
    """The bot process that took the request (`Settings.effective_instance`), where several share the database."""
    lease_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The lease (`instance_leases`) of the very process that took it: two processes of one name never share one,
    so a process starting closes only requests whose own process is gone (storage/leases.py)."""

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
    replicas: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """The engine replicas the generation went through when one failed ([{"replica", "error", "shown_chars"}, ...,
    {"replica"} that finished]); NULL when the first replica served it all, or the engine has no replicas."""


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


# -- audit counters (storage/audit_counters.py, migration 0012): `/audit stats` from a few rows, not a scan -------
# Kept by the recorder in the same transaction as the rows they count. `guild_id` 0: outside any guild; `day`: the
# UTC date 'YYYY-MM-DD' of the counted row's `created_at`.


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


class InstanceLease(Base):
    """One running bot process: held while it runs (renewed every `storage.leases.RENEW_S`), deleted on a clean
    stop. A lease that is not renewed within its time, or whose process is gone from this machine, is dead."""

    __tablename__ = "instance_leases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    """The host name, for people reading the table."""
    machine: Mapped[str] = mapped_column(String(200))
    """Boot id and PID namespace: processes with the same value can check each other's pid directly."""
    pid: Mapped[int] = mapped_column(Integer)
    process_start: Mapped[str | None] = mapped_column(String(32))
    """The process's start time as the kernel counts it, so a reused pid is not taken for the process."""
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)


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


# -- story games (bot/core/story, storage/stories.py) ---------------------------------------------------------------


class StoryStatus(enum.StrEnum):
    OPEN = "open"
    ENDED = "ended"


class StoryMode(enum.StrEnum):
    ROUND_ROBIN = "round-robin"  # players in join order; a turn passes after `turn_timeout_s`
    FREE = "free"  # anyone, any time
    VOTE = "vote"  # anyone, any time; AI turns always come as choices the players vote on


class PlayerStatus(enum.StrEnum):
    ACTIVE = "active"
    LEFT = "left"
    KICKED = "kicked"


class TurnStatus(enum.StrEnum):
    KEPT = "kept"  # part of the story
    UNDONE = "undone"  # taken back by the host or a moderator
    NOT_CHOSEN = "not_chosen"  # an AI choice the vote passed over
    PENDING = "pending"  # an AI choice while its vote is open
    BLOCKED = "blocked"  # refused by the rails (a human turn; the reason says why)
    SKIPPED = "skipped"  # a round-robin turn passed: by the player, the host, or the timeout


class StorySession(Base):
    """One collaborative story in a channel or thread: its settings, whose turn it is, and its rolling summary."""

    __tablename__ = "story_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    """Where it is played when the front end opened a thread for it; commands there address this session."""
    host_id: Mapped[int] = mapped_column(BigInteger)
    host_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    premise: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16), default=StoryMode.ROUND_ROBIN)
    rating: Mapped[str] = mapped_column(String(8))
    lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    veils: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(8), default=StoryStatus.OPEN)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    take_messages: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Plain messages in its thread are turns too (Discord, with the message-content intent)."""
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    """Kept turns."""
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    """The last turn number given out (every turn row has one, kept or not)."""
    next_player_id: Mapped[int | None] = mapped_column(BigInteger)
    turn_deadline: Mapped[datetime | None] = mapped_column()
    turn_timeout_s: Mapped[int | None] = mapped_column(Integer)
    vote_timeout_s: Mapped[int] = mapped_column(Integer, default=300)
    summary: Mapped[str | None] = mapped_column(Text)
    summary_through: Mapped[int] = mapped_column(Integer, default=0)
    """The turn number the summary covers up to."""
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped by every change to the session; the bump is each change's first statement, so it takes the row's
    write lock (PostgreSQL) or the database's (SQLite) and bot processes sharing the database change a session one
    at a time (storage/stories.py: `claim`)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_story_sessions_place", "guild_id", "channel_id", "status"),
        Index("ix_story_sessions_thread", "thread_id"),
        Index("ix_story_sessions_deadline", "status", "turn_deadline"),
    )


class StoryPlayer(Base):
    __tablename__ = "story_players"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("story_sessions.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))
    join_order: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default=PlayerStatus.ACTIVE)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("session_id", "user_id", name="uq_story_players_session_user"),)


class StoryTurn(Base):
    """A turn: a member's text, or an AI continuation (with the request that wrote it), and the turn it continues."""

    __tablename__ = "story_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("story_sessions.id"))
    number: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    """The member who wrote it; NULL for the AI."""
    author_name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The provenance request: the AI's generation, or the record of a member's turn and its input verdicts."""
    parent_turn_id: Mapped[int | None] = mapped_column(ForeignKey("story_turns.id"))
    """The kept turn this one continues."""
    choice_set_id: Mapped[int | None] = mapped_column(ForeignKey("story_choice_sets.id"), index=True)
    choice_index: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=TurnStatus.KEPT)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "number", name="uq_story_turns_session_number"),)


class StoryChoiceSet(Base):
    """AI continuations offered for a vote: one vote per player; the tie-break rule is stored with the set."""

    __tablename__ = "story_choice_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("story_sessions.id"), index=True)
    requested_by: Mapped[int] = mapped_column(BigInteger)
    parent_turn_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    deadline: Mapped[datetime] = mapped_column()
    tie_break: Mapped[str] = mapped_column(String(16), default="earliest")
    chosen_turn_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(16))
    """all_voted | deadline | host | moderator"""


class StoryVote(Base):
    __tablename__ = "story_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    choice_set_id: Mapped[int] = mapped_column(ForeignKey("story_choice_sets.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    turn_id: Mapped[int] = mapped_column(ForeignKey("story_turns.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("choice_set_id", "user_id", name="uq_story_votes_set_user"),)


# -- members' feedback and servers' choices (bot/discord/cogs/pieces.py, bot/discord/cogs/settings.py, migration 0011) ----------


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


class ServerSetting(Base):
    """A server's own choice for the bot (`/settings`): defaults, house style, where and by whom it may be used,
    its rate limit. Keys are listed in bot/server_settings.py; changes are recorded as moderation actions."""

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
