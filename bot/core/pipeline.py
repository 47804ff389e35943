"""The generation pipeline: admit → input rails → engine stream → output rails → deliver → record.

Front ends (Discord, terminal) build a `WriteJob`, hand over a `Sink` that knows how to show text to the member,
and await `Pipeline.run`. The request is recorded the moment it arrives and every later step adds to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot import metrics
from bot.core import prompts, shapes
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
from bot.core.scaffolds import Scaffold
from bot.engines.base import Engine, EngineError, Usage
from bot.logs import REQUEST_ID
from guardrails.dangerous import CATEGORY as DANGEROUS
from guardrails.language import ENGLISH_NAMES, held_unread, language_of, refusal
from guardrails.policy import Action, Policy
from guardrails.stack import DEFAULT_POLICY, RailStack, describe_policy
from guardrails.stack import policy_hash as hash_policy
from guardrails.toxicity import TARGETED_NOTE
from guardrails.veils import FADE
from guardrails.verdict import Verdict
from storage.models import RequestStatus
from storage.recorder import Recorder, RecorderUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Author:
    interface: str  # discord | local
    user_id: int
    user_name: str
    guild_id: int | None
    channel_id: int | None
    exempt_from_rate_limit: bool = False
    policy: Policy = DEFAULT_POLICY
    """The guardrail policy of the channel the request came from (`guardrails.policy.resolve_policy`)."""
    locale: str | None = None
    """The member's language as their client says (Discord's interaction locale, e.g. "es-ES"); the language of
    what they type comes first (`guardrails.language`), this where that cannot be told."""


@dataclass(slots=True)
class WriteJob:
    command: str  # write | continue | story
    kind: str | None
    prompt: str | None
    """What the member typed: the subject for /write, a direction for /continue."""
    genre: str | None = None
    tone: str | None = None
    length: str = "medium"
    previous_text: str | None = None
    """For /continue: the text to continue."""
    previous_checked: bool = False
    """True when `previous_text` is our own output that passed the rails; anything else passes the input rails."""
    parent_request_id: str | None = None
    derived_from: str | None = None
    """For "Another take" (bot/discord/cogs/pieces.py): the request this one writes again with a new seed."""
    story: prompts.StoryContext | None = None
    """For a story game's AI turn or recap (bot/core/story): what the engine sees; `prompt` is the players' direction."""
    refused: Refusal | None = None
    """Set by a front end that already knows the request cannot go ahead (a /continue target not found here):
    the pipeline records the attempt and tells the member, like any other refusal."""

    def options(self) -> dict:
        options = {"genre": self.genre, "tone": self.tone, "length": self.length}
        if self.derived_from is not None:
            options["derived_from"] = self.derived_from
        if self.story is not None:  # provenance: the request's record (and so the chain) names session and turn
            story = self.story
            options.update(story_session=story.session_id, story_task=story.task, parent_turn=story.parent_turn)
            if story.choice is not None:
                options["choice"] = story.choice
        return options


@dataclass(frozen=True, slots=True)
class Posted:
    channel_id: int | None
    message_id: int | None
    kind: str  # message | file | notice


class Sink(Protocol):
    """Where text goes. `show` receives all the text that has passed so far; it may throttle."""

    async def show(self, text: str) -> None: ...

    async def restart(self, note: str) -> None:
        """Withdraw what was shown (a failed attempt) and show `note` while the next attempt is written."""
        ...

    async def deliver(self, text: str, footer: str) -> list[Posted]: ...

    async def refuse(self, message: str, footer: str) -> list[Posted]: ...


@dataclass(frozen=True, slots=True)
class Held:
    """An output held for a moderator: everything the engine wrote, and the verdict that held it."""

    request_id: str
    author: Author
    text: str
    verdict: Verdict


class ReviewDesk(Protocol):
    async def hold(self, held: Held) -> bool:
        """Put `held` before the guild's moderators; False when there is nowhere to (the request is blocked)."""
        ...


