"""Story games (bot/core/story, storage/stories.py): sessions, players, turns, choice sets and their votes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class StoryStatus(enum.StrEnum):
    """Whether a story session is still being played."""

    OPEN = "open"
    ENDED = "ended"


class StoryMode(enum.StrEnum):
    """Who may take the next turn of a story."""

    ROUND_ROBIN = "round-robin"  # players in join order; a turn passes after `turn_timeout_s`
    FREE = "free"  # anyone, any time
    VOTE = "vote"  # anyone, any time; AI turns always come as choices the players vote on


class PlayerStatus(enum.StrEnum):
    """Whether a player is still in a story, and how they left it."""

    ACTIVE = "active"
    LEFT = "left"
    KICKED = "kicked"


class TurnStatus(enum.StrEnum):
    """What became of a turn."""

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
    """A member in a story session, in the order they joined (round-robin turns follow it)."""

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
    """A player's vote for one AI continuation of a choice set: one per player per set."""

    __tablename__ = "story_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    choice_set_id: Mapped[int] = mapped_column(ForeignKey("story_choice_sets.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    turn_id: Mapped[int] = mapped_column(ForeignKey("story_turns.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("choice_set_id", "user_id", name="uq_story_votes_set_user"),)
