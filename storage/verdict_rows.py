"""Rail verdicts as `verdicts` rows: the one mapping from what a rail decided to what provenance stores.

Storage knows a verdict only by the shape below (`guardrails.rail.Verdict` has it), so it imports neither
`guardrails` nor `bot`. The row's keys and their order are the recorded record: the hash chain digests it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class RailVerdict(Protocol):
    """What storage reads of a rail's verdict."""

    @property
    def stage(self) -> str: ...
    @property
    def rail(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def scores(self) -> Mapping[str, float]: ...
    @property
    def thresholds(self) -> Mapping[str, float]: ...
    @property
    def sentence(self) -> str | None: ...
    @property
    def explanation(self) -> str | None: ...
    @property
    def chunk_index(self) -> int | None: ...
    @property
    def latency_ms(self) -> float | None: ...


def verdict_rows(
    verdicts: Iterable[RailVerdict],
    *,
    request_id: str,
    guild_id: int | None,
    generation_id: str | None,
    policy_hash: str | None,
) -> list[dict[str, Any]]:
    """One `verdicts` row per verdict, for the request (and generation) it judged under the policy `policy_hash`."""
    return [
        {
            "request_id": request_id,
            "guild_id": guild_id,
            "generation_id": generation_id,
            "stage": v.stage,
            "rail": v.rail,
            "backend": v.backend,
            "version": v.version,
            "decision": v.decision,
            "category": v.category,
            "scores": v.scores,
            "thresholds": v.thresholds,
            "sentence": v.sentence,
            "explanation": v.explanation,
            "chunk_index": v.chunk_index,
            "policy_hash": policy_hash,
            "latency_ms": v.latency_ms,
        }
        for v in verdicts
    ]
