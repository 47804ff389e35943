"""The toxicity models: detoxify's categories, what the rail needs from a backend, and the shipped embedded backend
(the shared MiniLM sentence encoder plus a small numpy head in `guardrails/models`, trained on Davidson et al.
(2017) tweets and on text the project wrote). The detoxify backend and the choice between the two:
`guardrails/modeling/detoxify.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from guardrails.modeling.heads import head_fields, mlp_arrays, mlp_probabilities, read_head
from guardrails.paths import MODELS_DIR
from guardrails.text.profanity import profanity_score

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

CATEGORIES = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit")
"""detoxify's category names; every backend reports a subset of these."""

DEFAULT_HEAD_PATH = MODELS_DIR / "toxicity_head.npz"

# PG-13 starting points for detoxify's probabilities. detoxify scores casual profanity near 1.0 on `toxicity`
# and `obscene`, so those two only block the extreme end; the categories that mean abuse (threat, identity
# attack, severe toxicity) block much earlier. Not tuned here: no detoxify weights are available offline. The
# embedded head ships its own thresholds (chosen on out-of-fold predictions; see guardrails/models/toxicity_head.json).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "toxicity": 0.97,
    "severe_toxicity": 0.5,
    "obscene": 0.97,
    "threat": 0.7,
    "insult": 0.9,
    "identity_attack": 0.6,
    "sexual_explicit": 0.6,
}


PROFANITY_VERSION = "profanity-1"


class ToxicityBackend(Protocol):
    """What the rail needs from a model. A backend may also carry `default_thresholds` (category -> threshold),
    which the rail uses when it is given none."""

    name: str
    """Either "detoxify" or "embedded"."""
    version: str
    """The model version or checkpoint hash, stored with every verdict."""

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        """Per text, category -> probability for the categories this backend can score. Sync and batched:
        call it from a worker thread."""
        ...


@dataclass(frozen=True)
class ToxicityHead:
    """A one-hidden-layer MLP (or, without `w1`, a logistic regression) over sentence embeddings."""

    categories: tuple[str, ...]
    w2: np.ndarray
    b2: np.ndarray
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    version: str = "untracked"
    encoder_id: str = ""

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, len(categories)) probabilities for (n, dim) embeddings."""
        return mlp_probabilities(embeddings, self.w2, self.b2, self.w1, self.b1)

    def arrays(self) -> dict[str, np.ndarray]:
        return mlp_arrays(self.w2, self.b2, self.w1, self.b1)

    @classmethod
    def load(cls, npz_path: str | Path = DEFAULT_HEAD_PATH) -> ToxicityHead:
        """The weights from `npz_path` and the categories, thresholds and version from the .json beside it."""
        weights, meta, version = read_head(npz_path)
        categories = tuple(meta["categories"])
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"{npz_path}: unknown categories {sorted(unknown)}")
        return cls(
            categories=categories,
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            **head_fields(weights, meta, version),
        )


class EmbeddedToxicityBackend:
    """The shipped backend: needs no download, runs on the encoder every rail already shares."""

    name = "embedded"
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(self, encoder: SentenceEncoder, head: ToxicityHead | None = None) -> None:
        self.encoder = encoder
        self.head = head or ToxicityHead.load()
        dim = self.head.w1.shape[0] if self.head.w1 is not None else self.head.w2.shape[0]
        if dim != encoder.dim:
            raise ValueError(f"toxicity head expects {dim}-d embeddings, the encoder gives {encoder.dim}")
        self.version = f"{self.head.version}+{PROFANITY_VERSION}"
        # Strong profanity blocks at PG-13 (the default); ratings move this threshold (guardrails/ratings.py).
        self.default_thresholds = {**self.head.thresholds, "obscene": 0.9}

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        unique = list(dict.fromkeys(texts))
        probabilities = self.head.probabilities(self.encoder.encode(unique))
        by_text = {
            text: {cat: float(p) for cat, p in zip(self.head.categories, row, strict=True)}
            | {"obscene": profanity_score(text)}
            for text, row in zip(unique, probabilities, strict=True)
        }
        return [dict(by_text[text]) for text in texts]
