"""A rail's own tuned copy of the shared encoder, with the attention head trained with it.

A head on the shared encoder's frozen states judges by resemblance, and the frozen encoder puts "steal a car in GTA
V" next to "steal a car" (docs/dangerous-instructions.md). A rail that needs the distinction runs its own copy: the
shared encoder's tokenizer and embeddings (frozen in training, so not stored) under transformer layers tuned with the
rail's head (`training.tune_encoder`). It costs a second encoder pass over what it scores, so a rail uses it where
texts are few and short, or on the few its cheap head picks out (the dangerous rail: every prompt, and the output
sentences its head scores at all).

Stored as one .npz: the layers by state-dict name under `LAYER_PREFIX` ("layer.0.attention.self.query.weight"),
float16, and the head's arrays (`heads.ATTENTION_ARRAYS`), float32; the .json beside it holds the thresholds, one
per stage it judges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from guardrails.modeling.heads import ATTENTION_ARRAYS, attention_probabilities, read_attention_head, split_prefixed

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

LAYER_PREFIX = "layer."


@dataclass
class TunedEncoder:
    """`probabilities(texts)`: the tuned encoder's token states of each text, through its head."""

    encoder: SentenceEncoder
    model: Any  # a copy of the shared encoder's transformers model with the tuned layers loaded
    head: dict[str, np.ndarray]
    thresholds: dict[str, float]
    """Per stage it judges ("input", "output")."""
    version: str
    encoder_id: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def load(cls, encoder: SentenceEncoder, npz_path: str | Path) -> TunedEncoder:
        """The tuned layers and head in `npz_path` on a copy of `encoder`; thresholds and version from the .json."""
        arrays, meta, version = read_attention_head(npz_path)
        head, layers = split_prefixed(arrays, LAYER_PREFIX)
        return cls(encoder, encoder.tuned_copy(layers), {name: head[name] for name in ATTENTION_ARRAYS},
                   {stage: float(value) for stage, value in meta["thresholds"].items()}, version, meta.get("encoder", ""))  # fmt: skip

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(len(texts),) probabilities. Thread-safe; call from a worker thread."""
        if not texts:
            return np.zeros(0, np.float32)
        with self._lock:
            states = self.encoder.states_of(self.model, texts)
        return attention_probabilities(states, self.head)[:, 0]