@dataclass(slots=True)
class Attempt:
    """One generation of a request: what the member saw, what the engine wrote, and how it ended."""

    number: int
    generation_id: str
    raw: list[str] = field(default_factory=list)
    shown: str = ""
    written: str = ""
    """Every chunk judged, unmasked: what moderators review when the output is held."""
    verdicts: list[Verdict] = field(default_factory=list)
    action: Action | None = None
    failed: Verdict | None = None
    redactions: int = 0
    usage: Usage | None = None
    trimmed: bool = False
    """Whether the text shown stops short of what the engine wrote (cut back to a clean end)."""
    shape_problems: list[str] = field(default_factory=list)
    """What keeps the piece from its kind's shape (bot/core/shapes.py); empty when presentable."""

    @property
    def stopped(self) -> bool:
        """Whether the engine should stop: the output will not be shown whatever comes next."""
        return self.action in ("block", "regenerate")


@dataclass(slots=True)
class Outcome:
    request_id: str
    status: RequestStatus
    text: str = ""
    message: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    usage: Usage | None = None


def disclosure(request_id: str) -> str:
    return f"-# AI-generated by Storyloom · request `{request_id}`"


def reference(request_id: str) -> str:
    """The small print under a refusal or an engine-down notice: the request id, and no AI disclosure, since
    nothing AI-generated is shown."""
    return f"-# Storyloom · request `{request_id}`"


REDACTED = "[sentence removed]"
MAX_REDACTIONS = 3
"""Past this many masked sentences an output is blocked: a story that is mostly holes helps nobody."""
GO_ON = "\n-# Stopped at the length limit: `/continue` goes on from here."
"""Under a piece cut back to a clean end because its token budget ran out."""
RETRY_NOTE = "*Still writing…*"
SAFER_INSTRUCTION = (
    "Write it again for a general audience: keep the story, but no slurs, no insults or threats aimed at real "
    "people, no explicit content, and no real-world falsehoods stated as fact."
)
# When several rails fail one chunk, the strictest action wins.
_SEVERITY: dict[Action, int] = {"redact": 1, "hold": 2, "regenerate": 3, "block": 4}

LANGUAGE_INSTRUCTION = "Write your answer in {language}, the language of the person asking."

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s|\n")


class SentenceChunker:
    """Cuts the stream into chunks the output rails judge before anything is shown: a sentence or so."""

    def __init__(self, min_chars: int = 24, max_chars: int = 320) -> None:
        self._buffer = ""
        self._min = min_chars
        self._max = max_chars

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        chunks: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                return chunks
            chunks.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]

    def rest(self) -> str:
        rest, self._buffer = self._buffer, ""
        return rest

    def _next_cut(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._buffer, self._min):
            return match.end()
        if len(self._buffer) >= self._max:
            space = self._buffer.rfind(" ", self._min, self._max)
            return space + 1 if space > 0 else self._max
        return None


