"""The toxicity models: detoxify's categories, what the rail needs from a backend, and the shipped embedded backend
(the shared MiniLM encoder's token states read by a small numpy attention head in `guardrails/models`, trained on
Davidson et al. (2017) tweets and on text the project wrote). The detoxify backend and the choice between the two:
`guardrails/modeling/detoxify.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from guardrails.modeling.heads import (
    ATTENTION_ARRAYS,
    attention_probabilities,
    float32_arrays,
    read_attention_head,
    split_prefixed,
)
from guardrails.modeling.top_layer import LAYER_PREFIX, TopLayer
from guardrails.paths import MODELS_DIR
from guardrails.text.profanity import profanity_score

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

CATEGORIES = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit")
"""detoxify's category names; every backend reports a subset of these."""

DEFAULT_HEAD_PATH = MODELS_DIR / "toxicity_head.npz"
FROZEN_PREFIX = "frozen."
"""Where a head 3.1 stores the untuned head it averages with."""

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


PROFANITY_VERSION = "profanity-2"
"""2 (stop 31): where strong language is allowed, the toxicity rail also reads a sentence without its expletives."""


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
    """An attention head over the encoder's token states (`guardrails.modeling.heads.attention_probabilities`).

    Token states, not the mean-pooled sentence vector: a pooled vector barely moves when a "not" or a "nobody
    should say" is added, so a head on it either blocks counter-speech or passes hate (docs/guardrail-judgement.md).
    With `layer` (since head 3.0) the states are those of a tuned copy of the encoder's last layer
    (`guardrails.modeling.top_layer`), trained with the head; without it, the encoder's own. With `frozen` as well
    (head 3.1) a text's probabilities are the mean of this head's and of the head it was tuned from, which reads the
    encoder's own states: the two err on different texts, and thresholds chosen out of fold hold better on the mean
    (docs/guardrail-judgement.md, "2026-12-05 (stop 29)").
    """

    categories: tuple[str, ...]
    weights: dict[str, np.ndarray]
    thresholds: dict[str, float] = field(default_factory=dict)
    version: str = "untracked"
    encoder_id: str = ""
    layer: dict[str, np.ndarray] = field(default_factory=dict)
    """The tuned last layer's weights (state-dict names), or empty: the head reads the encoder's own states."""
    frozen: dict[str, np.ndarray] = field(default_factory=dict)
    """The untuned head's arrays (on the encoder's own states), or empty: with `layer`, averaged with this head."""

    @property
    def dim(self) -> int:
        return int(self.weights["proj_w"].shape[0])

    def probabilities(self, states: list[np.ndarray], own_states: list[np.ndarray] | None = None) -> np.ndarray:
        """(n, len(categories)) probabilities for n texts' (tokens, dim) states; with `frozen`, averaged with the
        frozen head's on the encoder's `own_states` of the same texts."""
        probabilities = attention_probabilities(states, self.weights)
        if not self.frozen:
            return probabilities
        if own_states is None:
            raise ValueError("this head averages with a head on the encoder's own states: pass them")
        return (probabilities + attention_probabilities(own_states, self.frozen)) / 2

    def arrays(self) -> dict[str, np.ndarray]:
        frozen = float32_arrays(self.frozen, ATTENTION_ARRAYS) if self.frozen else {}
        return (
            float32_arrays(self.weights, ATTENTION_ARRAYS)
            | {LAYER_PREFIX + name: value.astype(np.float16) for name, value in self.layer.items()}
            | {FROZEN_PREFIX + name: value for name, value in frozen.items()}
        )

    @classmethod
    def load(cls, npz_path: str | Path = DEFAULT_HEAD_PATH) -> ToxicityHead:
        """The weights from `npz_path` and the categories, thresholds and version from the .json beside it."""
        stored, meta, version = read_attention_head(npz_path)
        weights, layer = split_prefixed(stored, LAYER_PREFIX)
        weights, frozen = split_prefixed(weights, FROZEN_PREFIX)
        categories = tuple(meta["categories"])
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"{npz_path}: unknown categories {sorted(unknown)}")
        return cls(
            categories=categories,
            weights=weights,
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            version=version,
            encoder_id=meta.get("encoder", ""),
            layer=layer,
            frozen=frozen,
        )


class EmbeddedToxicityBackend:
    """The shipped backend: needs no download, runs on the encoder every rail already shares."""

    name = "embedded"
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(self, encoder: SentenceEncoder, head: ToxicityHead | None = None) -> None:
        self.encoder = encoder
        self.head = head or ToxicityHead.load()
        if self.head.dim != encoder.dim:
            raise ValueError(f"toxicity head expects {self.head.dim}-d token states, the encoder gives {encoder.dim}")
        self.version = f"{self.head.version}+{PROFANITY_VERSION}"
        self.top_layer = TopLayer.load(encoder, self.head.layer) if self.head.layer else None
        # Strong profanity blocks at PG-13 (the default); ratings move this threshold (guardrails/ratings.py).
        self.default_thresholds = {**self.head.thresholds, "obscene": 0.9}

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        unique = list(dict.fromkeys(texts))
        if self.top_layer is None:
            probabilities = self.head.probabilities(self.encoder.encode_tokens(unique))
        else:
            # One pass of the encoder keeps both: the states entering its last layer and its own token states.
            tuned = self.top_layer.states(self.encoder.encode_top_inputs(unique))
            own = self.encoder.encode_tokens(unique) if self.head.frozen else None
            probabilities = self.head.probabilities(tuned, own)
        by_text = {
            text: {cat: float(p) for cat, p in zip(self.head.categories, row, strict=True)}
            | {"obscene": profanity_score(text)}
            for text, row in zip(unique, probabilities, strict=True)
        }
        return [dict(by_text[text]) for text in texts]
