"""Story games without Discord: a community writes one story together, members and the AI taking turns.

A front end (the terminal's `/story`, later a Discord cog) calls `StoryService` with the acting member (`Author`,
whose channel or thread addresses the session) and shows what comes back. Refusals raise `StoryError` with a
short message for the member. Everything is in the database as soon as a call returns, so a new service on the
same database (a restart) continues where the last one stopped, a vote included.

Rules:
- Modes: `round-robin` (players in join order; the current player writes, skips, or hands the turn to the AI;
  with a `turn_timeout_s` an idle turn passes to the next player), `free` (any player, any time) and `vote`
  (any player, any time; AI turns always come as choices the players vote on).
- Human turns pass the input rails at the session's rating, with the session's lines (`guardrails/lines.py`) and
  veils (`guardrails/veils.py`: a turn that shows a veiled topic on-screen is refused; one that refers to it passes).
  A blocked turn is refused with a short reason and recorded (a `blocked` turn, and a provenance request with its
  verdicts). Kept human turns are provenance requests too (`command = "story_turn"`), so the hash chain covers
  who wrote what.
- AI turns go through the real pipeline (`WriteJob(command="story")`): its output rails run with the session's
  lines and veils (a sentence showing a veiled topic fades out: `guardrails.veils.FADE`). Each request's options name the session and the turn it continues; each turn row links its parent.
- Votes: one vote per active player per choice set, until the set's deadline. A set closes when every active
  player has voted, when the deadline has passed (at the next call), or when the host or a moderator closes it.
  The most votes win; a tie (no votes at all included) goes to the earliest-generated choice, i.e. the lowest
  choice number (tie-break rule "earliest", stored with the set). The others are kept as `not_chosen`.
- Several bot processes may share the database: every change claims the session row first (`storage.stories.claim`)
  and re-checks what it relies on (whose turn, an open vote) under that claim; closing a vote is a compare-and-swap.
- Undo (host or moderator) takes back the latest kept turn; in round-robin a member's undone turn returns the turn
  to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.pipeline import Author, Outcome, Posted, Sink, WriteJob
from bot.core.prompts import StoryContext
from guardrails.language import held_unread, language_of, refusal
from guardrails.lines import clean_topics
from guardrails.policy import Policy
from guardrails.ratings import RATINGS
from guardrails.stack import RailStack
from guardrails.verdict import Verdict
from storage import stories as q
from storage.chain import ERASED
from storage.models import PlayerStatus, RequestStatus, StoryMode, StoryStatus, TurnStatus, aware, utcnow

MAX_TITLE_CHARS = 200
MAX_PREMISE_CHARS = 1000
MAX_TURN_CHARS = 1500
MAX_CHOICES = 3
MIN_TURN_TIMEOUT_S, MAX_TURN_TIMEOUT_S = 10, 86_400
"""A round-robin turn passes on after between 10 seconds and a day (the Discord command's range too)."""
DEFAULT_VOTE_TIMEOUT_S = 300
TIE_BREAK = "earliest"
AI_NAME = "AI"


class StoryError(Exception):
    """A refusal for the member: not their turn, no session here, a vote is open, ..."""

    recorded: bool = False
    """True once the refusal is a provenance request (a refused start)."""


@dataclass(frozen=True, slots=True)
class PlayerView:
    user_id: int
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class TurnView:
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
    choice_set_id: int
    deadline: datetime
    choices: tuple[TurnView, ...]
    counts: dict[int, int]
    """Votes per choice number (1-3)."""
    voters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StoryView:
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
    status: str  # kept | blocked | skipped | undone
    message: str
    turn: TurnView | None = None
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True, slots=True)
class VoteResult:
    message: str
    closed: bool = False
    chosen: TurnView | None = None


@dataclass(frozen=True, slots=True)
class AiResult:
    message: str
    kept: TurnView | None = None
    """The turn, when one choice was asked for (or only one passed the rails)."""
    choices: tuple[TurnView, ...] = ()
    """The choices put to a vote."""
    outcomes: tuple[Outcome, ...] = ()


@dataclass
class QuietSink:
    """A sink that keeps what the pipeline delivers or refuses, for front ends that post the result themselves."""

    text: str | None = None
    refused: str | None = None
    shown: list[str] = field(default_factory=list)

    async def show(self, text: str) -> None:
        self.shown.append(text)

    async def restart(self, note: str) -> None:
        self.shown.clear()

    async def deliver(self, text: str, footer: str) -> list[Posted]:
        self.text = text
        return []

    async def refuse(self, message: str, footer: str) -> list[Posted]:
        self.refused = message
        return []