class Pipeline:
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
        self.shaped = shaped
        """Write /write pieces part by part in their kind's shape (bot/core/scaffolds.py), end every piece cleanly,
        and write once more where a piece misses its shape. False: one free generation shown as it came (the
        behaviour before, kept for `python -m bench writing`'s baseline)."""
        """How long text may wait for its verdict rows to be committed before the request fails instead."""
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

    async def _run_recorded(self, request_id: str, author: Author, job: WriteJob, sink: Sink) -> Outcome:
        cleaned = clean_prompt(job.prompt)
        rails = self.rails.for_policy(author.policy)
        described = describe_policy(rails, author.policy)
        policy_hash = hash_policy(described)
        if policy_hash not in self._policies_recorded:
            self.recorder.policy_version(policy_hash, described)
            self._policies_recorded.add(policy_hash)
        self.recorder.request_arrived(
            id=request_id,
            interface=author.interface,
            guild_id=author.guild_id,
            channel_id=author.channel_id,
            user_id=author.user_id,
            user_name=author.user_name[:100],
            command=job.command,
            kind=job.kind,
            options={**job.options(), "rating": author.policy.rating},
            prompt=job.prompt,
            parent_request_id=job.parent_request_id,
            policy_hash=policy_hash,
        )
        # Recorded as typed; from here on genre and tone are what the rails judge and the model reads.
        job = replace(job, genre=clean_prompt(job.genre) or None, tone=clean_prompt(job.tone) or None)
        try:
            return await self._run(request_id, author, job, cleaned, sink, rails)
        except asyncio.CancelledError:
            self.recorder.request_status(request_id, RequestStatus.INTERRUPTED, "shutdown" if self.draining else "cancelled")
            raise
        except RecorderUnavailable:  # this text's verdict rows are not on disk: it is not shown
            message = "I can't save my records right now, so I stopped and posted nothing more. Please try again later."
            return await self._end(request_id, sink, RequestStatus.FAILED, "records unavailable", message)
        except Exception as error:  # the member gets a short message; the log and the record get the cause
            log.exception("request %s failed", request_id)
            message = "Something went wrong on my side and nothing was posted. Please try again."
            return await self._end(request_id, sink, RequestStatus.FAILED, f"{type(error).__name__}: {error}", message)

    async def _run(
        self, request_id: str, author: Author, job: WriteJob, cleaned: str, sink: Sink, rails: RailStack
    ) -> Outcome:
        # admit
        if self.draining:
            return await self._reject(request_id, sink, SHUTTING_DOWN)
        if not self.recorder.healthy:  # what it would show could not be recorded: refuse (the refusal waits in memory)
            return await self._reject(request_id, sink, RECORDS_UNAVAILABLE)
        refusal = job.refused or check_prompt(job.prompt, cleaned, self.max_prompt_chars, required=job.command == "write")
        refusal = refusal or check_options(job.genre, job.tone)
        if refusal is None and job.command == "story" and job.story is None:
            refusal = Refusal("no_story", "There is no story game here to continue.")
        if refusal is None and job.command == "continue" and not job.previous_text:
            refusal = Refusal("nothing_to_continue", "There is nothing of yours to continue yet: try `/write` first.")
        if refusal is None and not author.exempt_from_rate_limit:
            refusal = self.rate_limiter.check(author.user_id)
        if refusal is not None:
            return await self._reject(request_id, sink, refusal)
        queued = time.monotonic()
        try:
            async with self.gate.slot():
                metrics.queue_waited(time.monotonic() - queued)
                return await self._generate(request_id, author, job, cleaned, sink, rails)
        except Busy:
            return await self._reject(request_id, sink, BUSY)

    async def _generate(
        self, request_id: str, author: Author, job: WriteJob, cleaned: str, sink: Sink, rails: RailStack
    ) -> Outcome:
        verdicts: list[Verdict] = []
        policy_hash = hash_policy(describe_policy(rails, author.policy))
        # input rails
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
            self._record_verdicts(request_id, author.guild_id, None, input_verdicts, policy_hash)
            failed = next((v for v in input_verdicts if v.failed), None)
            if failed is not None:
                message = _explain(failed, rails.readable_languages("input"), member_language(author, verdicts))
                return await self._end(
                    request_id, sink, RequestStatus.BLOCKED, _reason(failed), message, verdicts=verdicts
                )
            held = held or next((v for v in input_verdicts if held_unread(v)), None)
        language = member_language(author, verdicts)
        readable_output = rails.readable_languages("output")
        if language is not None and readable_output is not None and language not in readable_output:
            if author.policy.unjudged == "refuse":
                language = None  # asked for, the output would be refused: write in what the checks read

        # engine stream → output rails, chunk by chunk; a failed attempt may be written again
        self.recorder.request_status(request_id, RequestStatus.GENERATING)
        shape_retried = False
        for number in range(1, self.max_attempts + 1):
            attempt = Attempt(number, uuid.uuid4().hex)
            if held is not None:
                attempt.action, attempt.failed = "hold", held
            try:
                await self._write(request_id, author, job, cleaned, sink, rails, attempt, policy_hash, language)
            except EngineError as error:
                log.warning("engine failed on %s: %s", request_id, error)
                metrics.engine_error(self.engine.name)
                message = "The writing engine is not answering right now. Please try again in a minute."
                return await self._end(
                    request_id, sink, RequestStatus.FAILED, f"engine: {error}", message, verdicts=verdicts + attempt.verdicts
                )  # fmt: skip
            finally:
                verdicts += attempt.verdicts
            if attempt.action == "regenerate" and number < self.max_attempts:
                await sink.restart("*Rewriting that more gently…*")
                continue
            if attempt.shape_problems and number < self.max_attempts and not shape_retried:
                # One more try with a new seed for a piece that misses its kind's shape; the member only sees
                # that it is still being written. The second piece is delivered whatever its shape.
                missed = "; ".join(attempt.shape_problems)
                log.info("request %s: attempt %d misses its shape (%s)", request_id, number, missed)
                shape_retried = True
                await sink.restart(RETRY_NOTE)
                continue
            break
        return await self._conclude(request_id, author, sink, attempt, verdicts, rails)

    async def _write(
        self,
        request_id: str,
        author: Author,
        job: WriteJob,
        cleaned: str,
        sink: Sink,
        rails: RailStack,
        attempt: Attempt,
        policy_hash: str,
        language: str | None = None,
    ) -> None:
        """One generation, streamed through the output rails: passed chunks are shown, failed ones acted on."""
        messages = self._render(job, cleaned, safer=attempt.number > 1, language=language)
        if author.policy.house_style:  # a server's note, after the rules it cannot remove (bot/core/prompts.py)
            messages[0] = {**messages[0], "content": prompts.with_house_style(messages[0]["content"], author.policy.house_style)}
        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        seed += attempt.number - 1  # a new attempt must not write the same text again
        if job.story is not None and job.story.choice:
            seed += 1000 * (job.story.choice - 1)  # a vote's choices must differ under a fixed seed too
        if job.derived_from is not None:  # "Another take" asks for a new seed, under a fixed one too (it is recorded)
            seed = (seed + 1 + secrets.randbelow(2**30)) % 2**31
        params = prompts.sampling_for(job.kind or "story", job.length, seed)
        self.recorder.generation(
            id=attempt.generation_id,
            request_id=request_id,
            attempt=attempt.number,
            engine=self.engine.name,
            model_id=self.engine.model_id,
            params=params.as_dict(),
            seed=seed,
            template_version=prompts.TEMPLATE_VERSION,
            rendered_prompt=json.dumps(messages, ensure_ascii=False),
        )
        chunker = SentenceChunker()
        chunk_index = 0
        if self.shaped and job.command == "write" and job.kind in prompts.KINDS:
            scaffold = Scaffold(self.engine, job.kind, job.length, cleaned, job.genre)
            stream = scaffold.stream(messages, params, request_id)
        else:
            stream = self.engine.stream(messages, params, request_id)
        try:
            async for event in stream:
                if isinstance(event, Usage):
                    attempt.usage = event
                    break
                attempt.raw.append(event.text)
                for chunk in chunker.feed(event.text):
                    await self._judge(rails, request_id, author, attempt, chunk, chunk_index, policy_hash, sink)
                    chunk_index += 1
                    if attempt.stopped:
                        break
                if attempt.stopped:
                    break
            rest = chunker.rest()
            if not attempt.stopped and rest.strip():
                await self._judge(rails, request_id, author, attempt, rest, chunk_index, policy_hash, sink)
            if attempt.action in (None, "redact") and attempt.shown.strip():
                note = ""
                if self.shaped:  # never a half word, a broken character or a heading with nothing under it
                    kind = job.kind if job.command != "story" and job.kind in prompts.KINDS else "story"
                    whole = attempt.shown.strip()
                    attempt.shown = shapes.clean_end(whole, kind)
                    cut = attempt.usage is not None and attempt.usage.finish_reason == "length"
                    attempt.trimmed = attempt.shown != whole.replace(shapes.BROKEN, "").rstrip()
                    if job.command == "write":
                        form = shapes.poem_form(cleaned, job.genre) if kind == "poem" else None
                        attempt.shape_problems = shapes.problems(kind, attempt.shown, form)
                    if (attempt.trimmed or cut) and job.command != "story" and attempt.shown:
                        note = GO_ON
                # defused again as a whole: a mention or invite may have been cut between two chunks; a character
                # an engine cut in half (U+FFFD) is never shown or stored as shown
                shown = attempt.shown.replace(shapes.BROKEN, "").strip()
                attempt.shown = defuse(shown + fact_check_notes(attempt.verdicts) + note)
        finally:
            # Stops the engine's work at once when a chunk failed (or anything else ended the loop early).
            await stream.aclose()
            self._finish_generation(attempt)

    async def _judge(
        self,
        rails: RailStack,
        request_id: str,
        author: Author,
        attempt: Attempt,
        chunk: str,
        index: int,
        policy_hash: str,
        sink: Sink,
    ) -> None:
        """Check one chunk, record the verdicts, and show it, mask it, or stop, as the policy says."""
        verdicts = await rails.check("output", chunk, author.guild_id)
        action: Action | None = None
        failing: Verdict | None = None
        for verdict in verdicts:
            verdict.chunk_index = index
            wanted = rails.action_for(verdict)
            if wanted == "redact":
                verdict.decision = "redact"
            if wanted is not None and (action is None or _SEVERITY[wanted] > _SEVERITY[action]):
                action, failing = wanted, verdict
        attempt.verdicts += verdicts
        self._record_verdicts(request_id, author.guild_id, attempt.generation_id, verdicts, policy_hash)

        attempt.written += chunk
        if attempt.action == "hold":
            return  # held outputs are written to the end for the moderator, and shown to no one meanwhile
        # A story's veil (guardrails/veils.py): the sentence fades out, a run of them as one fade. A fade is the
        # story going as the players asked, not a hole in it: it does not count towards MAX_REDACTIONS.
        fade = action == "redact" and failing is not None and failing.category == "veil"
        if action == "redact" and not fade:
            attempt.redactions += 1
            if attempt.redactions > MAX_REDACTIONS:
                action = "block"
        if action in ("block", "regenerate", "hold"):
            attempt.action, attempt.failed = action, failing
            return
        if action == "redact":
            attempt.action = attempt.action or "redact"
            attempt.failed = attempt.failed or failing
            trailing = chunk[len(chunk.rstrip()) :]
            if not (fade and attempt.shown.rstrip().endswith(FADE)):
                attempt.shown += (FADE if fade else REDACTED) + (trailing or " ")
        else:
            attempt.shown += defuse(chunk)  # judged as written; shown unable to ping or invite (engine output)
        await self._recorded()
        await sink.show(attempt.shown)

    async def _conclude(
        self,
        request_id: str,
        author: Author,
        sink: Sink,
        attempt: Attempt,
        verdicts: list[Verdict],
        rails: RailStack | None = None,
    ) -> Outcome:
        """Deliver the last attempt, or block it, or hold it for review."""
        usage = attempt.usage
        failed = attempt.failed
        readable = (rails or self.rails).readable_languages("output")
        if attempt.action == "hold" and failed is not None:
            held = Held(request_id, author, defuse(attempt.written.strip()), failed)
            if self.reviews is not None and author.policy.review_channel_id is not None and await self.reviews.hold(held):
                self.recorder.request_status(request_id, RequestStatus.HELD, _reason(failed))
                message = (
                    "This piece is waiting for a moderator's review before anyone sees it; "
                    "I'll tell you how it went."
                )
                await self._refuse_quietly(request_id, sink, message)
                return Outcome(request_id, RequestStatus.HELD, message=message, verdicts=verdicts, usage=usage)
            # Nowhere to review it: the cautious reading of "hold" is not to show it.
            return await self._end(
                request_id, sink, RequestStatus.BLOCKED, _reason(failed) + " (hold: no review channel reached)",
                _explain(failed, readable, member_language(author, verdicts)), verdicts=verdicts, usage=usage,
            )  # fmt: skip
        if attempt.action in ("block", "regenerate") and failed is not None:
            message = _explain(failed, readable, member_language(author, verdicts))
            if attempt.action == "regenerate":
                message += f" (I tried {attempt.number} times.)"
            return await self._end(
                request_id, sink, RequestStatus.BLOCKED, _reason(failed), message,
                text=attempt.shown, verdicts=verdicts, usage=usage,
            )  # fmt: skip

        final = attempt.shown.strip()
        if failed is not None and failed.rail == "language" and not final.replace(REDACTED, "").strip():
            # Every sentence was in a language no rail here reads: a piece of holes is not worth posting.
            return await self._end(
                request_id, sink, RequestStatus.BLOCKED, _reason(failed),
                _explain(failed, readable, member_language(author, verdicts)), verdicts=verdicts, usage=usage,
            )  # fmt: skip
        if not final:
            message = "The model returned nothing this time. Please try again."
            return await self._end(
                request_id, sink, RequestStatus.FAILED, "empty output", message, verdicts=verdicts, usage=usage
            )

        # deliver
        await self._recorded()
        for posted in await sink.deliver(final, disclosure(request_id)):
            self._record_posted(request_id, posted)
        self.recorder.request_status(request_id, RequestStatus.DELIVERED)
        return Outcome(request_id, RequestStatus.DELIVERED, text=final, verdicts=verdicts, usage=usage)

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _render(job: WriteJob, cleaned: str, *, safer: bool = False, language: str | None = None) -> list[dict[str, str]]:
        if job.command == "story" and job.story is not None:
            messages = prompts.render_story(job.story, cleaned or None)
        elif job.command == "continue":
            messages = prompts.render_continue(job.previous_text or "", job.kind, cleaned or None)
        else:
            ask = prompts.CreativeAsk(
                kind=job.kind or "story", about=cleaned, genre=job.genre, tone=job.tone, length=job.length
            )
            messages = prompts.render_write(ask)
        if safer:
            messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{SAFER_INSTRUCTION}"}
        if language is not None and language != "en" and language in ENGLISH_NAMES:
            # The member's language (what they typed, else their client's locale): the model answers in it.
            instruction = LANGUAGE_INSTRUCTION.format(language=ENGLISH_NAMES[language])
            messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{instruction}"}
        return messages

    async def _recorded(self) -> None:
        """Wait until every row enqueued so far (this text's verdicts among them) is committed: nothing is shown
        that is not on disk with its verdicts, so even a process killed the next instant leaves them behind."""
        try:  # a timeout scope, not wait_for: no task made for each chunk shown (bench gpu_sim's profile)
            async with asyncio.timeout(self.record_wait_s):
                await self.recorder.flush()
        except TimeoutError:
            raise RecorderUnavailable(f"nothing committed within {self.record_wait_s:.0f} s") from None

    def _record_verdicts(
        self, request_id: str, guild_id: int | None, generation_id: str | None, verdicts: list[Verdict], policy_hash: str
    ) -> None:
        metrics.verdicts_recorded(verdicts)
        self.recorder.judged(
            verdicts, request_id=request_id, guild_id=guild_id, generation_id=generation_id, policy_hash=policy_hash
        )

    def _finish_generation(self, attempt: Attempt) -> None:
        values: dict = {"raw_output": "".join(attempt.raw), "shown_output": attempt.shown}
        usage = attempt.usage
        if usage is not None:
            metrics.generation_finished(self.engine.name, usage)
            values.update(
                prompt_tokens=usage.prompt_tokens,
                output_tokens=usage.output_tokens,
                finish_reason=usage.finish_reason,
                time_to_first_token_ms=None
                if usage.time_to_first_token_s is None
                else usage.time_to_first_token_s * 1000,
                total_ms=usage.total_time_s * 1000,
            )
            if usage.extra.get("replicas"):  # an engine replica failed and another took over (openai engine)
                values["replicas"] = usage.extra["replicas"]
        else:
            values["finish_reason"] = "cancelled"
        self.recorder.generation_update(attempt.generation_id, **values)

    def _record_posted(self, request_id: str, posted: Posted) -> None:
        self.recorder.delivery(
            request_id=request_id, channel_id=posted.channel_id, message_id=posted.message_id, kind=posted.kind
        )

    async def _reject(self, request_id: str, sink: Sink, refusal: Refusal) -> Outcome:
        return await self._end(request_id, sink, RequestStatus.REJECTED, refusal.reason, refusal.message)

    async def _end(
        self, request_id: str, sink: Sink, status: RequestStatus, reason: str, message: str, **outcome: Any
    ) -> Outcome:
        """Close a request that shows nothing: record why, tell the member in a short message."""
        self.recorder.request_status(request_id, status, reason)
        await self._refuse_quietly(request_id, sink, message)
        return Outcome(request_id, status, message=message, **outcome)

    async def _refuse_quietly(self, request_id: str, sink: Sink, message: str) -> None:
        """Tell the member; a failure to reach them (socket gone) is logged, never raised over the record."""
        try:
            for posted in await sink.refuse(message, reference(request_id)):
                self._record_posted(request_id, posted)
        except Exception:
            log.exception("could not deliver the refusal for %s", request_id)


