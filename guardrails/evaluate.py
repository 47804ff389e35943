"""`storyloom eval FILE.csv`: run labelled texts through the configured rails and count what happened.

FILE has columns `text` and `expected` (`allow` | `allow_mature` | `block` | `flag`), optionally `stage`
(`input` | `output`, default `output`), `rating` (`G` | `PG-13` | `M`, default `PG-13`) and `category` (what a
`block` or `flag` row is, e.g. `threat`: its recall is then reported per category). Each row goes through every
rail of its stage at its rating, as a story channel would judge it: an outcome is `blocked` (block, redact, hold
for review, or a rail that could not judge), `flagged` (flag: a correction note) or `allowed`, decided by the first
rail (in the stack's order) that failed, else the first that flagged.

Beside recall per expected class it reports precision (of what was stopped, how much should have been), overall
and per deciding category, and the rails' latency per text (p50/p95). `--rows out.csv` writes each row's outcome.

With a language rail in the stack, a second table gives each detected language's rows and their outcomes as a
channel judges them, the policy's `unjudged` applied (`guardrails/language_report.py`); the first is unchanged.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.language_report import LanguageTally
from guardrails.rail import Rail, Stage, Verdict
from guardrails.ratings import DEFAULT_RATING, RATINGS, Rating
from guardrails.stack import RailStack

EXPECTED = ("allow", "allow_mature", "block", "flag")
OUTCOMES = ("allowed", "flagged", "blocked")
BATCH = 64


ROW_COLUMNS = ("text", "expected", "outcome", "rail", "category", "stage", "rating", "explanation", "latency_ms")
STOPPED = ("blocked", "flagged")
SHOULD_STOP = ("block", "flag")


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled text of an evaluation file."""

    text: str
    expected: str
    stage: Stage = "output"
    rating: Rating = DEFAULT_RATING
    category: str = ""
    """What the row is (`threat`, `dangerous_instructions`, ...), where the file says: recall per category."""
    family: str = ""
    """The kind of text (the file's `source` column: who is targeted, what kind of writing): both errors per family."""


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What happened to one row, and the verdict that decided it (None where every rail passed)."""

    row: Row
    outcome: str
    rail: str | None = None
    category: str | None = None
    explanation: str = ""
    latency_ms: float = 0.0
    """The rails' time for the batch this row was judged in: what it waited for its verdicts."""

    @property
    def right(self) -> bool:
        """Stopped (blocked or flagged) exactly when its label says it should be."""
        return (self.outcome in STOPPED) == (self.row.expected in SHOULD_STOP)

    def as_row(self) -> dict[str, str]:
        return {
            "text": self.row.text, "expected": self.row.expected, "outcome": self.outcome, "rail": self.rail or "",
            "category": self.category or "", "stage": self.row.stage, "rating": self.row.rating,
            "explanation": self.explanation, "latency_ms": f"{self.latency_ms:.1f}",
        }  # fmt: skip