def _topics(values: Sequence[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [part for chunk in values.split(";") for part in chunk.split(",")]
    return clean_topics(values)


ERASED_TEXT = "[erased at its author's request]"


def _turn(row: Row) -> TurnView:
    """A turn as players see it; erased text (storage/erasure.py) reads as such, in the story and the export."""
    text = ERASED_TEXT if row.text.startswith(ERASED) else row.text
    name = "a former player" if row.author_name.startswith(ERASED) else row.author_name
    return TurnView(
        row.id, row.number, row.author_id, name, text, row.status, row.request_id, row.parent_turn_id,
        row.choice_index, row.reason,
    )  # fmt: skip


def _reason(verdict: Verdict) -> str:
    return f"{verdict.stage} {verdict.rail}: {verdict.category or verdict.decision}"


def _refusal(verdict: Verdict, rails: RailStack | None = None) -> str:
    if verdict.category == "language":  # no rail here reads it: which languages they do, in the player's own
        return refusal(rails.readable_languages("input") if rails else None, language_of([verdict]))
    if verdict.decision == "error":
        return "I couldn't check that turn just now; please try again in a moment."
    if verdict.category == "line":
        return f"That turn crosses one of this story's lines ({verdict.explanation}). Try it another way."
    if verdict.category == "veil":  # players keep veiled things off-screen too, as at a table
        topic = verdict.explanation.split("'")[1] if "'" in verdict.explanation else "a veiled topic"
        return (
            f"That turn shows {topic} on-screen, and this story keeps it off-screen (a veil). Let it happen "
            "between scenes: cut away, or tell it afterwards."
        )
    category = (verdict.category or verdict.rail).replace("_", " ")
    return f"That turn can't go into the story ({category}). Dark fiction is welcome; abuse is not."


_FIELD_WORDS = {"title": "That title", "premise": "That premise"}


def _recorded(error: StoryError) -> StoryError:
    error.recorded = True
    return error


def _start_refusal(field_name: str, verdict: Verdict, rails: RailStack | None = None) -> str:
    """A refused start says which of the member's fields failed (they may have typed four)."""
    words = _FIELD_WORDS[field_name]
    return _refusal(verdict, rails).replace("That turn", words).replace("that turn", words[0].lower() + words[1:])


class StoryService:
    def __init__(self, core: Any, *, clock: Callable[[], datetime] = utcnow) -> None:
        """`core`: a started `bot.core.app.Core` (database, recorder, rails, pipeline)."""
        self.core = core
        self.database = core.database
        self.clock = clock
        self._locks: dict[Any, asyncio.Lock] = {}

    # -- the session's policy ------------------------------------------------------------------------------------

    @staticmethod
    def policy_for(author: Author, session: Row) -> Policy:
        """The channel's policy at the session's rating, with the session's lines and veils on both stages."""
        return replace(author.policy, rating=session.rating, lines=tuple(session.lines or ()), veils=tuple(session.veils or ()))

    def rails_for(self, policy: Policy) -> RailStack:
        return self.core.rails.for_policy(policy)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self, author: Author, title: str, premise: str, **options: Any) -> StoryView:
        """Start a story (`_start`); every refusal is recorded as a request too, `rejected` for input that cannot
        be a story (no title, too long, a rating the channel does not allow...) with the message as its reason."""
        try:
            return await self._start(author, title, premise, **options)
        except StoryError as error:
            if not error.recorded:
                lines, veils = _topics(options.get("lines")), _topics(options.get("veils"))
                self._record_start(
                    author, " ".join(title.split())[: MAX_TITLE_CHARS + 1], premise.strip()[: MAX_PREMISE_CHARS + 1],
                    lines, veils, str(options.get("rating") or author.policy.rating)[:8], [], None, None,
                    status=RequestStatus.REJECTED, reason=str(error),
                )  # fmt: skip
            raise

    async def _start(
        self,
        author: Author,
        title: str,
        premise: str,
        *,
        mode: str = StoryMode.ROUND_ROBIN,
        rating: str | None = None,
        lines: Sequence[str] | str | None = None,
        veils: Sequence[str] | str | None = None,
        turn_timeout_s: int | None = None,
        vote_timeout_s: int = DEFAULT_VOTE_TIMEOUT_S,
        thread_id: int | None = None,
        open_thread: Callable[[], Awaitable[int]] | None = None,
        take_messages: bool = False,
    ) -> StoryView:
        """`open_thread`: called once the story passed every check, to open the place it is played in (a Discord
        thread) and give its id; a refused start opens nothing."""
        title, premise = " ".join(title.split()), premise.strip()
        if not title:
            raise StoryError("A story needs a title: /story start TITLE premise:\"...\"")
        if not premise:
            raise StoryError('A story needs a premise: premise:"two rivals stranded in a lighthouse"')
        if len(title) > MAX_TITLE_CHARS or len(premise) > MAX_PREMISE_CHARS:
            raise StoryError(f"Keep the title under {MAX_TITLE_CHARS} and the premise under {MAX_PREMISE_CHARS} characters.")
        if mode not in tuple(StoryMode):
            raise StoryError(f"mode is one of {', '.join(StoryMode)}.")
        channel_rating = author.policy.rating
        rating = rating or channel_rating
        if rating not in RATINGS:
            raise StoryError(f"rating is one of {', '.join(RATINGS)}.")
        if RATINGS.index(rating) > RATINGS.index(channel_rating):  # type: ignore[arg-type]
            raise StoryError(f"This channel allows stories up to {channel_rating}.")
        if turn_timeout_s is not None and not MIN_TURN_TIMEOUT_S <= turn_timeout_s <= MAX_TURN_TIMEOUT_S:
            raise StoryError(f"A turn timeout is from {MIN_TURN_TIMEOUT_S} to {MAX_TURN_TIMEOUT_S:,} seconds (a day).")
        if open_thread is not None:
            thread_id = await open_thread()
        guild_id, channel_id = self._place(author)
        place = thread_id if thread_id is not None else channel_id
        line_topics, veil_topics = _topics(lines), _topics(veils)
        policy = replace(author.policy, rating=rating, lines=line_topics)  # type: ignore[arg-type]
        # Lines and veils are not judged by the input rails: naming a topic to keep out is not an attack, and the
        # rails refuse real ones ("sexual violence", "homophobia", "incest": 5 of 23 common lines, as injection or
        # identity attack). The title and premise are judged against them.
        checked: list[tuple[RailStack, list[Verdict]]] = []
        for field_name, text in (("title", title), ("premise", premise)):
            rails = self.rails_for(policy)
            verdicts = await rails.check("input", text, author.guild_id)
            checked.append((rails, verdicts))
            failed = next((v for v in verdicts if v.failed or held_unread(v)), None)  # no holding a start
            if failed is not None:  # recorded like any refusal (audit flagged shows it), naming the field
                self._record_start(author, title, premise, line_topics, veil_topics, rating, checked, failed, field_name)
                raise _recorded(StoryError(_start_refusal(field_name, failed, rails)))
        async with self._lock(("place", guild_id, place)), self.database.begin() as connection:
            if await q.open_session_at(connection, guild_id, place) is not None:
                self._record_start(author, title, premise, line_topics, veil_topics, rating, checked, None, None,
                                   status=RequestStatus.REJECTED, reason="a story is already running here")  # fmt: skip
                raise _recorded(StoryError("A story is already running here: /story status, or /story end it first."))
            session_id = await q.create_session(
                connection, guild_id=guild_id, channel_id=channel_id, thread_id=thread_id, host_id=author.user_id,
                host_name=author.user_name[:100], title=title, premise=premise, mode=mode, rating=rating,
                lines=list(line_topics), veils=list(veil_topics), status=StoryStatus.OPEN, turn_count=0, last_number=0,
                next_player_id=author.user_id if mode == StoryMode.ROUND_ROBIN else None,
                turn_deadline=self._deadline(turn_timeout_s) if mode == StoryMode.ROUND_ROBIN else None,
                turn_timeout_s=turn_timeout_s, vote_timeout_s=vote_timeout_s, summary_through=0,
                take_messages=take_messages,
            )  # fmt: skip
            await q.add_player(connection, session_id, author.user_id, author.user_name)
            self._record_start(author, title, premise, line_topics, veil_topics, rating, checked, None, None,
                               session_id=session_id)  # fmt: skip
            return await self._view(connection, await q.session_by_id(connection, session_id))

    async def join(self, author: Author) -> StoryView:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            player = await self._player(connection, session, author.user_id)
            if player is not None and player.status == PlayerStatus.ACTIVE:
                raise StoryError("You are already in this story.")
            if player is not None and player.status == PlayerStatus.KICKED:
                raise StoryError("The host removed you from this story.")
            if player is None:
                await q.add_player(connection, session.id, author.user_id, author.user_name)
            else:
                await q.set_player_status(connection, session.id, author.user_id, PlayerStatus.ACTIVE, author.user_name)
            if session.mode == StoryMode.ROUND_ROBIN and session.next_player_id is None:
                deadline = self._deadline(session.turn_timeout_s)
                await q.update_session(connection, session.id, next_player_id=author.user_id, turn_deadline=deadline)
            return await self._view(connection, await q.session_by_id(connection, session.id))

    async def leave(self, author: Author) -> StoryView:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            await self._require_player(connection, session, author.user_id)
            await self._remove(connection, session, author.user_id, PlayerStatus.LEFT)
            return await self._view(connection, await q.session_by_id(connection, session.id))

    async def kick(self, author: Author, user_id: int, *, moderator: bool = False) -> StoryView:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            self._require_host(session, author, moderator, "remove players")
            if user_id == author.user_id:
                raise StoryError("Use /story leave to leave.")
            player = await self._player(connection, session, user_id)
            if player is None or player.status != PlayerStatus.ACTIVE:
                raise StoryError("That member is not playing in this story.")
            await self._remove(connection, session, user_id, PlayerStatus.KICKED)
            return await self._view(connection, await q.session_by_id(connection, session.id))

    async def status(self, author: Author) -> StoryView:
        async with self._session(author) as sid, self._tx(sid, claim=False) as (connection, session):
            return await self._view(connection, session)

    async def end(self, author: Author, *, moderator: bool = False) -> StoryView:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            self._require_host(session, author, moderator, "end the story")
            choice_set = await q.open_choice_set(connection, session.id)
            note = ""
            if choice_set is not None:
                _, _, tied = await self._tally(connection, choice_set)
                chosen = await self._close(connection, session, choice_set, "ended")
                note = f"The open vote was closed: choice {chosen.choice_index} is the last turn{_tie_note(tied)}."
            await q.update_session(
                connection, session.id, status=StoryStatus.ENDED, ended_at=self.clock(), next_player_id=None, turn_deadline=None
            )
            return replace(await self._view(connection, await q.session_by_id(connection, session.id)), note=note)

    async def takes_messages(self, guild_id: int, place_id: int) -> bool:
        """Whether the open session played in `place_id` (a thread) takes plain messages as turns."""
        async with self.database.connect() as connection:
            session = await q.open_session_at(connection, guild_id, place_id)
        return bool(session is not None and session.take_messages)

    async def set_status_message(self, session_id: int, message_id: int | None) -> None:
        """For a front end that keeps one status message per session up to date."""
        async with self.database.begin() as connection:
            await q.update_session(connection, session_id, status_message_id=message_id)

    # -- turns ---------------------------------------------------------------------------------------------------

    async def add_turn(self, author: Author, text: str) -> TurnResult:
        text = text.strip()
        if not text:
            raise StoryError("Write your turn after the command: /story add The door creaked open…")
        if len(text) > MAX_TURN_CHARS:
            raise StoryError(f"A turn is at most {MAX_TURN_CHARS:,} characters; yours is {len(text):,}.")
        async with self._session(author) as sid:
            async with self._tx(sid, claim=False) as (connection, session):
                await self._may_write(connection, session, author)
                rails = self.rails_for(self.policy_for(author, session))
            verdicts = await rails.check("input", text, author.guild_id)  # off the transaction: rails take time
            failed = next((v for v in verdicts if v.failed or held_unread(v)), None)  # no holding a turn
            async with self._tx(sid) as (connection, session):
                # Another bot process may have moved the story on while the rails ran: checked again, claimed.
                await self._may_write(connection, session, author)
                parent = await q.latest_kept(connection, session.id)
                request_id = self._record_human_turn(author, session, parent, text, rails, verdicts, failed)
                number = await q.next_number(connection, session.id)
                status = TurnStatus.KEPT if failed is None else TurnStatus.BLOCKED
                turn_id = await q.add_turn(
                    connection, session_id=session.id, number=number, author_id=author.user_id,
                    author_name=author.user_name[:100], text=text, request_id=request_id,
                    parent_turn_id=parent.id if parent else None, status=status,
                    reason=_reason(failed) if failed else None,
                )  # fmt: skip
                turn = _turn(await q.turn_by_id(connection, turn_id))
                if failed is not None:
                    return TurnResult("blocked", _refusal(failed, rails), turn, tuple(verdicts))
                await self._kept(connection, session, advance=session.mode == StoryMode.ROUND_ROBIN)
                # Told as the story's own count (kept turns): refused turns, skips and choices hold a record number too.
                shown_number = session.turn_count + 1
                return TurnResult("kept", f"Turn {shown_number} by {turn.author_name} added.", turn, tuple(verdicts))

    async def skip(self, author: Author, *, moderator: bool = False) -> TurnResult:
        """The current player passes (or the host passes them) in round-robin."""
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            if session.mode != StoryMode.ROUND_ROBIN or session.next_player_id is None:
                raise StoryError("Only round-robin stories have turns to skip.")
            if session.next_player_id != author.user_id:
                self._require_host(session, author, moderator, "skip another player's turn")
            by = "the player" if session.next_player_id == author.user_id else "the host"
            turn = await self._skip_current(connection, session, f"skipped by {by}")
            return TurnResult("skipped", f"{turn.author_name}'s turn was skipped.", turn)

    async def expire(self, session_id: int) -> TurnResult | None:
        """Pass an idle round-robin turn whose deadline has passed (a front end's timer, or any later call)."""
        async with self._lock(session_id), self.database.begin() as connection:
            if await q.claim(connection, session_id) is None:
                return None
            session = await q.session_by_id(connection, session_id)
            return await self._expire(connection, session)

    async def due(self) -> Sequence[int]:
        """Open sessions with a timer to apply: an idle round-robin turn, or a vote past its deadline."""
        now = self.clock()
        async with self.database.connect() as connection:
            turns = await q.due_sessions(connection, now)
            votes = select(q.choice_sets.c.session_id).where(
                q.choice_sets.c.status == "open", q.choice_sets.c.deadline <= now
            )
            voting = (await connection.execute(votes)).scalars().all()
        return sorted({*turns, *voting})

    async def view(self, session_id: int) -> StoryView | None:
        """A session as `status` shows it, by id (for a front end's timer), ended ones too."""
        async with self.database.connect() as connection:
            session = await q.session_by_id(connection, session_id)
            return await self._view(connection, session) if session is not None else None

    async def undo(self, author: Author, *, moderator: bool = False) -> TurnResult:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            self._require_host(session, author, moderator, "undo a turn")
            await self._require_no_vote(connection, session)
            latest = await q.latest_kept(connection, session.id)
            if latest is None:
                raise StoryError("There is no turn to undo.")
            by = "moderator" if moderator and author.user_id != session.host_id else "host"
            await q.set_turn_status(connection, [latest.id], TurnStatus.UNDONE, f"undone by the {by} ({author.user_name[:60]})")
            values: dict[str, Any] = {"turn_count": max(0, session.turn_count - 1)}
            if session.summary_through >= latest.number:  # the summary told of it: it is out of date
                values.update(summary=None, summary_through=0)
            if session.mode == StoryMode.ROUND_ROBIN and latest.author_id is not None:
                player = await self._player(connection, session, latest.author_id)
                if player is not None and player.status == PlayerStatus.ACTIVE:
                    values.update(next_player_id=latest.author_id, turn_deadline=self._deadline(session.turn_timeout_s))
            await q.update_session(connection, session.id, **values)
            turn = _turn(await q.turn_by_id(connection, latest.id))
            return TurnResult("undone", f"Turn {max(1, session.turn_count)} ({turn.credit}) was taken back.", turn)

    # -- AI turns and votes --------------------------------------------------------------------------------------

    async def ai_turn(
        self,
        author: Author,
        choices: int | None = None,
        direction: str | None = None,
        *,
        moderator: bool = False,
        sink_for: Callable[[int], Sink] | None = None,
    ) -> AiResult:
        """Ask the pipeline for `choices` continuations (1-3; 3 in vote mode). One is kept at once; several go to
        a vote. Generated one after another, so "earliest-generated" is choice 1."""
        async with self._session(author) as sid:
            async with self._tx(sid, claim=False) as (connection, session):
                await self._may_call_ai(connection, session, author, moderator)
                count = self.choice_count(session.mode, choices)
                parent = await q.latest_kept(connection, session.id)
                base = await self._context(connection, session, "continue", parent)
                story_author = replace(author, policy=self.policy_for(author, session))
            # The engine writes outside any transaction; this process's lock keeps the session as it was read.
            outcomes: list[Outcome] = []
            passed: list[Outcome] = []
            for index in range(1, count + 1):
                job = WriteJob(
                    command="story", kind="story", prompt=direction or None, length="short",
                    previous_checked=True, parent_request_id=parent.request_id if parent else None,
                    story=replace(base, choice=index if count > 1 else None),
                )  # fmt: skip
                sink = sink_for(index) if sink_for is not None else QuietSink()
                outcome = await self.core.pipeline.run(story_author, job, sink)
                outcomes.append(outcome)
                if outcome.status == RequestStatus.DELIVERED:
                    passed.append(outcome)
            if not passed:
                reason = outcomes[-1].message if outcomes else ""
                return AiResult(f"No continuation passed this time. {reason}".strip(), outcomes=tuple(outcomes))
            async with self._tx(sid) as (connection, session):
                try:  # another bot process may have moved the story on while the engine wrote
                    await self._may_call_ai(connection, session, author, moderator)
                    if (await q.latest_kept(connection, session.id) or parent) != parent:
                        raise StoryError("a turn was added meanwhile")
                except StoryError as error:
                    message = f"The story moved on while the AI was writing ({error}); its text was not added."
                    return AiResult(message, outcomes=tuple(outcomes))
                parent_id = parent.id if parent else None
                if len(passed) == 1:
                    advance = session.mode == StoryMode.ROUND_ROBIN and session.next_player_id == author.user_id
                    number = await q.next_number(connection, session.id)
                    turn_id = await q.add_turn(
                        connection, session_id=session.id, number=number, author_id=None, author_name=AI_NAME,
                        text=passed[0].text, request_id=passed[0].request_id, parent_turn_id=parent_id,
                        status=TurnStatus.KEPT,
                    )  # fmt: skip
                    await self._kept(connection, session, advance=advance)
                    turn = _turn(await q.turn_by_id(connection, turn_id))
                    return AiResult(f"Turn {session.turn_count + 1} by the AI added.", kept=turn, outcomes=tuple(outcomes))
                choice_set_id = await q.create_choice_set(
                    connection, session_id=session.id, requested_by=author.user_id, parent_turn_id=parent_id,
                    status="open", tie_break=TIE_BREAK, deadline=self.clock() + timedelta(seconds=session.vote_timeout_s),
                )  # fmt: skip
                for position, outcome in enumerate(passed, start=1):
                    await q.add_turn(
                        connection, session_id=session.id, number=await q.next_number(connection, session.id),
                        author_id=None, author_name=AI_NAME, text=outcome.text, request_id=outcome.request_id,
                        parent_turn_id=parent_id, choice_set_id=choice_set_id, choice_index=position,
                        status=TurnStatus.PENDING,
                    )  # fmt: skip
                views = tuple(_turn(row) for row in await q.choices(connection, choice_set_id))
            message = f"{len(views)} choices are up for a vote: /story vote 1-{len(views)} (one vote each)."
            return AiResult(message, choices=views, outcomes=tuple(outcomes))

    @staticmethod
    def choice_count(mode: str, choices: int | None) -> int:
        """How many continuations an AI turn writes: `choices` (1-3; default 1, 3 in vote mode, at least 2 there)."""
        count = choices if choices is not None else (MAX_CHOICES if mode == StoryMode.VOTE else 1)
        if not 1 <= count <= MAX_CHOICES:
            raise StoryError(f"Ask for 1 to {MAX_CHOICES} choices.")
        return max(count, 2) if mode == StoryMode.VOTE else count

    async def vote(self, author: Author, choice: int) -> VoteResult:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            await self._require_player(connection, session, author.user_id)
            choice_set = await q.open_choice_set(connection, session.id)
            if choice_set is None:
                raise StoryError("There is no vote open.")
            options = await q.choices(connection, choice_set.id)
            picked = next((row for row in options if row.choice_index == choice), None)
            if picked is None:
                raise StoryError(f"Vote for a choice from 1 to {len(options)}.")
            if any(v.user_id == author.user_id for v in await q.votes(connection, choice_set.id)):
                raise StoryError("You have already voted on these choices (one vote each).")
            await q.add_vote(connection, choice_set.id, author.user_id, picked.id)
            active = {p.user_id for p in await q.players(connection, session.id) if p.status == PlayerStatus.ACTIVE}
            voters = {v.user_id for v in await q.votes(connection, choice_set.id)}
            if active <= voters:
                _, _, tied = await self._tally(connection, choice_set)
                chosen = await self._close(connection, session, choice_set, "all_voted")
                return VoteResult(f"Everyone voted: choice {chosen.choice_index} is the next turn{_tie_note(tied)}.", True, chosen)
            return VoteResult(f"Vote for choice {choice} counted ({len(voters & active)} of {len(active)} players).")

    async def close_vote(self, author: Author, *, moderator: bool = False) -> VoteResult:
        async with self._session(author) as sid, self._tx(sid) as (connection, session):
            choice_set = await q.open_choice_set(connection, session.id)
            if choice_set is None:
                raise StoryError("There is no vote open.")
            self._require_host(session, author, moderator, "close the vote before its deadline")
            by = "host" if author.user_id == session.host_id else "moderator"
            _, _, tied = await self._tally(connection, choice_set)
            chosen = await self._close(connection, session, choice_set, by)
            return VoteResult(f"Vote closed: choice {chosen.choice_index} is the next turn{_tie_note(tied)}.", True, chosen)

    # -- recap and export ----------------------------------------------------------------------------------------

    async def recap(self, author: Author, sink: Sink | None = None) -> Outcome:
        """A summary of the story so far through the pipeline; when it passes it becomes the rolling summary."""
        async with self._session(author) as sid:
            async with self._tx(sid, claim=False) as (connection, session):
                latest = await q.latest_kept(connection, session.id)
                if latest is None:
                    raise StoryError("Nothing to recap yet.")
                context = await self._context(connection, session, "recap", latest)
                policy = self.policy_for(author, session)
            job = WriteJob(
                command="story", kind="story", prompt=None, length="medium", previous_checked=True,
                parent_request_id=latest.request_id, story=context,
            )  # fmt: skip
            outcome = await self.core.pipeline.run(replace(author, policy=policy), job, sink or QuietSink())
            if outcome.status == RequestStatus.DELIVERED:
                with contextlib.suppress(StoryError):  # ended meanwhile (another process): the recap was still shown
                    async with self._tx(sid) as (connection, session):
                        await q.update_session(connection, session.id, summary=outcome.text, summary_through=latest.number)
            return outcome

    async def export(self, author: Author | None = None, *, session_id: int | None = None) -> str:
        """The story as Markdown: title, premise, rating, lines and veils, then every kept turn with its credit.
        Without `session_id`: the latest story where the author is, ended ones too."""
        async with self.database.connect() as connection:
            if session_id is not None:
                session = await q.session_by_id(connection, session_id)
            else:
                assert author is not None
                session = await q.open_session_at(connection, *self._place(author), status=None)
            if session is None:
                raise StoryError("There is no story here.")
            kept = [_turn(row) for row in await q.turns(connection, session.id, TurnStatus.KEPT)]
            return export_markdown(session, kept, await q.players(connection, session.id))

    # -- internals -----------------------------------------------------------------------------------------------

    @staticmethod
    def _place(author: Author) -> tuple[int, int]:
        """(guild, channel or thread): the terminal has neither a guild nor a channel of its own, so 0 stands in."""
        return author.guild_id or 0, author.channel_id or 0

    def _lock(self, key: Any) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _session(self, author: Author) -> AsyncIterator[int]:
        """The open session where the author is, locked in this process for the call, its due timers applied
        first (committed on their own, so a refusal later in the call does not undo them)."""
        guild_id, place = self._place(author)
        async with self.database.connect() as connection:
            found = await q.open_session_at(connection, guild_id, place)
        if found is None:
            raise StoryError('There is no story running here: /story start TITLE premise:"..."')
        async with self._lock(found.id):
            if await self._timer_due(found):
                async with self.database.begin() as connection:
                    await q.claim(connection, found.id)
                    await self._expire(connection, await q.session_by_id(connection, found.id))
            yield found.id

    @contextlib.asynccontextmanager
    async def _tx(self, session_id: int, *, claim: bool = True) -> AsyncIterator[tuple[AsyncConnection, Row]]:
        """One short transaction on the session (never held across the rails or the engine). With `claim` (any
        change) the session is claimed first (`storage.stories.claim`): a second bot process on the same database
        waits for this transaction, then reads what it wrote, so checks made here hold until commit."""
        async with self.database.begin() as connection:
            if claim:
                await q.claim(connection, session_id)
            session = await q.session_by_id(connection, session_id)
            if session is None or session.status != StoryStatus.OPEN:
                raise StoryError("That story has ended.")
            yield connection, session

    async def _timer_due(self, session: Row) -> bool:
        """Whether a timer of the session is due (read without claiming; `_expire` decides under the claim)."""
        now = self.clock()
        deadline = aware(session.turn_deadline)
        if session.mode == StoryMode.ROUND_ROBIN and deadline is not None and deadline <= now:
            return True
        async with self.database.connect() as connection:
            choice_set = await q.open_choice_set(connection, session.id)
        return choice_set is not None and aware(choice_set.deadline) <= now

    async def _may_write(self, connection: AsyncConnection, session: Row, author: Author) -> None:
        """A member may add a turn now: they play, no vote is open, and in round-robin it is their turn."""
        await self._require_player(connection, session, author.user_id)
        await self._require_no_vote(connection, session)
        if session.mode == StoryMode.ROUND_ROBIN and session.next_player_id != author.user_id:
            raise StoryError(f"It's {await self._name(connection, session, session.next_player_id)}'s turn.")

    async def _may_call_ai(self, connection: AsyncConnection, session: Row, author: Author, moderator: bool) -> None:
        await self._require_player(connection, session, author.user_id)
        await self._require_no_vote(connection, session)
        if session.mode == StoryMode.ROUND_ROBIN and session.next_player_id != author.user_id:
            self._require_host(session, author, moderator, "call the AI out of turn")

    def _deadline(self, timeout_s: int | None) -> datetime | None:
        return self.clock() + timedelta(seconds=timeout_s) if timeout_s else None

    async def _player(self, connection: AsyncConnection, session: Row, user_id: int) -> Row | None:
        return next((p for p in await q.players(connection, session.id) if p.user_id == user_id), None)

    async def _name(self, connection: AsyncConnection, session: Row, user_id: int | None) -> str:
        player = await self._player(connection, session, user_id) if user_id is not None else None
        return player.name if player is not None else "someone else"

    async def _require_player(self, connection: AsyncConnection, session: Row, user_id: int) -> None:
        player = await self._player(connection, session, user_id)
        if player is None or player.status != PlayerStatus.ACTIVE:
            raise StoryError("Join the story first: /story join")

    @staticmethod
    def _require_host(session: Row, author: Author, moderator: bool, what: str) -> None:
        if author.user_id != session.host_id and not moderator:
            raise StoryError(f"Only the host or a moderator can {what}.")

    async def _require_no_vote(self, connection: AsyncConnection, session: Row) -> None:
        if await q.open_choice_set(connection, session.id) is not None:
            raise StoryError("A vote is open: /story vote N first (or the host closes it).")

    async def _next_after(self, connection: AsyncConnection, session: Row, user_id: int | None) -> int | None:
        """The active player after `user_id` in join order (wrapping), whatever `user_id`'s own status."""
        everyone = await q.players(connection, session.id)
        active = [p for p in everyone if p.status == PlayerStatus.ACTIVE]
        if not active:
            return None
        current = next((p.join_order for p in everyone if p.user_id == user_id), 0)
        later = [p for p in active if p.join_order > current]
        return (later or active)[0].user_id

    async def _kept(self, connection: AsyncConnection, session: Row, *, advance: bool) -> None:
        values: dict[str, Any] = {"turn_count": session.turn_count + 1}
        if advance:
            values.update(
                next_player_id=await self._next_after(connection, session, session.next_player_id),
                turn_deadline=self._deadline(session.turn_timeout_s),
            )
        await q.update_session(connection, session.id, **values)

    async def _remove(self, connection: AsyncConnection, session: Row, user_id: int, status: PlayerStatus) -> None:
        values: dict[str, Any] = {}
        if session.mode == StoryMode.ROUND_ROBIN and session.next_player_id == user_id:
            nxt = await self._next_after(connection, session, user_id)
            values.update(next_player_id=nxt if nxt != user_id else None, turn_deadline=self._deadline(session.turn_timeout_s))
        await q.set_player_status(connection, session.id, user_id, status)
        if user_id == session.host_id:  # the host role passes to the longest-standing player still in
            heir = next((p for p in await q.players(connection, session.id) if p.status == PlayerStatus.ACTIVE), None)
            if heir is not None:
                values.update(host_id=heir.user_id, host_name=heir.name)
        if session.mode == StoryMode.ROUND_ROBIN and values.get("next_player_id", session.next_player_id) == user_id:
            values["next_player_id"] = None
        if values:
            await q.update_session(connection, session.id, **values)
        choice_set = await q.open_choice_set(connection, session.id)
        if choice_set is not None:  # the one who left may have been the last vote missing
            active = {p.user_id for p in await q.players(connection, session.id) if p.status == PlayerStatus.ACTIVE}
            voters = {v.user_id for v in await q.votes(connection, choice_set.id)}
            if active and active <= voters:
                await self._close(connection, await q.session_by_id(connection, session.id), choice_set, "all_voted")

    async def _skip_current(self, connection: AsyncConnection, session: Row, reason: str) -> TurnView:
        user_id = session.next_player_id
        turn_id = await q.add_turn(
            connection, session_id=session.id, number=await q.next_number(connection, session.id), author_id=user_id,
            author_name=await self._name(connection, session, user_id), text="", status=TurnStatus.SKIPPED, reason=reason,
        )  # fmt: skip
        await q.update_session(
            connection, session.id, next_player_id=await self._next_after(connection, session, user_id),
            turn_deadline=self._deadline(session.turn_timeout_s),
        )  # fmt: skip
        return _turn(await q.turn_by_id(connection, turn_id))

    async def _expire(self, connection: AsyncConnection, session: Row) -> TurnResult | None:
        """Lazily applied timers: a vote past its deadline closes; an idle round-robin turn passes (once)."""
        if session.status != StoryStatus.OPEN:
            return None
        now = self.clock()
        choice_set = await q.open_choice_set(connection, session.id)
        if choice_set is not None:
            if aware(choice_set.deadline) <= now:
                _, _, tied = await self._tally(connection, choice_set)
                chosen = await self._close(connection, session, choice_set, "deadline")
                message = f"The vote's time is up: choice {chosen.choice_index} is the next turn{_tie_note(tied)}."
                return TurnResult("kept", message, chosen)
            return None  # turn timers wait while a vote is open
        deadline = aware(session.turn_deadline)
        if session.mode == StoryMode.ROUND_ROBIN and session.next_player_id is not None and deadline is not None and deadline <= now:
            turn = await self._skip_current(connection, session, "timeout")
            return TurnResult("skipped", f"{turn.author_name}'s turn timed out and passed on.", turn)
        return None

    async def _close(self, connection: AsyncConnection, session: Row, choice_set: Row, closed_by: str) -> TurnView:
        """The most-voted choice becomes the turn; a tie goes to the earliest-generated (lowest) choice."""
        options, chosen, _ = await self._tally(connection, choice_set)
        if not await q.close_choice_set(connection, choice_set.id, chosen.id, closed_by):
            raise StoryError("That vote has closed already.")  # rolls this transaction back: nothing counted twice
        await q.set_turn_status(connection, [chosen.id], TurnStatus.KEPT)
        await q.set_turn_status(connection, [row.id for row in options if row.id != chosen.id], TurnStatus.NOT_CHOSEN)
        session = await q.session_by_id(connection, session.id)
        advance = session.mode == StoryMode.ROUND_ROBIN and session.next_player_id == choice_set.requested_by
        await self._kept(connection, session, advance=advance)
        return _turn(await q.turn_by_id(connection, chosen.id))

    @staticmethod
    async def _tally(connection: AsyncConnection, choice_set: Row) -> tuple[Sequence[Row], Row, bool]:
        """The choices, the one that wins now (most votes, then the lowest number), and whether that was a tie."""
        options = await q.choices(connection, choice_set.id)
        counts = {row.id: 0 for row in options}
        for vote in await q.votes(connection, choice_set.id):
            counts[vote.turn_id] = counts.get(vote.turn_id, 0) + 1
        chosen = min(options, key=lambda row: (-counts[row.id], row.choice_index))
        tied = sum(1 for row in options if counts[row.id] == counts[chosen.id]) > 1
        return options, chosen, tied

    async def _context(self, connection: AsyncConnection, session: Row, task: str, parent: Row | None) -> StoryContext:
        kept = await q.turns(connection, session.id, TurnStatus.KEPT, after=session.summary_through if session.summary else 0)
        return StoryContext(
            session_id=session.id, title=session.title, premise=session.premise, task=task,
            summary=session.summary,
            turns=tuple((view.credit if view.author_id is not None else AI_NAME, view.text) for view in map(_turn, kept)),
            lines=tuple(session.lines or ()), veils=tuple(session.veils or ()), rating=session.rating,
            parent_turn=parent.number if parent else None,
        )  # fmt: skip

    def _record_human_turn(
        self, author: Author, session: Row, parent: Row | None, text: str, rails: RailStack, verdicts: list[Verdict], failed: Verdict | None
    ) -> str:
        """A member's turn as a provenance request with its input verdicts: the chain covers who wrote what."""
        options = {"story_session": session.id, "parent_turn": parent.number if parent else None, "rating": session.rating}
        status = RequestStatus.DELIVERED if failed is None else RequestStatus.BLOCKED
        return self._record_checked(
            author, "story_turn", options, text, [(rails, verdicts)], status, _reason(failed) if failed else None,
            parent_request_id=parent.request_id if parent else None,
        )  # fmt: skip

    def _record_start(
        self, author: Author, title: str, premise: str, lines: Sequence[str], veils: Sequence[str], rating: str,
        checked: list[tuple[RailStack, list[Verdict]]], failed: Verdict | None, field_name: str | None, *,
        session_id: int | None = None, status: RequestStatus | None = None, reason: str | None = None,
    ) -> str:  # fmt: skip
        """A story's start as a provenance request: refused ones too (`blocked`, the reason naming the field that
        failed: title or premise, and the line it crossed), so moderators see them in `audit flagged` and the chain
        has them.
        The member's words (title, premise, lines, veils) are its prompt, a content field that erasure reaches."""
        text = f"Title: {title}\nPremise: {premise}"
        text += f"\nLines: {'; '.join(lines)}" if lines else ""
        text += f"\nVeils: {'; '.join(veils)}" if veils else ""
        options: dict[str, Any] = {"rating": rating, "lines": len(lines), "veils": len(veils)}
        if session_id is not None:
            options["story_session"] = session_id
        if failed is not None:
            options["refused_field"] = field_name
            status, reason = RequestStatus.BLOCKED, f"{field_name}: {_reason(failed)}"
        return self._record_checked(
            author, "story_start", options, text, checked, status or RequestStatus.DELIVERED, reason
        )

    def _record_checked(
        self, author: Author, command: str, options: dict[str, Any], text: str,
        checked: list[tuple[RailStack, list[Verdict]]], status: RequestStatus, reason: str | None, *,
        parent_request_id: str | None = None,
    ) -> str:  # fmt: skip
        """A request with the input verdicts of each rail stack that judged it, ended at once."""
        recorder = self.core.recorder
        request_id = uuid.uuid4().hex
        for rails, _ in checked:
            recorder.policy_version(rails.policy_hash, rails.describe())
        recorder.request_arrived(
            id=request_id, interface=author.interface, guild_id=author.guild_id, channel_id=author.channel_id,
            user_id=author.user_id, user_name=author.user_name[:100], command=command, kind=None, options=options,
            prompt=text, parent_request_id=parent_request_id,
            policy_hash=checked[0][0].policy_hash if checked else None,
        )  # fmt: skip
        for rails, verdicts in checked:
            recorder.judged(
                verdicts, request_id=request_id, guild_id=author.guild_id, generation_id=None,
                policy_hash=rails.policy_hash,
            )  # fmt: skip
        recorder.request_status(request_id, status, reason)
        return request_id

    async def _view(self, connection: AsyncConnection, session: Row) -> StoryView:
        everyone = await q.players(connection, session.id)
        recent = [_turn(row) for row in await q.turns(connection, session.id, TurnStatus.KEPT)][-5:]
        vote = None
        choice_set = await q.open_choice_set(connection, session.id)
        if choice_set is not None:
            options = tuple(_turn(row) for row in await q.choices(connection, choice_set.id))
            cast = await q.votes(connection, choice_set.id)
            by_turn = {option.id: option.choice_index for option in options}
            counts = {option.choice_index: 0 for option in options}
            for v in cast:
                counts[by_turn[v.turn_id]] += 1
            deadline = aware(choice_set.deadline)
            vote = VoteView(choice_set.id, deadline, options, counts, tuple(v.user_id for v in cast))  # type: ignore[arg-type]
        return StoryView(
            id=session.id, title=session.title, premise=session.premise, mode=session.mode, rating=session.rating,
            lines=tuple(session.lines or ()), veils=tuple(session.veils or ()), status=session.status,
            host_id=session.host_id, host_name=session.host_name, turn_count=session.turn_count,
            next_player_id=session.next_player_id, turn_deadline=aware(session.turn_deadline),
            players=tuple(PlayerView(p.user_id, p.name, p.status) for p in everyone), recent=tuple(recent), vote=vote,
            summary=session.summary, summary_through=session.summary_through, channel_id=session.channel_id,
            thread_id=session.thread_id, status_message_id=session.status_message_id,
            take_messages=bool(session.take_messages),
        )  # fmt: skip


def _tie_note(tied: bool) -> str:
    return " (a tie: the earliest-written choice wins)" if tied else ""


def export_markdown(session: Row, kept: Sequence[TurnView], players: Sequence[Row]) -> str:
    """The story to share: a header with what the players agreed on, then each kept turn and who wrote it."""
    out = [f"# {session.title}", "", f"**Premise:** {session.premise}", "", f"**Rating:** {session.rating}"]
    out.append(f"**Lines** (never in this story): {', '.join(session.lines) if session.lines else 'none'}")
    out.append(f"**Veils** (off-screen only): {', '.join(session.veils) if session.veils else 'none'}")
    names = [p.name for p in players]
    out.append(f"**Players:** {', '.join(names)} · host {session.host_name} · {len(kept)} turns · {session.mode}")
    out += ["", "---", ""]
    for turn in kept:
        out += [turn.text.strip(), "", f"— *{turn.credit}*", ""]
    if session.status == StoryStatus.ENDED:
        out.append("*The end.*")
    out.append("")
    out.append("-# AI turns are AI-generated by Storyloom; each names the request that wrote it (provenance).")
    return "\n".join(out).rstrip() + "\n"


def local_user_id(name: str, default_name: str, default_id: int) -> int:
    """A stable member id for a name typed with `--as NAME` in terminal mode (the terminal's own user keeps its id)."""
    if name == default_name:
        return default_id
    return 1000 + int.from_bytes(hashlib.sha256(name.lower().encode()).digest()[:6], "big")
