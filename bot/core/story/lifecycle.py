"""A story's lifecycle: start (its title and premise judged, refusals recorded), join, leave, kick, end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from bot.core.request import Author
from bot.core.story.records import record_start
from bot.core.story.rules import (
    DEFAULT_VOTE_TIMEOUT_S,
    MAX_PREMISE_CHARS,
    MAX_TITLE_CHARS,
    MAX_TURN_TIMEOUT_S,
    MIN_TURN_TIMEOUT_S,
    StoryError,
    recorded,
    start_refusal,
    tie_note,
    topics,
)
from bot.core.story.sessions import StorySessions
from bot.core.story.views import StoryView
from guardrails.rail import Verdict
from guardrails.rails.language import held_unread
from guardrails.ratings import RATINGS
from guardrails.stack import RailStack
from storage import stories as q
from storage.models import PlayerStatus, RequestStatus, StoryMode, StoryStatus


class Lifecycle(StorySessions):
    """Starting, joining, leaving and ending a story (`StoryService`)."""

    async def start(self, author: Author, title: str, premise: str, **options: Any) -> StoryView:
        """Start a story (`_start`); every refusal is recorded as a request too, `rejected` for input that cannot
        be a story (no title, too long, a rating the channel does not allow...) with the message as its reason."""
        try:
            return await self._start(author, title, premise, **options)
        except StoryError as error:
            if not error.recorded:
                lines, veils = topics(options.get("lines")), topics(options.get("veils"))
                record_start(
                    self.core.recorder, author, " ".join(title.split())[: MAX_TITLE_CHARS + 1], premise.strip()[: MAX_PREMISE_CHARS + 1],
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
        line_topics, veil_topics = topics(lines), topics(veils)
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
                record_start(
                    self.core.recorder, author, title, premise, line_topics, veil_topics, rating, checked, failed,
                    field_name,
                )  # fmt: skip
                raise recorded(StoryError(start_refusal(field_name, failed, rails)))
        async with self._lock(("place", guild_id, place)), self.database.begin() as connection:
            if await q.open_session_at(connection, guild_id, place) is not None:
                record_start(
                    self.core.recorder, author, title, premise, line_topics, veil_topics, rating, checked, None, None,
                    status=RequestStatus.REJECTED, reason="a story is already running here",
                )  # fmt: skip
                raise recorded(StoryError("A story is already running here: /story status, or /story end it first."))
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
            record_start(
                self.core.recorder, author, title, premise, line_topics, veil_topics, rating, checked, None, None,
                session_id=session_id,
            )  # fmt: skip
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
                note = f"The open vote was closed: choice {chosen.choice_index} is the last turn{tie_note(tied)}."
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

