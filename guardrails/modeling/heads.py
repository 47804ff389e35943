"""The small numpy heads the rails put on the shared encoder: weights, metadata, inference.

Two shapes: an MLP over the mean-pooled sentence embedding, and an attention head over the token states, which
sees word order ("Muslims are not terrorists" against "Muslims are terrorists": one mean-pooled vector for both,
nearly)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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


ATTENTION_ARRAYS = ("proj_w", "proj_b", "att_w", "att_b", "out_w", "out_b")
"""What an attention head stores: see `attention_probabilities`. A head may also store `extra_w` (outputs, features):
a linear term over per-text features beside the token states (cue features, hashed words)."""


def pad_states(states: Sequence[np.ndarray], idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The states of rows `idx` as one zero-padded (rows, longest, dim) float32 batch and its (rows, longest) mask."""
    longest = max(len(states[i]) for i in idx)
    h = np.zeros((len(idx), longest, states[idx[0]].shape[1]), dtype=np.float32)
    mask = np.zeros((len(idx), longest), dtype=bool)
    for row, i in enumerate(idx):
        h[row, : len(states[i])] = states[i]
        mask[row, : len(states[i])] = True
    return h, mask


def attention_probabilities(
    states: list[np.ndarray], weights: dict[str, np.ndarray], extra: np.ndarray | None = None, batch: int = 64
) -> np.ndarray:
    """(n, outputs) sigmoid probabilities of an attention head over per-text token states (tokens, dim).

    A ReLU layer reads every token (z = relu(h proj_w + proj_b)); each output pools z with its own softmax
    attention over the tokens (att_w, att_b) and reads that pool and the plain mean of z (out_w, out_b); with
    `extra_w`, plus `extra @ extra_w.T` for (n, features) `extra`. The same computation as
    `training.loop.token_attention_head`'s module in eval mode."""
    proj_w, proj_b, att_w, att_b, out_w, out_b = (weights[name] for name in ATTENTION_ARRAYS)
    extra_w = weights.get("extra_w")
    if (extra_w is None) != (extra is None):
        raise ValueError("a head with extra_w needs its extra features, and only such a head takes them")
    hidden, outputs = proj_w.shape[1], out_w.shape[0]
    out = np.zeros((len(states), outputs), dtype=np.float32)
    order = np.argsort([len(s) for s in states], kind="stable")
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        h, mask = pad_states(states, idx)
        z = np.maximum(h @ proj_w + proj_b, 0.0)
        scores = np.where(mask[..., None], z @ att_w + att_b, -np.inf)
        attention = np.exp(scores - scores.max(axis=1, keepdims=True))
        attention /= attention.sum(axis=1, keepdims=True)
        pooled = np.einsum("blc,blk->bck", attention, z)
        mean = (z * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        logits = (pooled * out_w[None, :, :hidden]).sum(-1) + mean @ out_w[:, hidden:].T + out_b
        if extra is not None and extra_w is not None:
            logits = logits + extra[idx] @ extra_w.T
        out[idx] = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
    return out


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


def read_attention_head(
    npz_path: str | Path, arrays: Sequence[str] = ATTENTION_ARRAYS
) -> tuple[dict[str, np.ndarray], dict, str]:
    """`read_head` for an attention head: stops with what is missing when the file holds another shape (a head
    trained before the rail read token states)."""
    weights, meta, version = read_head(npz_path)
    missing = set(arrays) - set(weights)
    if missing:
        raise ValueError(f"{npz_path}: not an attention head (missing {sorted(missing)}); retrain it")
    return weights, meta, version


def split_prefixed(arrays: dict[str, np.ndarray], prefix: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A head's stored arrays -> (those without `prefix`, those with it, the prefix removed; empty when none)."""
    prefixed = {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}
    return {name: value for name, value in arrays.items() if not name.startswith(prefix)}, prefixed


def float32_arrays(weights: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """What `np.savez` stores for a head's `names`, as float32."""
    return {name: weights[name].astype(np.float32) for name in names}


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
