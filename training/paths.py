"""Where the training scripts read and write unless told otherwise: each of these is a command-line argument too.

Third-party training sets stay out of the repository (their size and licences: SOURCES.md beside them); by default
they are read from `shared/data/` next to the checkout (`../shared/data` from the repository root; see
`shared_data`); every script
that reads them takes `--data` for its main file, and the head scripts `--data-dir` for the folder. What the scripts
write (heads, metadata, validation files) goes inside the repository, under guardrails/models/ and guardrails/data/.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """`STORYLOOM_SHARED_DATA`; else `shared/data` beside the checkout; else the workplace's `/work/shared/data`
    (a clone made elsewhere, as CI's may be, still finds the data the committed heads were trained on)."""
    if configured := os.environ.get("STORYLOOM_SHARED_DATA"):
        return Path(configured)
    beside = REPO_ROOT.parent / "shared" / "data"
    return beside if beside.is_dir() else Path("/work/shared/data")


SHARED_DATA = shared_data()
GUARDRAILS_DATA = REPO_ROOT / "guardrails" / "data"
GUARDRAILS_MODELS = REPO_ROOT / "guardrails" / "models"
EMBEDDING_CACHE = REPO_ROOT / "data" / "cache"
"""Sentence embeddings of training text, keyed by the encoder's weights (gitignored)."""
GENERATED_FICTION = GUARDRAILS_DATA / "generated_fiction.txt"
"""The bot's own stories (`python -m training.generate_fiction`): benign negatives for every head."""
GENERATED_VERSE = GUARDRAILS_DATA / "generated_verse.txt"
"""The bot's own poems and lyrics as `/write` shapes them, line by line (`python -m training.generate_fiction --verse`):
never trained on; the dangerous-instructions head is measured on them (verse is made of bare imperatives)."""


def required(path: Path) -> Path:
    """`path`, or an error that names it: a training script that skipped a missing file would write a different
    head without a word."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the training data lives in shared/data (see SOURCES.md there); "
                                "point --data-dir or STORYLOOM_SHARED_DATA at it")
    return path


def head_arguments(
    argv: list[str] | None,
    description: str,
    data_file: str,
    shared_files: str,
    out: Path,
    validation_csv: Path,
    switches: dict[str, str] | None = None,
) -> argparse.Namespace:
    """The command line every head's training script takes: where its data is and where its results go, and the
    script's own on/off `switches` (flag -> help). `data` is resolved against `data_dir` when not given."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA, help=f"{shared_files} (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=None, help=f"the main training file (default: DATA_DIR/{data_file})")
    parser.add_argument("--generated", type=Path, default=GENERATED_FICTION, help="the bot's own stories (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=out, help="the head's .npz; its .json goes beside it (default: %(default)s)")
    parser.add_argument("--validation-csv", type=Path, default=validation_csv, help="default: %(default)s")
    for flag, help_text in (switches or {}).items():
        parser.add_argument(flag, action="store_true", help=help_text)
    args = parser.parse_args(argv)
    args.data = args.data or args.data_dir / data_file
    return args
