"""The generation pipeline: admit → input rails → engine stream → output rails → deliver → record.

Front ends (Discord, terminal) build a `WriteJob`, hand over a `Sink` that knows how to show text to the member,
and await `Pipeline.run`. The request is recorded the moment it arrives and every later step adds to it.

The stages, in the order a request meets them: `bot.core.admission` (admit), the input rails (here),
`bot.core.streaming` (engine stream, chunk by chunk) with `bot.core.output_check` (output rails and the policy's
action on each chunk), `bot.core.held` (a held output's hand-off), and delivery with `bot.core.replies`' words;
`bot.core.recording` records each step as it happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace
from typing import Any

from bot import metrics
from bot.core import replies
from bot.core.admission import (
    BUSY,
    RECORDS_UNAVAILABLE,
    SHUTTING_DOWN,
    Busy,
    CapacityGate,
    RateLimiter,
    Refusal,
    check_options,
    check_prompt,
    clean_prompt,
    defuse,
)
from bot.core.held import Held, ReviewDesk
from bot.core.output_check import REDACTED, Attempt
from bot.core.recording import RequestRecord
from bot.core.replies import disclosure, explain, member_language, reason, reference
from bot.core.request import Author, Outcome, Sink, WriteJob
from bot.core.streaming import Generation
from bot.engines.base import Engine, EngineError
from bot.logs import REQUEST_ID
from guardrails.policy import rewrite_before_block
from guardrails.rail import Verdict
from guardrails.rails.language import held_unread
from guardrails.stack import RailStack, describe_policy, policy_hash as hash_policy
from storage.models import RequestStatus
from storage.recorder import Recorder, RecorderUnavailable

log = logging.getLogger(__name__)


class Pipeline:
    """The one path a request takes from a front end to the member and into the record.

    One per process, shared by every front end: it admits requests within the rate limit and the capacity gate,
    runs the input rails, streams the engine's text through the output rails attempt by attempt, then delivers,
    holds or blocks it, recording every step. `drain` ends it cleanly at shutdown.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        rails: RailStack,
        recorder: Recorder,
        max_prompt_chars: int = 1500,
        rate_limit_per_minute: int = 6,
        max_concurrent: int = 16,
        max_queued: int = 64,
        seed: int | None = None,
        max_attempts: int = 3,
        reviews: ReviewDesk | None = None,
        record_wait_s: float = 15.0,
        shaped: bool = True,
    ) -> None:
        self.engine = engine
        self.rails = rails
        self.recorder = recorder
        self.max_prompt_chars = max_prompt_chars
        self.rate_limiter = RateLimiter(rate_limit_per_minute)
        self.gate = CapacityGate(max_concurrent, max_queued)
        self.seed = seed
        self.max_attempts = max_attempts
        self.record_wait_s = record_wait_s
        """How long text may wait for its verdict rows to be committed before the request fails instead."""
        self.shaped = shaped
        """Write /write pieces part by part in their kind's shape (bot/core/scaffolds.py), end every piece cleanly,
        and write once more where a piece misses its shape. False: one free generation shown as it came (the
        behaviour before, kept for `python -m bench writing`'s baseline)."""
        self._policies_recorded: set[str] = set()
        self.reviews = reviews
        """Set by a front end that can put held outputs before moderators (the Discord bot); else hold blocks."""
        self.draining = False
        """Set by `drain`: new requests are refused ("shutting down") and recorded as such."""
        self._open: dict[str, asyncio.Task[Any] | None] = {}
        """Requests between arrival and outcome, with the task running each."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._hurry = asyncio.Event()

    @property
    def open_requests(self) -> int:
        return len(self._open)

    async def run(self, author: Author, job: WriteJob, sink: Sink) -> Outcome:
        request_id = uuid.uuid4().hex
        context = REQUEST_ID.set(request_id)  # every log line about this request carries its id
        started = time.monotonic()
        self._open[request_id] = asyncio.current_task()
        self._idle.clear()
        status = RequestStatus.FAILED
        try:
            outcome = await self._run_recorded(request_id, author, job, sink)
            status = outcome.status
            return outcome
        except asyncio.CancelledError:
            status = RequestStatus.INTERRUPTED
            raise
        finally:
            self._open.pop(request_id, None)
            if not self._open:
                self._idle.set()
            metrics.request_ended(job.command, status.value, time.monotonic() - started)
            REQUEST_ID.reset(context)

    async def drain(self, grace_s: float) -> int:
        """Refuse new requests, give open ones up to `grace_s` (or until `hurry()`), then interrupt the rest.

        Returns how many requests were interrupted; each is recorded `interrupted` ("shutdown").
        """
        self.draining = True
        if self._open:
            idle = asyncio.ensure_future(self._idle.wait())
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait((idle, hurry), timeout=grace_s, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            hurry.cancel()
        current = asyncio.current_task()
        left = dict(self._open)
        tasks = [task for task in left.values() if task is not None and task is not current and not task.done()]
        for task in tasks:
            task.cancel()  # `run` records each as interrupted as the cancellation passes through it
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        for request_id in list(self._open):  # a task that would not end in time: closed in the record all the same
            self.recorder.request_status(request_id, RequestStatus.INTERRUPTED, "shutdown")
            self._open.pop(request_id, None)
        if left:
            log.warning("shutdown: interrupted %d requests still open after %.1f s", len(left), grace_s)
        return len(left)

    def hurry(self) -> None:
        """End `drain`'s grace period now (a second signal)."""
        self._hurry.set()

    # -- record: from its arrival, every step of a request adds to its record -------------------------------------

    async def _run_recorded(self, request_id: str, author: Author, job: WriteJob, sink: Sink) -> Outcome:
        cleaned = clean_prompt(job.prompt)
        rails = self.rails.for_policy(author.policy)
        described = describe_policy(rails, author.policy)
        policy_hash = hash_policy(described)
        if policy_hash not in self._policies_recorded:
            self.recorder.policy_version(policy_hash, described)
            self._policies_recorded.add(policy_hash)
        record = RequestRecord(self.recorder, request_id, author.guild_id, policy_hash)
        record.arrived(author, job)
        # Recorded as typed; from here on genre and tone are what the rails judge and the model reads.
        job = replace(job, genre=clean_prompt(job.genre) or None, tone=clean_prompt(job.tone) or None)
        try:
            return await self._admit(record, author, job, cleaned, sink, rails)
        except asyncio.CancelledError:
            record.status(RequestStatus.INTERRUPTED, "shutdown" if self.draining else "cancelled")
            raise
        except RecorderUnavailable:  # this text's verdict rows are not on disk: it is not shown
            return await self._end(record, sink, RequestStatus.FAILED, "records unavailable", replies.RECORDS_DOWN)
        except Exception as error:  # the member gets a short message; the log and the record get the cause
            log.exception("request %s failed", request_id)
            why = f"{type(error).__name__}: {error}"
            return await self._end(record, sink, RequestStatus.FAILED, why, replies.WENT_WRONG)

    # -- admit ----------------------------------------------------------------------------------------------------

    async def _admit(
        self, record: RequestRecord, author: Author, job: WriteJob, cleaned: str, sink: Sink, rails: RailStack
    ) -> Outcome:
        if self.draining:
            return await self._reject(record, sink, SHUTTING_DOWN)
        if not self.recorder.healthy:  # what it would show could not be recorded: refuse (the refusal waits in memory)
            return await self._reject(record, sink, RECORDS_UNAVAILABLE)
        refusal = job.refused or check_prompt(job.prompt, cleaned, self.max_prompt_chars, required=job.command == "write")
        refusal = refusal or check_options(job.genre, job.tone)
        if refusal is None and job.command == "story" and job.story is None:
            refusal = Refusal("no_story", "There is no story game here to continue.")
        if refusal is None and job.command == "continue" and not job.previous_text:
            refusal = Refusal("nothing_to_continue", "There is nothing of yours to continue yet: try `/write` first.")
        if refusal is None and not author.exempt_from_rate_limit:
            refusal = self.rate_limiter.check(author.user_id)
        if refusal is not None:
            return await self._reject(record, sink, refusal)
        queued = time.monotonic()
        try:
            async with self.gate.slot():
                metrics.queue_waited(time.monotonic() - queued)
                return await self._generate(record, author, job, cleaned, sink, rails)
        except Busy:
            return await self._reject(record, sink, BUSY)

    # -- input rails, then the engine stream through the output rails, attempt by attempt ------------------------

    async def _generate(
        self, record: RequestRecord, author: Author, job: WriteJob, cleaned: str, sink: Sink, rails: RailStack
    ) -> Outcome:
        verdicts: list[Verdict] = []
        inputs = [cleaned] if cleaned else []
        # genre and tone reach the model too: they pass the same checks as the prompt (an injection in "tone")
        options = (("Genre", job.genre), ("Tone", job.tone))
        described = " ".join(f"{name}: {value}." for name, value in options if value)
        if described:
            inputs.append(described)
        if job.previous_text and not job.previous_checked:
            inputs.append(job.previous_text)
        held: Verdict | None = None
        """An input no rail could read, under `unjudged = hold`: the output is written and held for a moderator."""
        for text in inputs:
            input_verdicts = await rails.check("input", text, author.guild_id)
            verdicts += input_verdicts
            record.verdicts(None, input_verdicts)
            failed = next((v for v in input_verdicts if v.failed), None)
            if failed is not None:
                message = explain(failed, rails.readable_languages("input"), member_language(author, verdicts))
                return await self._end(record, sink, RequestStatus.BLOCKED, reason(failed), message, verdicts=verdicts)
            held = held or next((v for v in input_verdicts if held_unread(v)), None)
        language = member_language(author, verdicts)
        readable_output = rails.readable_languages("output")
        if language is not None and readable_output is not None and language not in readable_output:
            if author.policy.unjudged == "refuse":
                language = None  # asked for, the output would be refused: write in what the checks read

        record.status(RequestStatus.GENERATING)
        generation = Generation(
            self.engine, rails, record, author, job, cleaned, sink, language, self.seed, self.shaped, self.record_wait_s
        )
        shape_retried = reworded = False
        asked = list(verdicts)  # the prompt's verdicts: nothing else has been judged yet
        for number in range(1, self.max_attempts + 1):
            attempt = Attempt(number, uuid.uuid4().hex)
            if held is not None:
                attempt.action, attempt.failed = "hold", held
            try:
                await generation.write(attempt)
            except EngineError as error:
                log.warning("engine failed on %s: %s", record.request_id, error)
                metrics.engine_error(self.engine.name)
                return await self._end(
                    record, sink, RequestStatus.FAILED, f"engine: {error}", replies.ENGINE_DOWN,
                    verdicts=verdicts + attempt.verdicts,
                )  # fmt: skip
            finally:
                verdicts += attempt.verdicts
            if attempt.action == "regenerate" and number < self.max_attempts:
                await sink.restart(replies.REWRITING_NOTE)
                continue
            failed = attempt.failed
            slipped = attempt.action == "block" and failed is not None and rewrite_before_block(failed, inputs, asked)
            if slipped and not reworded and number < self.max_attempts:
                # The model's own swearing, garble or slip in a piece the member asked for cleanly: once more, silently.
                log.info("request %s: attempt %d blocked on the model's slip (%s)", record.request_id, number, reason(failed))
                reworded = True
                await sink.restart(replies.RETRY_NOTE)
                continue
            if attempt.shape_problems and number < self.max_attempts and not shape_retried:
                # One more try with a new seed for a piece that misses its kind's shape; the member only sees
                # that it is still being written. The second piece is delivered whatever its shape.
                missed = "; ".join(attempt.shape_problems)
                log.info("request %s: attempt %d misses its shape (%s)", record.request_id, number, missed)
                shape_retried = True
                await sink.restart(replies.RETRY_NOTE)
                continue
            break
        return await self._conclude(record, author, sink, attempt, verdicts, rails)

    # -- deliver, hold for review, or block -----------------------------------------------------------------------

    async def _conclude(
        self,
        record: RequestRecord,
        author: Author,
        sink: Sink,
        attempt: Attempt,
        verdicts: list[Verdict],
        rails: RailStack,
    ) -> Outcome:
        """Deliver the last attempt, or block it, or hold it for review."""
        usage = attempt.usage
        failed = attempt.failed
        if failed is not None and attempt.action is not None and attempt.action != "redact":
            message = explain(failed, rails.readable_languages("output"), member_language(author, verdicts))
            if attempt.action == "hold":
                held = Held(record.request_id, author, defuse(attempt.written.strip()), failed)
                if await self._hand_off(author, held):
                    record.status(RequestStatus.HELD, reason(failed))
                    await self._refuse_quietly(record, sink, replies.HELD_MESSAGE)
                    return Outcome(
                        record.request_id, RequestStatus.HELD, message=replies.HELD_MESSAGE, verdicts=verdicts, usage=usage
                    )  # fmt: skip
                # Nowhere to review it: the cautious reading of "hold" is not to show it.
                why = reason(failed) + " (hold: no review channel reached)"
                return await self._end(record, sink, RequestStatus.BLOCKED, why, message, verdicts=verdicts, usage=usage)
            if attempt.action == "regenerate":
                message += f" (I tried {attempt.number} times.)"
            return await self._end(
                record, sink, RequestStatus.BLOCKED, reason(failed), message,
                text=attempt.shown, verdicts=verdicts, usage=usage,
            )  # fmt: skip

        final = attempt.shown.strip()
        if failed is not None and failed.rail == "language" and not final.replace(REDACTED, "").strip():
            # Every sentence was in a language no rail here reads: a piece of holes is not worth posting.
            message = explain(failed, rails.readable_languages("output"), member_language(author, verdicts))
            return await self._end(
                record, sink, RequestStatus.BLOCKED, reason(failed), message, verdicts=verdicts, usage=usage
            )
        if not final:
            return await self._end(
                record, sink, RequestStatus.FAILED, "empty output", replies.EMPTY_OUTPUT, verdicts=verdicts, usage=usage
            )

        await record.committed(self.record_wait_s)
        for posted in await sink.deliver(final, disclosure(record.request_id)):
            record.posted(posted)
        record.status(RequestStatus.DELIVERED)
        return Outcome(record.request_id, RequestStatus.DELIVERED, text=final, verdicts=verdicts, usage=usage)

    async def _hand_off(self, author: Author, held: Held) -> bool:
        """Put a held output before the channel's moderators; False when there is no review desk or channel."""
        if self.reviews is None or author.policy.review_channel_id is None:
            return False
        return await self.reviews.hold(held)

    async def _reject(self, record: RequestRecord, sink: Sink, refusal: Refusal) -> Outcome:
        return await self._end(record, sink, RequestStatus.REJECTED, refusal.reason, refusal.message)

    async def _end(
        self, record: RequestRecord, sink: Sink, status: RequestStatus, why: str, message: str, **outcome: Any
    ) -> Outcome:
        """Close a request that shows nothing: record why, tell the member in a short message."""
        record.status(status, why)
        await self._refuse_quietly(record, sink, message)
        return Outcome(record.request_id, status, message=message, **outcome)

    async def _refuse_quietly(self, record: RequestRecord, sink: Sink, message: str) -> None:
        """Tell the member; a failure to reach them (socket gone) is logged, never raised over the record."""
        try:
            for posted in await sink.refuse(message, reference(record.request_id)):
                record.posted(posted)
        except Exception:
            log.exception("could not deliver the refusal for %s", record.request_id)