@dataclass
class Report:
    """The outcomes of an evaluation: counts per expected label, every row's outcome, rail latencies."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0
    rows: list[RowOutcome] = field(default_factory=list)
    """Every row's outcome, in the file's order."""
    rail_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Each rail's time per call (one call judges a batch)."""
    batch: int = 0
    languages: LanguageTally | None = None
    """Per detected language, where the stack identifies languages."""

    @property
    def n(self) -> int:
        return sum(sum(counts.values()) for counts in self.outcomes.values())

    def precision(self) -> dict:
        """Of the rows stopped (blocked or flagged), the share that should have been; overall and per deciding
        category (the category of the verdict that decided, or its rail's name where it gave none)."""
        stopped = [result for result in self.rows if result.outcome in STOPPED]
        by_category: dict[str, list[RowOutcome]] = defaultdict(list)
        for result in stopped:
            by_category[result.category or result.rail or "?"].append(result)
        return {
            "overall": _share(sum(result.right for result in stopped), len(stopped)),
            "stopped": len(stopped),
            "per_category": {
                category: {"stopped": len(results), "right": sum(r.right for r in results),
                           "precision": _share(sum(r.right for r in results), len(results))}
                for category, results in sorted(by_category.items())
            },
        }  # fmt: skip

    def recall_per_category(self) -> dict:
        """For rows whose file names their category: the share of each category's `block`/`flag` rows stopped."""
        labelled: dict[str, list[RowOutcome]] = defaultdict(list)
        for result in self.rows:
            if result.row.category and result.row.expected in SHOULD_STOP:
                labelled[result.row.category].append(result)
        return {
            category: {"n": len(results), "stopped": sum(r.outcome in STOPPED for r in results),
                       "recall": _share(sum(r.outcome in STOPPED for r in results), len(results))}
            for category, results in sorted(labelled.items())
        }  # fmt: skip

    def per_family(self) -> dict:
        """Per family of text (the `source` column), per expected label: rows and the share stopped. For a benign
        family that share is whom the rails silence; for a harmful one, one minus it is what they let through."""
        families: dict[tuple[str, str], list[RowOutcome]] = defaultdict(list)
        for result in self.rows:
            if result.row.family:
                families[(result.row.family, result.row.expected)].append(result)
        return {
            f"{family} {expected}": {"n": len(results), "stopped": sum(r.outcome in STOPPED for r in results),
                                     "share_stopped": _share(sum(r.outcome in STOPPED for r in results), len(results))}
            for (family, expected), results in sorted(families.items())
        }  # fmt: skip

    def latency(self) -> dict:
        """p50/p95 in milliseconds: per text (its batch's time through every rail of its stage), and per rail call."""
        return {
            "batch": self.batch,
            "per_text_ms": _percentiles([result.latency_ms for result in self.rows]),
            "per_rail_call_ms": {rail: _percentiles(times) for rail, times in sorted(self.rail_ms.items())},
        }

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "outcomes": {
                expected: {outcome: self.outcomes[expected][outcome] for outcome in OUTCOMES}
                for expected in EXPECTED
                if expected in self.outcomes
            },
            "texts_per_second": round(self.n / self.seconds, 1) if self.seconds else 0.0,
            "precision": self.precision(),
            "recall_per_category": self.recall_per_category(),
            "latency": self.latency(),
        } | ({"families": families} if (families := self.per_family()) else {}) | ({"languages": self.languages.as_json()} if self.languages is not None else {})

    def write_rows(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=ROW_COLUMNS)
            writer.writeheader()
            writer.writerows(result.as_row() for result in self.rows)

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
        precision = self.precision()
        lines.append(f"precision {_shown(precision['overall'])} ({precision['stopped']} stopped: blocked or flagged)")
        recall = self.recall_per_category()
        categories = sorted(set(precision["per_category"]) | set(recall))
        if categories:
            lines.append(f"{'category':<24}{'n':>6}{'stopped':>9}{'recall':>8}{'decided':>9}{'right':>7}{'precision':>11}")
        for category in categories:
            labelled = recall.get(category, {"n": 0, "stopped": 0, "recall": None})
            decided = precision["per_category"].get(category, {"stopped": 0, "right": 0, "precision": None})
            lines.append(
                f"{category:<24}{labelled['n']:>6}{labelled['stopped']:>9}{_shown(labelled['recall']):>8}"
                f"{decided['stopped']:>9}{decided['right']:>7}{_shown(decided['precision']):>11}"
            )
        families = self.per_family()
        if families:
            lines.append(f"{'family (source) expected':<44}{'n':>6}{'stopped':>9}{'share':>8}")
            lines += [
                f"{family:<44}{entry['n']:>6}{entry['stopped']:>9}{_shown(entry['share_stopped']):>8}"
                for family, entry in families.items()
            ]
        latency = self.latency()
        per_text = latency["per_text_ms"]
        lines.append(
            f"latency per text: p50 {per_text['p50']:.1f} ms, p95 {per_text['p95']:.1f} ms "
            f"(judged in batches of up to {self.batch}; --batch 1 for one text alone)"
        )
        for rail, times in latency["per_rail_call_ms"].items():
            lines.append(f"  {rail:<22}p50 {times['p50']:.1f} ms, p95 {times['p95']:.1f} ms per call")
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
            category = (record.get("category") or "").strip()
            family = (record.get("source") or "").strip()
            rows.append(Row(record.get("text") or "", expected, stage, rating, category, family))  # type: ignore[arg-type]
    return rows


