"""The one async streaming interface every engine implements.

An engine turns chat messages into a stream of events: `Delta`s carrying new text, then exactly one `Usage`
at the end. Closing the stream early (``aclose()``, or breaking out of ``async for``) cancels the request in
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
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    repetition_penalty: float = 1.1

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    time_to_first_token_s: float | None
    total_time_s: float
    extra: dict = field(default_factory=dict)


StreamEvent = Delta | Usage
ChatMessages = list[dict[str, str]]


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
