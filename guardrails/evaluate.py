"""`storyloom eval FILE.csv`: run labelled texts through the configured rails and count what happened.

FILE has columns `text` and `expected` (`allow` | `allow_mature` | `block` | `flag`), optionally `stage`
(`input` | `output`, default `output`) and `rating` (`G` | `PG-13` | `M`, default `PG-13`). Each row goes through
every rail of its stage at its rating, as a story channel would judge it: an outcome is `blocked` (block, redact,
hold for review, or a rail that could not judge), `flagged` (flag: a correction note) or `allowed`.

With a language rail in the stack, a second table gives each detected language's rows and their outcomes as a
channel judges them, the policy's `unjudged` applied (`guardrails/language_report.py`); the first is unchanged.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.language_report import LanguageTally
from guardrails.ratings import DEFAULT_RATING, RATINGS, Rating
from guardrails.stack import Rail, RailStack
from guardrails.verdict import Stage, Verdict

EXPECTED = ("allow", "allow_mature", "block", "flag")
OUTCOMES = ("allowed", "flagged", "blocked")
BATCH = 64


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    expected: str
    stage: Stage = "output"
    rating: Rating = DEFAULT_RATING


@dataclass
class Report:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0
    languages: LanguageTally | None = None
    """Per detected language, where the stack identifies languages."""

    @property
    def n(self) -> int:
        return sum(sum(counts.values()) for counts in self.outcomes.values())

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "outcomes": {
                expected: {outcome: self.outcomes[expected][outcome] for outcome in OUTCOMES}
                for expected in EXPECTED
                if expected in self.outcomes
            },
            "texts_per_second": round(self.n / self.seconds, 1) if self.seconds else 0.0,
        } | ({"languages": self.languages.as_json()} if self.languages is not None else {})

    def table(self) -> str:
        lines = [f"{'expected':<13}{'n':>6}{'allowed':>9}{'flagged':>9}{'blocked':>9}   measure"]
        for expected in EXPECTED:
            counts = self.outcomes.get(expected)
            if not counts:
                continue
            total = sum(counts.values())
            if expected == "block":
                measure = f"recall {counts['blocked'] / total:.3f}"
            elif expected == "flag":
                measure = f"recall {(counts['flagged'] + counts['blocked']) / total:.3f} (flagged or blocked)"
            else:
                measure = f"false-block rate {counts['blocked'] / total:.3f}"
            lines.append(
                f"{expected:<13}{total:>6}{counts['allowed']:>9}{counts['flagged']:>9}{counts['blocked']:>9}   {measure}"
            )
        lines.append(f"{self.n} texts in {self.seconds:.1f} s: {self.as_json()['texts_per_second']} texts/s")
        if self.languages is not None:
            lines.append(self.languages.table())
        return "\n".join(lines)


def read_rows(path: Path, default_stage: Stage = "output") -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "expected"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        rows = []
        for number, record in enumerate(reader, start=2):
            expected = (record.get("expected") or "").strip()
            stage = (record.get("stage") or "").strip() or default_stage
            rating = (record.get("rating") or DEFAULT_RATING).strip() or DEFAULT_RATING
            if expected not in EXPECTED:
                raise ValueError(f"{path}:{number}: expected must be one of {', '.join(EXPECTED)}, not {expected!r}")
            if stage not in ("input", "output"):
                raise ValueError(f"{path}:{number}: stage must be input or output, not {stage!r}")
            if rating not in RATINGS:
                raise ValueError(f"{path}:{number}: rating must be one of {', '.join(RATINGS)}, not {rating!r}")
            rows.append(Row(record.get("text") or "", expected, stage, rating))  # type: ignore[arg-type]
    return rows


def outcome_of(verdicts: Iterable[Verdict]) -> str:
    decisions = list(verdicts)
    if any(verdict.failed for verdict in decisions):
        return "blocked"
    if any(verdict.decision == "flag" for verdict in decisions):
        return "flagged"
    return "allowed"


def evaluate(rows: Sequence[Row], stack: RailStack) -> Report:
    """Rows are judged in batches per (stage, rating) group; throughput covers the rails' time only."""
    report = Report()
    if stack.language is not None:
        report.languages = LanguageTally(unjudged=stack.policy.unjudged)
    groups: dict[tuple[Stage, Rating], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.stage, row.rating)].append(row)
    def rails_for(stage: Stage, rating: Rating) -> list[Rail]:
        rated = stack.rated(rating)
        return rated.input_rails if stage == "input" else rated.output_rails

    for stage, rating in groups:
        for rail in rails_for(stage, rating):
            rail.check(["Warming up."], stage)  # first calls build caches; throughput is for steady state
    started = time.perf_counter()
    for (stage, rating), group in groups.items():
        rails = rails_for(stage, rating)
        for start in range(0, len(group), BATCH):
            batch = group[start : start + BATCH]
            texts = [row.text for row in batch]
            per_rail = [rail.check(texts, stage) for rail in rails]
            detected = stack.language.detect(texts) if stack.language is not None else []
            for index, row in enumerate(batch):
                report.outcomes[row.expected][outcome_of(verdicts[index] for verdicts in per_rail)] += 1
                if report.languages is not None and stack.language is not None:
                    report.languages.add(stack.language, detected[index], rails, [v[index] for v in per_rail], row)
    report.seconds = time.perf_counter() - started
    return report


def run(path: Path, stack: RailStack, *, as_json: bool, default_stage: Stage = "output") -> tuple[Report, str]:
    report = evaluate(read_rows(path, default_stage), stack)
    text = report.table()
    if as_json:
        text += "\n" + json.dumps(report.as_json())
    return report, text
