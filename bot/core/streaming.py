"""The engine stage: what the engine is asked, and its stream cut into chunks the output rails judge one by one.

Passed chunks are shown as they come; a chunk that stops the attempt stops the engine at once (it saves the
engine's time). `bot.core.output_check` says what each verdict does to the attempt.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import partial

from bot.core import prompts, shapes
from bot.core.output_check import Attempt, strictest
from bot.core.recording import RequestRecord
from bot.core.request import Author, Sink, WriteJob
from bot.core.scaffolds import Scaffold
from bot.engines.base import ChatMessages, Engine, Usage
from guardrails.rails.language import ENGLISH_NAMES
from guardrails.stack import RailStack

SAFER_INSTRUCTION = (
    "Write it again for a general audience: keep the story, but no slurs, no insults or threats aimed at real "
    "people, no explicit content, and no real-world falsehoods stated as fact."
)
LANGUAGE_INSTRUCTION = "Write your answer in {language}, the language of the person asking."

_SENTENCE_END = re.compile(shapes.NOT_AN_ABBREVIATION + r"[.!?…][\"'”’)\]]*\s|\n")
"""A chunk ends after a sentence (not after "Dr." or "J.": the rails would judge half a sentence) or a line."""


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


def render(job: WriteJob, cleaned: str, *, safer: bool = False, language: str | None = None) -> ChatMessages:
    """The chat the engine gets for `job`: asked again more safely (`safer`), in the member's `language`."""
    if job.command == "story" and job.story is not None:
        messages = prompts.render_story(job.story, cleaned or None)
    elif job.command == "continue":
        messages = prompts.render_continue(job.previous_text or "", job.kind, cleaned or None)
    else:
        ask = prompts.CreativeAsk(kind=job.kind or "story", about=cleaned, genre=job.genre, tone=job.tone, length=job.length)
        messages = prompts.render_write(ask)
    if safer:
        messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{SAFER_INSTRUCTION}"}
    if language is not None and language != "en" and language in ENGLISH_NAMES:
        # The member's language (what they typed, else their client's locale): the model answers in it.
        instruction = LANGUAGE_INSTRUCTION.format(language=ENGLISH_NAMES[language])
        messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{instruction}"}
    return messages


@dataclass(slots=True)
class Generation:
    """A request's way through the engine and the output rails, one `Attempt` at a time."""

    engine: Engine
    rails: RailStack
    record: RequestRecord
    author: Author
    job: WriteJob
    cleaned: str
    sink: Sink
    language: str | None
    seed: int | None
    """The pipeline's fixed seed, if any; else each attempt draws one."""
    shaped: bool
    record_wait_s: float

    async def write(self, attempt: Attempt) -> None:
        """One generation, streamed through the output rails: passed chunks are shown, failed ones acted on."""
        job = self.job
        messages = render(job, self.cleaned, safer=attempt.number > 1, language=self.language)
        house_style = self.author.policy.house_style
        if house_style:  # a server's note, after the rules it cannot remove (bot/core/prompts.py)
            messages[0] = {**messages[0], "content": prompts.with_house_style(messages[0]["content"], house_style)}
        seed = self._seed(attempt)
        params = prompts.sampling_for(job.kind or "story", job.length, seed)
        self.record.generation_started(attempt, self.engine, params, seed, messages)
        chunker = SentenceChunker()
        chunk_index = 0
        if self.shaped and job.command == "write" and job.kind in prompts.KINDS:
            readable = partial(self.rails.reads, stage="output")
            scaffold = Scaffold(self.engine, job.kind, job.length, self.cleaned, job.genre, readable=readable)
            stream = scaffold.stream(messages, params, self.record.request_id)
        else:
            stream = self.engine.stream(messages, params, self.record.request_id)
        try:
            async for event in stream:
                if isinstance(event, Usage):
                    attempt.usage = event
                    break
                attempt.raw.append(event.text)
                for chunk in chunker.feed(event.text):
                    await self._judge(attempt, chunk, chunk_index)
                    chunk_index += 1
                    if attempt.stopped:
                        break
                if attempt.stopped:
                    break
            rest = chunker.rest()
            if not attempt.stopped and rest.strip():
                await self._judge(attempt, rest, chunk_index)
            attempt.finish(job, self.cleaned, self.shaped)
        finally:
            # Stops the engine's work at once when a chunk failed (or anything else ended the loop early).
            await stream.aclose()
            self.record.generation_ended(attempt, self.engine.name)

    def _seed(self, attempt: Attempt) -> int:
        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        seed += attempt.number - 1  # a new attempt must not write the same text again
        story = self.job.story
        if story is not None and story.choice:
            seed += 1000 * (story.choice - 1)  # a vote's choices must differ under a fixed seed too
        if self.job.derived_from is not None:  # "Another take" asks for a new seed, under a fixed one too (it is recorded)
            seed = (seed + 1 + secrets.randbelow(2**30)) % 2**31
        return seed

    async def _judge(self, attempt: Attempt, chunk: str, index: int) -> None:
        """Check one chunk, record the verdicts, and show it, mask it, or stop, as the policy says."""
        verdicts = await self.rails.check("output", chunk, self.author.guild_id)
        action, failing = strictest(self.rails, verdicts, index)
        attempt.verdicts += verdicts
        self.record.verdicts(attempt.generation_id, verdicts)
        if attempt.take(chunk, action, failing):
            await self.record.committed(self.record_wait_s)
            await self.sink.show(attempt.shown)
