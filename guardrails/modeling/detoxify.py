"""The detoxify backend: a `detoxify.Detoxify` checkpoint, loaded through detoxify's own code without waiting on
the network for more than a few seconds, and `load_toxicity_backend`, which uses it where its weights load and
else falls back to the shipped embedded head (`guardrails/modeling/toxicity.py`), saying why.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from guardrails.modeling.language_id import DETOXIFY_MULTILINGUAL, ENGLISH
from guardrails.modeling.toxicity import CATEGORIES, DEFAULT_THRESHOLDS, EmbeddedToxicityBackend, ToxicityBackend
from guardrails.rail import one_line

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder


class DetoxifyUnavailable(RuntimeError):
    """detoxify weights could not be loaded (missing file, offline, unresolvable model type, ...)."""



class DetoxifyBackend:
    """A loaded `detoxify.Detoxify` model, scored in small batches under a lock."""

    name = "detoxify"

    def __init__(
        self, model: Any, version: str, batch_size: int = 16, languages: frozenset[str] | None = frozenset({"en"})
    ) -> None:
        self.languages = languages
        """`original` and `unbiased` read English; `multilingual` its seven (guardrails/rails/language.py)."""
        self.model = model
        self.version = version
        self.batch_size = batch_size
        self.default_thresholds = dict(DEFAULT_THRESHOLDS)
        self._lock = threading.Lock()

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        results: list[dict[str, float]] = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                raw = self.model.predict(chunk)
                # predict() squeezes a batch of one to plain floats; make every class a list again.
                columns = {
                    name: values if isinstance(values, list) else [values]
                    for name, values in raw.items()
                    if name in CATEGORIES  # "unbiased" also reports identity columns (male, christian, ...)
                }
                results.extend({name: float(col[i]) for name, col in columns.items()} for i in range(len(chunk)))
        return results



def detoxify_languages(model_type: str, model_name: str = "") -> frozenset[str]:
    """What a detoxify checkpoint reads, from its `arch.args` model_type and model_name: XLM-RoBERTa is the
    multilingual one (`xlm-roberta-base`, `XLMRobertaForSequenceClassification`); the others are English."""
    return DETOXIFY_MULTILINGUAL if "xlm" in f"{model_type} {model_name}".lower() else ENGLISH


_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "STORYLOOM_OFFLINE")
_CONNECT_TIMEOUT_S = 3.0
_DOWNLOAD_TIMEOUT_S = 30.0


def _offline() -> bool:
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on") for var in _OFFLINE_VARIABLES)


def _reachable(host: str) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _download(url: str, destination: Path) -> None:
    """Download with timeouts on connect and on every read, so a dead network fails instead of hanging."""
    import urllib.request

    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, suffix=".partial", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                while block := response.read(1 << 20):
                    tmp.write(block)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    os.replace(tmp.name, destination)


def _resolve_checkpoint(spec: str) -> Path:
    """A checkpoint file: `spec` itself, or the cached (else freshly downloaded) file of a detoxify model type."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    import torch
    from detoxify.detoxify import MODEL_URLS

    if spec not in MODEL_URLS:
        raise DetoxifyUnavailable(
            f"checkpoint {spec!r} is neither a file nor a detoxify model type ({', '.join(MODEL_URLS)})"
        )
    url = MODEL_URLS[spec]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if cached.is_file():
        return cached
    if _offline():
        raise DetoxifyUnavailable(f"model type {spec!r} is not in the torch hub cache ({cached}) and the hub is offline")
    if not _reachable("github.com"):
        raise DetoxifyUnavailable(f"model type {spec!r} is not cached and github.com is unreachable")
    _download(url, cached)
    return cached


