"""Votes on the AI's choices: one vote per active player; the set closes when all have voted (or early)."""

from __future__ import annotations

from bot.core.request import Author
from bot.core.story.rules import StoryError, tie_note
from bot.core.story.sessions import StorySessions
from bot.core.story.views import VoteResult
from storage import stories as q
from storage.models import PlayerStatus


class Votes(StorySessions):
    """Voting on AI choices, and closing a vote early (`StoryService`)."""

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
                return VoteResult(f"Everyone voted: choice {chosen.choice_index} is the next turn{tie_note(tied)}.", True, chosen)
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
            return VoteResult(f"Vote closed: choice {chosen.choice_index} is the next turn{tie_note(tied)}.", True, chosen)