def fact_check_notes(verdicts: list[Verdict]) -> str:
    """Corrections for false real-world claims the text asserted to the reader, as small print below it."""
    corrections = list(dict.fromkeys(v.correction for v in verdicts if v.decision == "flag" and v.correction))
    return "".join(f"\n-# Fact check: {correction}" for correction in corrections[:3])


def _reason(verdict: Verdict) -> str:
    return f"{verdict.stage} {verdict.rail}: {verdict.category or verdict.decision}"


WHY: dict[str, str] = {
    "injection": "it tries to change, reveal or switch off my instructions",
    "threat": "it reads as a threat",
    "identity_attack": "it attacks people for who they are",
    "insult": "it insults someone",
    "toxicity": "it reads as abuse",
    "severe_toxicity": "it reads as severe abuse",
    "obscene": "its language is stronger than this channel allows",
    "sexual_explicit": "it is more sexually explicit than this channel allows",
    "self_harm": "it encourages self-harm",
    "misinformation": "it states a false real-world claim as fact",
}
"""Why a rail stopped a text, by the category that decided, in words a member reads (one clause)."""

def member_language(author: Author, verdicts: list[Verdict]) -> str | None:
    """What the member writes in: the language found in what they typed, else their client's locale."""
    found = language_of(verdicts)
    if found is not None:
        return found
    return author.locale.split("-")[0].lower() if author.locale else None


