"""The prompt-injection model: a small numpy MLP over the shared MiniLM sentence embedding -> P(injection), trained
by `python -m training.train_injection` (weights `guardrails/models/injection_head.npz`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.modeling.heads import head_fields, mlp_arrays, mlp_probabilities, read_head
from guardrails.paths import MODELS_DIR

CATEGORY = "injection"
DEFAULT_HEAD_PATH = MODELS_DIR / "injection_head.npz"


@dataclass(frozen=True)
class InjectionHead:
    """A one-hidden-layer MLP (or, without `w1`, a logistic regression) over sentence embeddings -> P(injection)."""

    w2: np.ndarray
    b2: np.ndarray
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None
    threshold: float = 0.5
    version: str = "untracked"
    encoder_id: str = ""

    @property
    def dim(self) -> int:
        return int(self.w1.shape[0] if self.w1 is not None else self.w2.shape[0])

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n,) probabilities for (n, dim) embeddings."""
        return mlp_probabilities(embeddings, self.w2, self.b2, self.w1, self.b1)[:, 0]

    def arrays(self) -> dict[str, np.ndarray]:
        return mlp_arrays(self.w2, self.b2, self.w1, self.b1)

    @classmethod
    def load(cls, npz_path: str | Path = DEFAULT_HEAD_PATH) -> InjectionHead:
        """Weights from `npz_path`; threshold and version from the .json beside it."""
        weights, meta, version = read_head(npz_path)
        return cls(threshold=float(meta["thresholds"][CATEGORY]), **head_fields(weights, meta, version))
