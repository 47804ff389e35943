"""The veils rail's depiction model: a logistic head on the shared MiniLM embedding -> P(a sentence shows something
on-screen), trained by `python -m training.train_veils` (weights `guardrails/models/veil_head.npz`, its
.json holding the rail's topic and depiction thresholds)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from guardrails.modeling.heads import mlp_probabilities, read_head
from guardrails.paths import MODELS_DIR

DEFAULT_HEAD_PATH = MODELS_DIR / "veil_head.npz"


class VeilHead:
    """P(a sentence depicts something on-screen) from its embedding, and the rail's two thresholds."""

    def __init__(self, path: str | Path = DEFAULT_HEAD_PATH) -> None:
        weights, meta, self.version = read_head(path)
        self.w2, self.b2 = weights["w2"], weights["b2"]
        self.w1, self.b1 = weights.get("w1"), weights.get("b1")
        self.depiction_threshold = float(meta["thresholds"]["depiction"])
        self.topic_threshold = float(meta["thresholds"]["topic"])

    def depiction(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros(0, dtype=np.float32)
        return mlp_probabilities(embeddings, self.w2, self.b2, self.w1, self.b1)[:, 0]


@functools.lru_cache(maxsize=4)
def shipped_head(path: Path = DEFAULT_HEAD_PATH) -> VeilHead:
    """The head, read once per process (every session with veils builds a rail on it)."""
    return VeilHead(path)
