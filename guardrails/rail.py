"""What a rail returns: scores, a decision and an explanation, stored with every request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Decision = Literal["pass", "flag", "block", "redact", "skip", "error"]
Stage = Literal["input", "output"]


@dataclass(slots=True)
class Verdict:
    rail: str
    backend: str
    version: str
    stage: Stage
    decision: Decision
    scores: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    category: str | None = None
    """The category that decided a non-pass verdict."""
    sentence: str | None = None
    """The sentence (or chunk) that failed, for the explanation."""
    explanation: str = ""
    correction: str | None = None
    """For a flagged false claim: the correction to show beside the text."""
    latency_ms: float = 0.0
    chunk_index: int | None = None

    @property
    def failed(self) -> bool:
        """Whether the text may not be shown as is. A rail that could not judge fails closed."""
        return self.decision in ("block", "redact", "error")

    def as_dict(self) -> dict:
        return asdict(self)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line of at most `limit` characters: what a verdict's explanation says of a failed model."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."
