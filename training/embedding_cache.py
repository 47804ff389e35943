"""On-disk caches of sentence embeddings and token states for the training scripts, so retraining and re-evaluating
cost seconds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from guardrails.modeling.encoder import SentenceEncoder
from training.paths import EMBEDDING_CACHE


def encoder_fingerprint(encoder: SentenceEncoder) -> str:
    weights = next(iter(sorted(encoder.path.glob("*.safetensors"))), encoder.path / "config.json")
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


class CachingEncoder:
    """Wraps SentenceEncoder with a cache in `data/cache/<prefix>_<encoder fingerprint>_<version>.npz`.

    Keys are text digests: an embedding depends a little (~1e-7) on which texts shared its padded batch, so a
    cold run and a cached run give heads that agree to that precision and the same decisions and metrics."""

    def __init__(self, encoder: SentenceEncoder, prefix: str, version: str, cache_dir: Path = EMBEDDING_CACHE) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.precision = encoder.precision
        self.path = cache_dir / f"{prefix}_{encoder_fingerprint(encoder)}_{version}.npz"
        self._cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as stored:
                self._cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        self._dirty = False

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}.items())
        if missing:
            started = time.perf_counter()
            vectors = self.encoder.encode([t for _, t in missing])
            self._cache.update(zip((k for k, _ in missing), vectors, strict=True))
            self._dirty = True
            if len(missing) > 200:
                print(f"  encoded {len(missing)} texts in {time.perf_counter() - started:.0f}s", flush=True)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._cache)
        np.savez(self.path, keys=np.array(keys), vectors=np.stack([self._cache[k] for k in keys]))
        self._dirty = False


class _TokenStates:
    """One kind of per-text token states on disk: float16 (tokens, dim) arrays stored concatenated with their lengths."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as stored:
                pieces = np.split(stored["states"], np.cumsum(stored["lengths"])[:-1])
                self.states = dict(zip(stored["keys"].tolist(), pieces, strict=True))
        self.dirty = False

    def get(self, texts: list[str], compute: Callable[[list[str]], list[np.ndarray]]) -> list[np.ndarray]:
        """The states of `texts`, computing (and remembering) those not on disk yet."""
        keys = [text_key(t) for t in texts]
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in self.states}.items())
        if missing:
            started = time.perf_counter()
            computed = compute([t for _, t in missing])
            self.states.update((k, s.astype(np.float16)) for (k, _), s in zip(missing, computed, strict=True))
            self.dirty = True
            if len(missing) > 200:
                print(f"  encoded token states of {len(missing)} texts in {time.perf_counter() - started:.0f}s", flush=True)
        return [self.states[k].astype(np.float32) for k in keys]

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no data/cache yet
        keys = list(self.states)
        np.savez(
            self.path,
            keys=np.array(keys),
            lengths=np.array([len(self.states[k]) for k in keys]),
            states=np.concatenate([self.states[k] for k in keys]),
        )
        self.dirty = False


class CachingTokenEncoder(CachingEncoder):
    """The same cache for `SentenceEncoder.encode_tokens` and `encode_top_inputs` (a file each, written only when
    used). `encode` still gives the pooled embeddings (through the same cache file name with `_pooled`), so a script
    can train heads of both shapes on one encoder."""

    def __init__(self, encoder: SentenceEncoder, prefix: str, version: str, cache_dir: Path = EMBEDDING_CACHE) -> None:
        super().__init__(encoder, f"{prefix}_pooled", version, cache_dir)
        fingerprint = encoder_fingerprint(encoder)
        self.device = encoder.device
        self._tokens = _TokenStates(cache_dir / f"{prefix}_tokens_{fingerprint}_{version}.npz")
        self._top_inputs = _TokenStates(cache_dir / f"{prefix}_top_inputs_{fingerprint}_{version}.npz")

    def encode_tokens(self, texts: list[str]) -> list[np.ndarray]:
        return self._tokens.get(texts, self.encoder.encode_tokens)

    def encode_top_inputs(self, texts: list[str]) -> list[np.ndarray]:
        return self._top_inputs.get(texts, self.encoder.encode_top_inputs)

    def top_layer(self):  # -> torch.nn.Module
        return self.encoder.top_layer()

    def save(self) -> None:
        super().save()
        self._tokens.save()
        self._top_inputs.save()
