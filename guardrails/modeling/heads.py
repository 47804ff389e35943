"""The small numpy heads every embedding-based rail puts on the shared encoder: weights, metadata, inference."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np


def mlp_probabilities(
    embeddings: np.ndarray, w2: np.ndarray, b2: np.ndarray, w1: np.ndarray | None, b1: np.ndarray | None
) -> np.ndarray:
    """(n, outputs) sigmoid probabilities of a one-hidden-layer ReLU MLP (a logistic regression without `w1`)."""
    hidden = embeddings
    if w1 is not None and b1 is not None:
        hidden = np.maximum(embeddings @ w1 + b1, 0.0)
    logits = (hidden @ w2 + b2).reshape(len(embeddings), -1)
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))


def mlp_arrays(w2: np.ndarray, b2: np.ndarray, w1: np.ndarray | None, b1: np.ndarray | None) -> dict[str, np.ndarray]:
    """What `np.savez` stores for a head, as float32."""
    arrays = {"w2": w2.astype(np.float32), "b2": b2.astype(np.float32)}
    if w1 is not None and b1 is not None:
        arrays |= {"w1": w1.astype(np.float32), "b1": b1.astype(np.float32)}
    return arrays


def read_head(npz_path: str | Path) -> tuple[dict[str, np.ndarray], dict, str]:
    """The weights in `npz_path`, the metadata in the .json beside it, and `<meta version>+<npz sha256[:12]>`."""
    npz_path = Path(npz_path)
    meta = json.loads(npz_path.with_suffix(".json").read_text())
    digest = hashlib.sha256(npz_path.read_bytes()).hexdigest()[:12]
    with np.load(npz_path) as stored:
        weights = {name: stored[name].astype(np.float32) for name in stored.files}
    return weights, meta, f"{meta['version']}+{digest}"


def head_fields(weights: dict[str, np.ndarray], meta: dict, version: str) -> dict:
    """What every head dataclass takes from `read_head`'s answer: its layers, its version and the encoder it expects."""
    return {
        "w2": weights["w2"],
        "b2": weights["b2"],
        "w1": weights.get("w1"),
        "b1": weights.get("b1"),
        "version": version,
        "encoder_id": meta.get("encoder", ""),
    }
