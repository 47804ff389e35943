"""Where the training scripts read and write unless told otherwise: each of these is a command-line argument too.

Third-party training sets stay out of the repository (their size and licences: SOURCES.md beside them); by default
they are read from `shared/data/` next to the checkout (`../shared/data` from the repository root), and every
script that reads them takes `--data-dir` (and `--data` for its main file). What the scripts write (heads, metadata,
validation files) goes inside the repository, under guardrails/models/ and guardrails/data/.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
GUARDRAILS_DATA = REPO_ROOT / "guardrails" / "data"
GUARDRAILS_MODELS = REPO_ROOT / "guardrails" / "models"
EMBEDDING_CACHE = REPO_ROOT / "data" / "cache"
"""Sentence embeddings of training text, keyed by the encoder's weights (gitignored)."""
GENERATED_FICTION = GUARDRAILS_DATA / "generated_fiction.txt"
"""The bot's own stories (`python -m training.generate_fiction`): benign negatives for every head."""
