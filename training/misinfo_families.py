"""Per-family flag rates of the misinformation rail on Storyloom's own validation families.

    python -m training.misinfo_families [--kb PATH] [--families CSV]

guardrails/data/misinfo_families.csv (text, expected, family) was written by Storyloom, apart from the knowledge base:
myths paraphrased (never the KB's wording) and stated plainly, with a reader cue, or after a line of story; myths the
KB does not hold at all (unseen_*); true statements on the same topics, plain and with a reader cue; and the same myths
said, believed or disowned by characters (in_story). Nothing here is used to build the KB or choose thresholds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from training.paths import GUARDRAILS_DATA

FAMILIES_PATH = GUARDRAILS_DATA / "misinfo_families.csv"


def read_families(path: Path = FAMILIES_PATH) -> list[tuple[str, str, str]]:
    with path.open(newline="") as handle:
        return [(r["text"], r["expected"], r["family"]) for r in csv.DictReader(handle)]


def family_rates(rail, rows: list[tuple[str, str, str]], batch_size: int = 64) -> dict[str, dict]:
    """Share flagged per family: recall for families expected "flag", false flags for those expected "allow"."""
    flagged: dict[str, list[bool]] = {}
    expected: dict[str, str] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        for (_, exp, family), verdict in zip(chunk, rail.check([t for t, _, _ in chunk], "output"), strict=True):
            flagged.setdefault(family, []).append(verdict.decision == "flag")
            expected[family] = exp
    return {
        family: {"expected": expected[family], "n": len(v), "flagged": sum(v), "rate": round(sum(v) / len(v), 4)}
        for family, v in flagged.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, default=None, help="a knowledge-base .jsonl (default: the shipped one)")
    parser.add_argument("--families", type=Path, default=FAMILIES_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)
    from guardrails.claims.knowledge_base import DEFAULT_EMBEDDINGS_PATH, DEFAULT_KB_PATH, KnowledgeBase
    from guardrails.modeling.encoder import SentenceEncoder
    from guardrails.rails.misinfo import MisinfoRail

    kb = KnowledgeBase.load(args.kb or DEFAULT_KB_PATH, DEFAULT_EMBEDDINGS_PATH)
    rail = MisinfoRail(SentenceEncoder(), kb)
    print(json.dumps({"kb_entries": len(kb), "thresholds": rail.thresholds}))
    for family, r in family_rates(rail, read_families(args.families)).items():
        print(f"{family:24s} expected={r['expected']:5s} n={r['n']:4d} flagged={r['flagged']:4d} rate={r['rate']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
