"""How the story service reaches a session: its policy, locks and short transactions, lazily applied timers,
the players and turn order, closing a vote, and the session as `StoryView`. The calls themselves are mixins
(`lifecycle`, `turns`, `votes`, `ai`, `export`) on this base; `StoryService` puts them together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.prompts import StoryContext
from bot.core.request import Author
from bot.core.story.rules import StoryError, tie_note
from bot.core.story.views import AI_NAME, PlayerView, StoryView, TurnResult, TurnView, VoteView, turn_view
from guardrails.policy import Policy
from guardrails.stack import RailStack
from storage import stories as q
from storage.models import PlayerStatus, StoryMode, StoryStatus, TurnStatus, aware, utcnow

if TYPE_CHECKING:
    from bot.core.app import Core


class StorySessions:
    """The base the service's calls share: one process's locks and a session's rows, read and changed safely."""

    def __init__(self, core: Core, *, clock: Callable[[], datetime] = utcnow) -> None:
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

    # -- the session's rows --------------------------------------------------------------------------------------

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
        return turn_view(await q.turn_by_id(connection, turn_id))

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
                message = f"The vote's time is up: choice {chosen.choice_index} is the next turn{tie_note(tied)}."
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
        return turn_view(await q.turn_by_id(connection, chosen.id))

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
            turns=tuple((view.credit if view.author_id is not None else AI_NAME, view.text) for view in map(turn_view, kept)),
            lines=tuple(session.lines or ()), veils=tuple(session.veils or ()), rating=session.rating,
            parent_turn=parent.number if parent else None,
        )  # fmt: skip

    async def _view(self, connection: AsyncConnection, session: Row) -> StoryView:
        everyone = await q.players(connection, session.id)
        recent = [turn_view(row) for row in await q.turns(connection, session.id, TurnStatus.KEPT)][-5:]
        vote = None
        choice_set = await q.open_choice_set(connection, session.id)
        if choice_set is not None:
            options = tuple(turn_view(row) for row in await q.choices(connection, choice_set.id))
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

