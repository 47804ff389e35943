"""`storyloom eval` per detected language: how many rows of each language, and their outcomes as a channel judges
them (a row some rail of its stage cannot read goes by the policy's `unjudged`: refused or held count as blocked,
allowed as what the rails that could read it said)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from guardrails.modeling.language_id import Detected
from guardrails.rail import Stage, Verdict
from guardrails.rails.language import LanguageRail, Unjudged, common_languages, rail_languages, readable

OUTCOMES = ("allowed", "flagged", "blocked")


def outcome_under_language(
    language: LanguageRail,
    detected: Detected,
    rails: Sequence[object],
    verdicts: Sequence[Verdict],
    unjudged: Unjudged,
    text: str,
    stage: Stage,
    rating: str,
) -> tuple[str, bool]:
    """(outcome, unread): what a channel shows for a row whose rails gave `verdicts` (one per rail, in order), the
    language rail judging first as the stack does (`guardrails/stack.py`), its profanity floor included."""
    read = [verdict for rail, verdict in zip(rails, verdicts, strict=True) if readable(rail_languages(rail), detected)]
    unread = [rail.name for rail in rails if not readable(rail_languages(rail), detected)]  # type: ignore[attr-defined]
    verdict = language.judge(detected, unread, stage, unjudged, common_languages(rails), 0.0, text, rating)
    if verdict.failed or verdict.decision == "flag" or any(v.failed for v in read):
        return "blocked", bool(unread)  # refused, held (blocked until a moderator says otherwise) or blocked
    if any(v.decision == "flag" for v in read):
        return "flagged", bool(unread)
    return "allowed", bool(unread)


@dataclass
class LanguageTally:
    """Rows per detected language and expected label, and how a channel would have judged them."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unread: Counter[str] = field(default_factory=Counter)
    unjudged: Unjudged = "refuse"

    def add(
        self,
        language_rail: LanguageRail,
        detected: Detected,
        rails: Sequence[object],
        verdicts: Sequence[Verdict],
        row: object,
    ) -> None:
        """`row`: an evaluated row (text, expected, stage, rating)."""
        text, expected, stage, rating = (getattr(row, name) for name in ("text", "expected", "stage", "rating"))
        outcome, unread = outcome_under_language(
            language_rail, detected, rails, verdicts, self.unjudged, text, stage, rating
        )
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