def outcome_of(verdicts: Iterable[Verdict]) -> str:
    return decide(list(verdicts))[0]


def decide(verdicts: Sequence[Verdict]) -> tuple[str, Verdict | None]:
    """The outcome and the verdict that decided it: the first that failed, else the first that flagged."""
    failed = next((verdict for verdict in verdicts if verdict.failed), None)
    if failed is not None:
        return "blocked", failed
    flagged = next((verdict for verdict in verdicts if verdict.decision == "flag"), None)
    if flagged is not None:
        return "flagged", flagged
    return "allowed", None


def evaluate(rows: Sequence[Row], stack: RailStack, *, batch: int = BATCH) -> Report:
    """Rows are judged in batches per (stage, rating) group; throughput covers the rails' time only."""
    if batch < 1:
        raise ValueError(f"a batch holds at least one text, not {batch}")
    report = Report(batch=batch)
    groups: dict[tuple[Stage, Rating], list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        groups[(row.stage, row.rating)].append(position)
    if stack.language is not None:
        report.languages = LanguageTally(unjudged=stack.policy.unjudged)
    def rails_for(stage: Stage, rating: Rating) -> list[Rail]:
        rated = stack.rated(rating)
        return rated.input_rails if stage == "input" else rated.output_rails

    for stage, rating in groups:
        for rail in rails_for(stage, rating):
            rail.check(["Warming up."], stage)  # first calls build caches; throughput is for steady state
    results: list[RowOutcome | None] = [None] * len(rows)
    started = time.perf_counter()
    for (stage, rating), positions in groups.items():
        rails = rails_for(stage, rating)
        for start in range(0, len(positions), batch):
            chunk = positions[start : start + batch]
            texts = [rows[position].text for position in chunk]
            per_rail, waited = [], 0.0
            for rail in rails:
                called = time.perf_counter()
                per_rail.append(rail.check(texts, stage))
                elapsed = (time.perf_counter() - called) * 1000
                report.rail_ms[f"{stage} {rail.name}"].append(elapsed)
                waited += elapsed
            detected = stack.language.detect(texts) if stack.language is not None else []
            for index, position in enumerate(chunk):
                row = rows[position]
                if report.languages is not None and stack.language is not None:
                    report.languages.add(stack.language, detected[index], rails, [v[index] for v in per_rail], row)
                outcome, decider = decide([verdicts[index] for verdicts in per_rail])
                report.outcomes[row.expected][outcome] += 1
                results[position] = RowOutcome(
                    row, outcome, decider.rail if decider else None,
                    (decider.category or decider.decision) if decider else None,
                    decider.explanation if decider else "", waited,
                )  # fmt: skip
    report.seconds = time.perf_counter() - started
    report.rows = [result for result in results if result is not None]
    return report


def run(
    path: Path,
    stack: RailStack,
    *,
    as_json: bool,
    default_stage: Stage = "output",
    rows_path: Path | None = None,
    batch: int = BATCH,
) -> tuple[Report, str]:
    report = evaluate(read_rows(path, default_stage), stack, batch=batch)
    text = report.table()
    if rows_path is not None:
        report.write_rows(rows_path)
        text += f"\nrows written to {rows_path}"
    if as_json:
        text += "\n" + json.dumps(report.as_json())
    return report, text


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _shown(share: float | None) -> str:
    return "-" if share is None else f"{share:.3f}"


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    """Nearest-rank p50 and p95 (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0}

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 2)

    return {"p50": rank(0.50), "p95": rank(0.95)}
