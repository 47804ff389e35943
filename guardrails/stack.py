"""The rails that run on each stage, called from async code, batched across concurrent requests, off the loop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Protocol

from guardrails.batching import MicroBatcher
from guardrails.ratings import DEFAULT_RATING, Rating, rated_rail
from guardrails.verdict import Stage, Verdict


class Rail(Protocol):
    name: str

    def check(self, texts: list[str], stage: Stage) -> list[Verdict]: ...

    def describe(self) -> dict:
        """Backend, version and thresholds: what the policy hash covers."""
        ...


class RailStack:
    def __init__(self, input_rails: Sequence[Rail], output_rails: Sequence[Rail], *, window_ms: float = 3.0) -> None:
        self.input_rails = list(input_rails)
        self.output_rails = list(output_rails)
        self._window_ms = window_ms
        self._rated: dict[Rating, RailStack] = {}
        self._batchers: dict[tuple[Stage, int], MicroBatcher[str, Verdict]] = {}
        for stage, rails in (("input", self.input_rails), ("output", self.output_rails)):
            for index, rail in enumerate(rails):
                self._batchers[(stage, index)] = MicroBatcher(
                    lambda texts, rail=rail, stage=stage: rail.check(texts, stage),
                    window_ms=window_ms,
                    name=f"rail-{stage}-{rail.name}",
                )
        self.policy_hash = policy_hash(self.describe())

    def rated(self, rating: Rating) -> RailStack:
        """The same rails judging at `rating` (this stack is PG-13), built once per rating."""
        if rating == DEFAULT_RATING:
            return self
        if rating not in self._rated:
            self._rated[rating] = RailStack(
                [rated_rail(rail, rating) for rail in self.input_rails],
                [rated_rail(rail, rating) for rail in self.output_rails],
                window_ms=self._window_ms,
            )
        return self._rated[rating]

    def describe(self) -> dict:
        return {
            "input": [{"rail": rail.name, **rail.describe()} for rail in self.input_rails],
            "output": [{"rail": rail.name, **rail.describe()} for rail in self.output_rails],
        }

    async def check(self, stage: Stage, text: str) -> list[Verdict]:
        """Every rail of the stage on one text; one verdict per rail, passes included."""
        rails = self.input_rails if stage == "input" else self.output_rails
        verdicts: list[Verdict] = []
        for index in range(len(rails)):
            verdicts.extend(await self._batchers[(stage, index)].submit([text]))
        return verdicts

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        for stack in self._rated.values():
            await stack.close()


def policy_hash(policy: dict) -> str:
    canonical = json.dumps(policy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
