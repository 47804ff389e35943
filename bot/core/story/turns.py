"""Human turns and turn order: a member's turn through the input rails, skips, timeouts and undo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from bot.core import replies
from bot.core.request import Author
from bot.core.story.records import record_human_turn
from bot.core.story.rules import MAX_TURN_CHARS, StoryError, turn_refusal
from bot.core.story.sessions import StorySessions
from bot.core.story.views import StoryView, TurnResult, turn_view
from guardrails.rails.language import held_unread
from storage import stories as q
from storage.models import PlayerStatus, StoryMode, TurnStatus


class Turns(StorySessions):
    """Members' turns: add one (judged by the input rails), skip, undo, and the turn timers (`StoryService`)."""

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
                request_id = record_human_turn(self.core.recorder, author, session, parent, text, rails, verdicts, failed)
                number = await q.next_number(connection, session.id)
                status = TurnStatus.KEPT if failed is None else TurnStatus.BLOCKED
                turn_id = await q.add_turn(
                    connection, session_id=session.id, number=number, author_id=author.user_id,
                    author_name=author.user_name[:100], text=text, request_id=request_id,
                    parent_turn_id=parent.id if parent else None, status=status,
                    reason=replies.reason(failed) if failed else None,
                )  # fmt: skip
                turn = turn_view(await q.turn_by_id(connection, turn_id))
                if failed is not None:
                    return TurnResult("blocked", turn_refusal(failed, rails), turn, tuple(verdicts))
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
            turn = turn_view(await q.turn_by_id(connection, latest.id))
            return TurnResult("undone", f"Turn {max(1, session.turn_count)} ({turn.credit}) was taken back.", turn)

