"""What a story game's calls return: sessions, turns and votes as players see them, and each call's result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row

from bot.core.request import Outcome
from guardrails.rail import Verdict
from storage.chain import ERASED
from storage.models import StoryMode

AI_NAME = "AI"


@dataclass(frozen=True, slots=True)
class PlayerView:
    """A player of a session, and whether they are still in it (active, left, kicked)."""

    user_id: int
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class TurnView:
    """A turn as players see it, with who wrote it (`credit`) and the request that recorded it."""

    id: int
    number: int
    author_id: int | None
    author_name: str
    text: str
    status: str
    request_id: str | None
    parent_turn_id: int | None
    choice_index: int | None = None
    reason: str | None = None

    @property
    def credit(self) -> str:
        return self.author_name if self.author_id is not None else f"{AI_NAME} · request {self.request_id}"


@dataclass(frozen=True, slots=True)
class VoteView:
    """An open vote on the AI's choices: its deadline, the choices, and the votes so far."""

    choice_set_id: int
    deadline: datetime
    choices: tuple[TurnView, ...]
    counts: dict[int, int]
    """Votes per choice number (1-3)."""
    voters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StoryView:
    """A session as `status` shows it: its settings, players, latest turns and open vote."""

    id: int
    title: str
    premise: str
    mode: str
    rating: str
    lines: tuple[str, ...]
    veils: tuple[str, ...]
    status: str
    host_id: int
    host_name: str
    turn_count: int
    next_player_id: int | None
    turn_deadline: datetime | None
    players: tuple[PlayerView, ...]
    recent: tuple[TurnView, ...]
    vote: VoteView | None
    summary: str | None
    summary_through: int
    channel_id: int | None = None
    thread_id: int | None = None
    status_message_id: int | None = None
    """Where a front end shows the session (its thread, or its channel) and the status message it keeps there."""
    take_messages: bool = False
    """Plain messages in its thread are turns too (a front end that reads them: Discord with message content)."""
    note: str = ""
    """What the last action did besides (ending the story closed its open vote: which choice won, and why)."""

    @property
    def next_player(self) -> str | None:
        return next((p.name for p in self.players if p.user_id == self.next_player_id), None)

    def describe(self) -> str:
        """A few lines for a status message."""
        active = [p.name + (" (host)" if p.user_id == self.host_id else "") for p in self.players if p.status == "active"]
        lines = [self.note] if self.note else []
        lines += [
            f"**{self.title}** — {self.mode}, rated {self.rating}, {self.turn_count} turns, {self.status}",
            f"Players: {', '.join(active) or 'nobody'}",
        ]
        if self.vote is not None:
            counts = ", ".join(f"{n}: {c}" for n, c in sorted(self.vote.counts.items()))
            lines.append(f"Vote open on {len(self.vote.choices)} AI choices ({counts}); /story vote N")
        elif self.mode == StoryMode.ROUND_ROBIN and self.next_player:
            lines.append(f"Next: {self.next_player}")
        if self.lines:
            lines.append(f"Lines: {', '.join(self.lines)}")
        if self.veils:
            lines.append(f"Veils: {', '.join(self.veils)}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What a turn call did (`status`), in a message for the members, with the turn and its input verdicts."""

    status: str  # kept | blocked | skipped | undone
    message: str
    turn: TurnView | None = None
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True, slots=True)
class VoteResult:
    """What a vote call did; `chosen` when the vote closed."""

    message: str
    closed: bool = False
    chosen: TurnView | None = None


@dataclass(frozen=True, slots=True)
class AiResult:
    """What an AI turn did: one turn kept, or choices put to a vote, or nothing that passed."""

    message: str
    kept: TurnView | None = None
    """The turn, when one choice was asked for (or only one passed the rails)."""
    choices: tuple[TurnView, ...] = ()
    """The choices put to a vote."""
    outcomes: tuple[Outcome, ...] = ()



ERASED_TEXT = "[erased at its author's request]"


def turn_view(row: Row) -> TurnView:
    """A turn as players see it; erased text (storage/erasure.py) reads as such, in the story and the export."""
    text = ERASED_TEXT if row.text.startswith(ERASED) else row.text
    name = "a former player" if row.author_name.startswith(ERASED) else row.author_name
    return TurnView(
        row.id, row.number, row.author_id, name, text, row.status, row.request_id, row.parent_turn_id,
        row.choice_index, row.reason,
    )  # fmt: skip

