"""The one async streaming interface every engine implements.

An engine turns chat messages into a stream of events: `Delta`s carrying new text, then exactly one `Usage`
at the end. A conversation that ends in an assistant message is a reply begun by the caller: the engine renders
it unclosed (`continue_final_message`) and streams only what the model writes after it (bot/core/scaffolds.py
writes a piece's headings this way). `SamplingParams.stop` ends the generation at the first of its strings, which
is not streamed (finish reason "stop").

Closing the stream early (``aclose()``, or breaking out of ``async for``) cancels the request in
the engine, which is how a failed guardrail chunk saves the engine's time.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How an engine samples one generation (the request records them with it)."""

    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    repetition_penalty: float = 1.1
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text."""

    text: str


@dataclass(slots=True)
class Usage:
    """The last event of a stream: token counts, why it ended, and its timings."""

    prompt_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    time_to_first_token_s: float | None
    total_time_s: float
    extra: dict = field(default_factory=dict)


StreamEvent = Delta | Usage
ChatMessages = list[dict[str, str]]


def continues_reply(messages: ChatMessages) -> bool:
    """Whether the conversation ends in a begun assistant reply that the model is to continue."""
    return bool(messages) and messages[-1].get("role") == "assistant" and bool(messages[-1].get("content"))


def render_chat(tokenizer, messages: ChatMessages) -> str:
    """The prompt text of `messages` under the tokenizer's chat template: a final assistant message left open."""
    if continues_reply(messages):
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


class StopMatcher:
    """Finds the first stop string in a stream of text deltas; holds back a tail that may be a stop's beginning."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that may be released now, and whether a stop string was reached (then nothing follows)."""
        if not self._stops:
            return text, False
        held = self._held + text
        cuts = [i for i in (held.find(stop) for stop in self._stops) if i >= 0]
        if cuts:
            self._held = ""
            return held[: min(cuts)], True
        hold = 0
        for size in range(min(max(map(len, self._stops)) - 1, len(held)), 0, -1):
            if any(stop.startswith(held[-size:]) for stop in self._stops):
                hold = size
                break
        self._held = held[len(held) - hold :]
        return held[: len(held) - hold], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


class EngineError(RuntimeError):
    """The engine could not serve a request (all replicas down, model failed, ...)."""


class Engine(abc.ABC):
    """Base class for the `transformers`, `vllm` and `openai` engines."""

    name: str
    model_id: str

    async def start(self) -> None:
        """Load the model or check the servers; called once before the first request."""

    async def close(self) -> None:
        """Release the model, threads and connections."""

    @abc.abstractmethod
    def stream(self, messages: ChatMessages, params: SamplingParams, request_id: str) -> AsyncIterator[StreamEvent]:
        """Yield `Delta`s then one `Usage`. Must be an async generator so that `aclose()` cancels the request."""

    async def complete(self, messages: ChatMessages, params: SamplingParams, request_id: str) -> tuple[str, Usage]:
        """Convenience: the whole text and its usage."""
        parts: list[str] = []
        usage: Usage | None = None
        async for event in self.stream(messages, params, request_id):
            if isinstance(event, Delta):
                parts.append(event.text)
            else:
                usage = event
        if usage is None:
            raise EngineError("engine stream ended without usage")
        return "".join(parts), usage
