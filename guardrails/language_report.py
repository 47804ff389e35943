"""`storyloom eval` per detected language: how many rows of each language, and their outcomes as a channel judges
them (a row some rail of its stage cannot read goes by the policy's `unjudged`: refused or held count as blocked,
allowed as what the rails that could read it said)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from guardrails.language import Detected, Unjudged, rail_languages, readable
from guardrails.verdict import Verdict

OUTCOMES = ("allowed", "flagged", "blocked")


def outcome_under_language(
    detected: Detected, rails: Sequence[object], verdicts: Sequence[Verdict], unjudged: Unjudged
) -> tuple[str, bool]:
    """(outcome, unread): what a channel shows for a row whose rails gave `verdicts` (one per rail, in order)."""
    read = [verdict for rail, verdict in zip(rails, verdicts, strict=True) if readable(rail_languages(rail), detected)]
    unread = len(read) < len(verdicts)
    if unread and unjudged != "allow":
        return "blocked", True
    if any(verdict.failed for verdict in read):
        return "blocked", unread
    if any(verdict.decision == "flag" for verdict in read):
        return "flagged", unread
    return "allowed", unread


@dataclass
class LanguageTally:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unread: Counter[str] = field(default_factory=Counter)
    unjudged: Unjudged = "refuse"

    def add(self, detected: Detected, rails: Sequence[object], verdicts: Sequence[Verdict], expected: str) -> None:
        outcome, unread = outcome_under_language(detected, rails, verdicts, self.unjudged)
        language = "+".join(sorted(detected.languages)) if len(detected.languages) > 1 else (detected.main or "und")
        self.outcomes[f"{language} {expected}"][outcome] += 1
        self.unread[f"{language} {expected}"] += unread

    def as_json(self) -> dict:
        """{"<language> <expected>": {n, allowed, flagged, blocked, unread}}, most rows first."""
        return {
            key: {"n": sum(counts.values()), **{o: counts[o] for o in OUTCOMES}, "unread": self.unread[key]}
            for key, counts in sorted(self.outcomes.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        }

    def table(self) -> str:
        lines = [f"per detected language (what no rail of the stage reads: {self.unjudged}; und: no language told)"]
        lines.append(f"{'language':<10}{'expected':<13}{'n':>6}{'allowed':>9}{'flagged':>9}{'blocked':>9}{'unread':>8}")
        for key, row in self.as_json().items():
            language, expected = key.split(" ")
            lines.append(
                f"{language:<10}{expected:<13}{row['n']:>6}{row['allowed']:>9}{row['flagged']:>9}{row['blocked']:>9}"
                f"{row['unread']:>8}"
            )
        return "\n".join(lines)