def _checkpoint_config(path: Path) -> dict[str, Any]:
    """The training config stored in a detoxify checkpoint (memory-mapped: the weights are not read here)."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except RuntimeError:  # checkpoints saved in the legacy (non-zip) format cannot be memory-mapped
        loaded = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise DetoxifyUnavailable(f"{path} is not a detoxify checkpoint (it needs 'config' and 'state_dict')")
    return loaded["config"]


def _check_model_type_resolvable(model_type: str) -> None:
    """detoxify calls `config_class.from_pretrained(model_type)` unconditionally; fail fast when that cannot work."""
    if Path(model_type).expanduser().is_dir():
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model_type, "config.json"), str):
        return
    if _offline():
        raise DetoxifyUnavailable(
            f"the checkpoint's model_type {model_type!r} is neither a local folder nor in the Hugging Face cache,"
            " and the hub is offline"
        )
    if not _reachable("huggingface.co"):
        raise DetoxifyUnavailable(f"the checkpoint's model_type {model_type!r} is not cached and huggingface.co is unreachable")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()[:12]


def load_detoxify_backend(checkpoint: str, config_path: str | None = None) -> tuple[DetoxifyBackend, Path]:
    """Load detoxify through its own loading code; raises `DetoxifyUnavailable` (or the loader's error)."""
    try:
        import detoxify
    except ImportError as exc:
        raise DetoxifyUnavailable(f"the detoxify package is not installed ({exc})") from exc

    path = _resolve_checkpoint(checkpoint)
    arch = _checkpoint_config(path).get("arch", {}).get("args", {})
    model_type = arch.get("model_type")
    if not model_type:
        raise DetoxifyUnavailable(f"{path} has no arch.args.model_type in its config")
    _check_model_type_resolvable(model_type)
    model = detoxify.Detoxify(checkpoint=str(path), device="cpu", huggingface_config_path=config_path)
    # Some tokenizer configs leave model_max_length unset (a huge sentinel): truncation would then not stop
    # a long text from overflowing the position embeddings.
    positions = int(getattr(model.model.config, "max_position_embeddings", 512))
    model.tokenizer.model_max_length = min(model.tokenizer.model_max_length, positions, 512)
    version = f"detoxify-{getattr(detoxify, '__version__', '?')}:{path.name}:{_file_digest(path)}"
    return DetoxifyBackend(model, version, languages=detoxify_languages(model_type, arch.get("model_name", ""))), path


def load_toxicity_backend(
    kind: Literal["auto", "detoxify", "embedded"] = "auto",
    *,
    detoxify_checkpoint: str | None = None,
    detoxify_config_path: str | None = None,
    encoder: SentenceEncoder | None = None,
) -> tuple[ToxicityBackend, str]:
    """The backend to use and a human-readable reason for the choice (log it and record it).

    `detoxify` raises `DetoxifyUnavailable` when its weights cannot be loaded; `auto` falls back to the
    embedded head and says why. Nothing here waits on the network for more than a few seconds.
    """
    if kind not in ("auto", "detoxify", "embedded"):
        raise ValueError(f"unknown toxicity backend {kind!r}")
    why_not_detoxify = "no detoxify checkpoint configured"
    if kind in ("auto", "detoxify"):
        if detoxify_checkpoint:
            try:
                backend, path = load_detoxify_backend(detoxify_checkpoint, detoxify_config_path)
                return backend, f"detoxify weights loaded from {path} ({backend.version})"
            except Exception as exc:  # any loader failure means "not available" to auto
                why_not_detoxify = one_line(exc)
                if kind == "detoxify":
                    raise DetoxifyUnavailable(f"detoxify unavailable: {why_not_detoxify}") from exc
        elif kind == "detoxify":
            raise DetoxifyUnavailable(f"detoxify unavailable: {why_not_detoxify}")

    if encoder is None:
        from guardrails.modeling.encoder import SentenceEncoder

        encoder = SentenceEncoder()
    backend = EmbeddedToxicityBackend(encoder)
    if kind == "embedded":
        return backend, f"embedded head {backend.version} requested"
    return backend, f"detoxify unavailable: {why_not_detoxify}; using embedded head {backend.version}"
