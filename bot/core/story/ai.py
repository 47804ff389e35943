"""AI turns and recaps: the story's context through the real pipeline, its output rails at the session's policy."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.core.request import Author, Outcome, Posted, Sink, WriteJob
from bot.core.story.rules import MAX_CHOICES, TIE_BREAK, StoryError
from bot.core.story.sessions import StorySessions
from bot.core.story.views import AI_NAME, AiResult, turn_view
from storage import stories as q
from storage.models import RequestStatus, StoryMode, TurnStatus


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


class AiTurns(StorySessions):
    """AI turns (one kept, or several put to a vote) and recaps, through the pipeline (`StoryService`)."""

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
                    turn = turn_view(await q.turn_by_id(connection, turn_id))
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
                views = tuple(turn_view(row) for row in await q.choices(connection, choice_set_id))
            message = f"{len(views)} choices are up for a vote: /story vote 1-{len(views)} (one vote each)."
            return AiResult(message, choices=views, outcomes=tuple(outcomes))

    @staticmethod
    def choice_count(mode: str, choices: int | None) -> int:
        """How many continuations an AI turn writes: `choices` (1-3; default 1, 3 in vote mode, at least 2 there)."""
        count = choices if choices is not None else (MAX_CHOICES if mode == StoryMode.VOTE else 1)
        if not 1 <= count <= MAX_CHOICES:
            raise StoryError(f"Ask for 1 to {MAX_CHOICES} choices.")
        return max(count, 2) if mode == StoryMode.VOTE else count


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