def _explain(verdict: Verdict, readable: frozenset[str] | None = None, language: str | None = None) -> str:
    """What the member reads when a rail stops a request: the rail's reason in one short sentence, then its figures."""
    if verdict.category == "language":  # no rail here reads it: say which languages they do, in theirs
        return refusal(readable, language)
    if verdict.decision == "error":
        return "I couldn't check this text just now, so nothing was posted. Please try again in a moment."
    if verdict.category == "line":  # a story game's line (guardrails/lines.py): name the topic, not a score
        return f"That crosses one of this story's lines ({verdict.explanation}). Nothing was posted."
    if verdict.category == DANGEROUS:  # not abuse: say what it is, at every rating and in every frame
        return "I can't give real-world instructions for serious harm, even inside a story; nothing was posted."
    category = verdict.category or verdict.rail
    why = WHY.get(category, f"the {verdict.rail} check stopped it ({category.replace('_', ' ')})")
    if verdict.rail == "toxicity" and TARGETED_NOTE in (verdict.explanation or ""):
        why += ", aimed at a real person"
    score = verdict.scores.get(category, 0.0)
    threshold = verdict.thresholds.get(category, 0.0)
    measured = f"{category.replace('_', ' ')}: {score:.2f}, limit {threshold:.2f}" if category in verdict.scores else ""
    figures = f" ({measured})" if measured else ""
    if verdict.stage == "input":
        return f"I can't write from that prompt: {why}{figures}."
    return (
        f"I stopped writing because the text crossed this channel's line: {why}{figures}. "
        "Nothing was posted; try a different prompt."
    )
