"""An on-disk cache of sentence embeddings for the training scripts, so retraining and re-evaluating cost seconds."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from guardrails.modeling.encoder import SentenceEncoder
from training.paths import EMBEDDING_CACHE



class CachingEncoder:
    """Wraps SentenceEncoder with a cache in `data/cache/<prefix>_<encoder fingerprint>_<version>.npz`.

    Keys are text digests: an embedding depends a little (~1e-7) on which texts shared its padded batch, so a
    cold run and a cached run give heads that agree to that precision and the same decisions and metrics."""

    def __init__(self, encoder: SentenceEncoder, prefix: str, version: str, cache_dir: Path = EMBEDDING_CACHE) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.precision = encoder.precision
        weights = next(iter(sorted(encoder.path.glob("*.safetensors"))), encoder.path / "config.json")
        fingerprint = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        self.path = cache_dir / f"{prefix}_{fingerprint}_{version}.npz"
        self._cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as stored:
                self._cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        self._dirty = False

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
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
