"""The one interface every rail implements (`Rail`), and what it returns (`Verdict`), stored with every request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, Self

Decision = Literal["pass", "flag", "block", "redact", "skip", "error"]
Stage = Literal["input", "output"]


@dataclass(slots=True)
class Verdict:
    """One rail's judgement of one text: its decision, the scores and thresholds behind it, and why."""

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


class Rail(Protocol):
    """A rail judges batches of texts, synchronously (the stack calls it from a worker thread).

    Optional members the stack reads where a rail has them: `per_guild = True` (misinformation: moderators' own
    entries) makes `check` also take `guild_id=`; `for_rating(rating)` gives the rail as it judges in a channel of
    that content rating (`guardrails.ratings.rated_rail`: a rail without it judges alike at every rating).
    """

    name: str
    languages: frozenset[str] | None
    """The ISO 639-1 codes of the languages it can judge (None: any); a text in another is not given to it."""

    def check(self, texts: list[str], stage: Stage) -> list[Verdict]: ...

    def describe(self) -> dict:
        """Backend, version and thresholds: what the policy hash covers."""
        ...

    def with_thresholds(self, overrides: Mapping[str, float]) -> Self:
        """The same rail with moderators' thresholds for the categories it scores (others ignored)."""
        ...
