"""`storyloom eval`: labelled rows through the configured rails, counted per expected class."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails.evaluate import evaluate, read_rows

SAMPLE = Path(__file__).parent / "data" / "eval_sample.csv"


def test_each_class_lands_where_its_label_says(default_rails):
    report = evaluate(read_rows(SAMPLE), default_rails).as_json()
    assert report["n"] == 7
    assert report["outcomes"] == {
        "allow": {"allowed": 2, "flagged": 0, "blocked": 0},
        "allow_mature": {"allowed": 1, "flagged": 0, "blocked": 0},
        "block": {"allowed": 0, "flagged": 0, "blocked": 3},
        "flag": {"allowed": 0, "flagged": 1, "blocked": 0},
    }
    assert report["texts_per_second"] > 0


def test_ratings_move_general_toxicity_but_never_abuse(default_rails, tmp_path):
    from guardrails.toxicity import ToxicityRail

    def toxicity_thresholds(rating):
        return next(r for r in default_rails.rated(rating).output_rails if isinstance(r, ToxicityRail)).thresholds

    g, pg13, m = (toxicity_thresholds(rating) for rating in ("G", "PG-13", "M"))
    assert g["toxicity"] < pg13["toxicity"] < m["toxicity"]
    for category in ("identity_attack", "threat"):
        assert g[category] == pg13[category] == m[category]

    path = tmp_path / "ratings.csv"
    abuse = "All immigrants are vermin and should be exterminated."
    path.write_text("text,expected,rating\n" + "".join(f'"{abuse}",block,{rating}\n' for rating in ("G", "PG-13", "M")))
    report = evaluate(read_rows(path), default_rails).as_json()
    assert report["outcomes"]["block"] == {"allowed": 0, "flagged": 0, "blocked": 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [("text,label\nx,allow\n", "lacks the column"), ("text,expected\nx,maybe\n", "expected must be one of"),
     ("text,expected,rating\nx,allow,R\n", "rating must be one of")],
)
def test_bad_files_are_refused_with_the_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_rows(path)


@pytest.mark.slow
def test_the_command_ends_with_one_json_object(tmp_path):
    env = {**os.environ, "STORYLOOM_DATA_DIR": str(tmp_path), "STORYLOOM_TOXICITY_BACKEND": "embedded"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", str(SAMPLE), "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last) == {"n", "outcomes", "texts_per_second", "languages"} and last["n"] == 7
    assert last["languages"]["en block"] == {"n": 3, "allowed": 0, "flagged": 0, "blocked": 3, "unread": 0}
    assert last["outcomes"]["block"] == {"allowed": 0, "flagged": 0, "blocked": 3}
    assert "recall" in result.stdout


def test_profanity_passes_by_strength_and_rating(default_rails, tmp_path):
    mild = '"Damn it, Harris, the whole east wing is on fire!" the sergeant shouted.'
    strong = '"Fuck this ship," Sam swore as it sank.'
    path = tmp_path / "profanity.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "expected", "rating"])
        writer.writerows([text, "allow_mature", rating] for rating in ("G", "PG-13", "M") for text in (mild, strong))
    outcome = {}
    for row in read_rows(path):
        counts = evaluate([row], default_rails).as_json()["outcomes"]["allow_mature"]
        outcome[(row.text == strong, row.rating)] = next(key for key, count in counts.items() if count)
    assert outcome == {
        (False, "G"): "blocked", (True, "G"): "blocked",
        (False, "PG-13"): "allowed", (True, "PG-13"): "blocked",
        (False, "M"): "allowed", (True, "M"): "allowed",
    }
