"""The toxicity rail: scores a user's prompt (input) or generated fiction (output) and blocks abuse.

Two backends score text, both returning per-category probabilities under detoxify's category names:
- `detoxify`: the real `detoxify.Detoxify` model, when its weights can be loaded (a local checkpoint, or a
  model type already in the torch hub cache or downloadable right now);
- `embedded`: the shared MiniLM sentence encoder plus a small numpy head shipped in `guardrails/models`,
  trained on Davidson et al. (2017) tweets and on text the project wrote (`guardrails/training`).

The rail normalises text first (`guardrails.normalize`), splits long text into sentences so one abusive line
cannot hide inside a long story, scores every sentence of a batch in one backend call, and reports the worst.
Quoted dialogue stays in one unit with its speaker tag: "'I will find you,' the Lich King hissed" is a story;
"I will find you" alone is a threat.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from guardrails.heads import mlp_arrays, mlp_probabilities, read_head
from guardrails.normalize import normalize
from guardrails.profanity import profanity_score
from guardrails.verdict import Stage, Verdict, one_line

if TYPE_CHECKING:
    from guardrails.encoder import SentenceEncoder

__all__ = [
    "CATEGORIES",
    "DEFAULT_THRESHOLDS",
    "DetoxifyBackend",
    "DetoxifyUnavailable",
    "EmbeddedToxicityBackend",
    "ToxicityBackend",
    "ToxicityHead",
    "ToxicityRail",
    "load_toxicity_backend",
    "split_units",
]

logger = logging.getLogger(__name__)

CATEGORIES = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit")
"""detoxify's category names; every backend reports a subset of these."""

_SPECIFIC_FIRST = ("identity_attack", "threat", "sexual_explicit", "severe_toxicity", "insult", "obscene", "toxicity")
"""The order in which a failed verdict names its category: the most specific reason first."""

MODELS_DIR = Path(__file__).parent / "models"
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


# On prompts: 1.3% of benign validation prompts (role-play and creative requests) score at or over this,
# against 8.3% at the output threshold; abuse recall on prompts is 0.895 here, 0.948 at the output threshold.
PROMPT_TOXICITY_THRESHOLD = 0.9


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


class DetoxifyUnavailable(RuntimeError):
    """detoxify weights could not be loaded (missing file, offline, unresolvable model type, ...)."""


# ---------------------------------------------------------------------------------------------------------------
# Embedded backend: sentence encoder + numpy head
# ---------------------------------------------------------------------------------------------------------------
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
            w2=weights["w2"],
            b2=weights["b2"],
            w1=weights.get("w1"),
            b1=weights.get("b1"),
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            version=version,
            encoder_id=meta.get("encoder", ""),
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


# ---------------------------------------------------------------------------------------------------------------
# detoxify backend
# ---------------------------------------------------------------------------------------------------------------
class DetoxifyBackend:
    """A loaded `detoxify.Detoxify` model, scored in small batches under a lock."""

    name = "detoxify"

    def __init__(
        self, model: Any, version: str, batch_size: int = 16, languages: frozenset[str] | None = frozenset({"en"})
    ) -> None:
        self.languages = languages
        """`original` and `unbiased` read English; `multilingual` its seven (guardrails/language.py)."""
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
    from guardrails.language import detoxify_languages

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
        from guardrails.encoder import SentenceEncoder

        encoder = SentenceEncoder()
    backend = EmbeddedToxicityBackend(encoder)
    if kind == "embedded":
        return backend, f"embedded head {backend.version} requested"
    return backend, f"detoxify unavailable: {why_not_detoxify}; using embedded head {backend.version}"


# ---------------------------------------------------------------------------------------------------------------
# Sentence units
# ---------------------------------------------------------------------------------------------------------------
MIN_UNIT_CHARS = 40
"""A piece shorter than this that does not end a sentence (a poem's half line, a screenplay heading) joins the
next one: alone it carries no context, and a classifier trained on short tweets reads fragments as tweets."""
MIN_SENTENCE_CHARS = 15
"""A complete sentence shorter than this ("He smiled.", "Run!") joins the next one too. Longer complete sentences
stand alone, so a short abusive sentence cannot be diluted by padding it with a harmless one."""
MAX_UNIT_CHARS = 400
"""Longer units are cut again so the encoder's 256-token window never truncates away the end of one."""

_TERMINATORS = ".!?…"
_CLOSERS = "\"'”’)]»"
_OPEN_QUOTES = "“«„"
_CLOSE_QUOTES = "”»"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st prof sr jr vs etc mt capt gen sgt lt col rev fr no vol ch fig approx e.g i.e".split()
)


def _sentence_spans(text: str, start: int, end: int, *, respect_quotes: bool) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    in_quote = False
    seg_start = i = start
    while i < end:
        ch = text[i]
        closes = respect_quotes and ((ch == '"' and in_quote) or ch in _CLOSE_QUOTES)
        if closes:
            in_quote = False
            # A quote that ends its own sentence ("I will find you." The Duke smiled.) ends the unit, unless the
            # narration continues it ("Run!" she said.): a new sentence must not hide behind dialogue.
            j = i + 1
            if text[i - 1 : i] in _TERMINATORS and j < end and text[j].isspace():
                k = j
                while k < end and text[k].isspace():
                    k += 1
                if k < end and (text[k].isupper() or text[k] in '"“'):
                    spans.append((seg_start, j))
                    seg_start = j
        elif respect_quotes and (ch == '"' or ch in _OPEN_QUOTES):
            in_quote = True
        elif ch in _TERMINATORS and not in_quote:
            j = i + 1
            while j < end and text[j] in _TERMINATORS:
                j += 1
            while j < end and text[j] in _CLOSERS:
                j += 1
            if (j >= end or text[j].isspace()) and not _is_abbreviation(text, seg_start, i):
                spans.append((seg_start, j))
                seg_start = j
            i = j
            continue
        i += 1
    if seg_start < end:
        spans.append((seg_start, end))
    return spans


def _is_abbreviation(text: str, seg_start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > seg_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lower().lstrip("(\"'“")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut an over-long span: first at sentence ends ignoring quotes, then at spaces."""
    pieces: list[tuple[int, int]] = []
    for s, e in _sentence_spans(text, start, end, respect_quotes=False):
        while e - s > MAX_UNIT_CHARS:
            cut = text.rfind(" ", s, s + MAX_UNIT_CHARS)
            cut = cut if cut > s else s + MAX_UNIT_CHARS
            pieces.append((s, cut))
            s = cut
        pieces.append((s, e))
    return pieces


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_units(text: str) -> list[str]:
    """The sentences (lines, for poems and lyrics) of `text`, as substrings of it, for scoring one by one.

    Quoted dialogue stays whole and keeps its speaker tag; fragments and very short sentences join their neighbour.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        for s, e in _sentence_spans(text, line.start(), line.end(), respect_quotes=True):
            s, e = _strip_span(text, s, e)
            if e <= s:
                continue
            spans.extend(_cut_long(text, s, e) if e - s > MAX_UNIT_CHARS else [(s, e)])
    spans = [span for span in (_strip_span(text, s, e) for s, e in spans) if span[1] > span[0]]
    merged: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for s, e in spans:
        if pending is not None:
            s = pending[0]
            pending = None
        complete = text[e - 1] in _TERMINATORS or (text[e - 1] in _CLOSERS and text[e - 2 : e - 1] in _TERMINATORS)
        if e - s < MIN_SENTENCE_CHARS or (e - s < MIN_UNIT_CHARS and not complete):
            pending = (s, e)
            continue
        merged.append((s, e))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], pending[1])
        else:
            merged.append(pending)
    return [text[s:e] for s, e in merged]


# ---------------------------------------------------------------------------------------------------------------
# The rail
# ---------------------------------------------------------------------------------------------------------------
# Someone real on the receiving end: a Discord mention, or (in generated text) the reader addressed as "you" in
# the narrator's own voice. Characters' lines inside quotation marks address other characters.
# A zero-width space after the @ is how the bot defuses mentions it passes on (bot/core/admission.defuse).
_MENTION = re.compile(r"<@\u200b?[!&]?\d+>|(?<![\w.])@\u200b?(?:everyone|here|[A-Za-z0-9_.]{2,32})\b")
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|«[^»\n]*»|„[^“”\n]*[“”]')
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves)\b", re.IGNORECASE)


def aims_at_real_person(unit: str, stage: Stage) -> bool:
    """Whether a sentence is aimed at a real person: an @mention anywhere, or, in output, "you" outside quotes.

    Prompts speak to the bot in the second person all the time ("you are a bard; write ..."), so there only
    mentions count."""
    if _MENTION.search(unit):
        return True
    return stage == "output" and bool(_SECOND_PERSON.search(_QUOTED.sub(" ", unit)))


TARGETED_NOTE = " (aimed at a real person: a mention, or the reader)"
"""Added to a verdict's explanation when a sentence was judged as aimed at a real person."""

# A fiction frame in front of what is really said: "A limerick for @sam: ...", "Short story: ...", "Dear reader, ...",
# "A fable, but it is a fact: ...". Up to ten words before a colon or dash, naming a kind of writing, a mention or
# the reader; or a vocative to the reader before a comma.
_FRAME_WORDS = (
    r"story|stories|poem|poetry|limerick|fable|tale|ballad|sonnet|haiku|lyrics?|song|rhyme|chapter|fiction|verse"
    r"|scene|script|monologue|toast|roleplay|role-play|bedtime|moral|dedicated|fact|truth|true|real|honestly"
)
_FRAME = re.compile(
    r"^\s*(?:[^\n:\"“”]{0,80}?(?:\b(?:" + _FRAME_WORDS + r")\b|@\S+|<@[!&]?\d+>|\breaders?\b)[^\n:\"“”]{0,40}?)(?::|\s[-–—]\s)\s*(?P<tail>\S.*)$"
    r"|^\s*(?:(?:dear|my|oh|o)\s+)?readers?\s*,\s*(?P<vocative>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


def frame_tail(unit: str) -> str | None:
    """What follows a fiction frame at the start of `unit` ("A poem for @jo: <this>"), or None without one."""
    match = _FRAME.match(unit)
    if not match:
        return None
    tail = (match.group("tail") or match.group("vocative") or "").strip()
    return tail if len(tail) >= 12 and tail != unit.strip() else None


def _worst(*scored: dict[str, float] | None) -> dict[str, float] | None:
    """Category by category, the highest score among the scorings present."""
    present = [s for s in scored if s]
    if len(present) < 2:
        return present[0] if present else None
    return {category: max(s.get(category, 0.0) for s in present) for category in present[0]}


class ToxicityRail:
    """Batched toxicity check for prompts (stage "input") and generated text (stage "output").

    `targeted` thresholds judge sentences aimed at a real person (`aims_at_real_person`): they are never looser
    than the PG-13 ones, so a rating or a moderator may loosen what characters say to each other but not abuse
    of a member or the reader.
    """

    name = "toxicity"

    def __init__(
        self,
        backend: ToxicityBackend,
        thresholds: dict[str, float] | None = None,
        targeted: Mapping[str, float] | None = None,
    ) -> None:
        base = dict(getattr(backend, "default_thresholds", None) or DEFAULT_THRESHOLDS)
        base.update(thresholds or {})
        unknown = set(base) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown toxicity categories {sorted(unknown)}")
        self.backend = backend
        self.thresholds = base
        self.targeted = {category: min(value, (targeted or {}).get(category, value)) for category, value in base.items()}

    @property
    def languages(self) -> frozenset[str] | None:
        """Its backend's languages (a backend that declares none is taken as English)."""
        return getattr(self.backend, "languages", frozenset({"en"}))

    def for_prompts(self) -> ToxicityRail:
        """The same model with the looser general-toxicity threshold used on prompts.

        Role-play requests ("Act as a grumpy wizard ...") read like chat to a model trained on tweets (3.7% of
        benign validation prompts score over 0.8), while a prompt that asks for abuse is checked again as output.
        Profanity in a prompt is not judged at all. Identity attacks and threats keep their thresholds.
        """
        looser = {"toxicity": max(self.thresholds.get("toxicity", 0.0), PROMPT_TOXICITY_THRESHOLD)}
        if "obscene" in self.thresholds:
            looser["obscene"] = 1.01  # a member's swearing is not a reason to refuse; the output's language is judged
        # A prompt that names someone by mention is held to the output's line.
        return ToxicityRail(self.backend, {**self.thresholds, **looser}, targeted=self.thresholds)

    def with_thresholds(self, overrides: Mapping[str, float]) -> ToxicityRail:
        known = {category: value for category, value in overrides.items() if category in self.thresholds}
        return ToxicityRail(self.backend, {**self.thresholds, **known}, targeted=self.targeted) if known else self

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        described = {
            "backend": self.backend.name,
            "version": self.backend.version,
            "thresholds": dict(self.thresholds),
            "targeted_thresholds": dict(self.targeted),
        }
        encoder = getattr(self.backend, "encoder", None)
        if encoder is not None:
            described["encoder_precision"] = encoder.precision
        return described

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        """One verdict per text. All sentences of the batch go to the backend in one call.

        A sentence that opens with a fiction frame ("A limerick for @sam: ...") is also scored without it, and the
        worse of the two counts: a frame must not dilute what follows it (`frame_tail`).
        `latency_ms` is the whole batch's time: that is how long each text waited for its verdict.
        """
        started = time.perf_counter()
        units = [split_units(text) for text in texts]
        try:
            normalised = [[normalize(unit) for unit in text_units] for text_units in units]
            tails = [[normalize(frame_tail(unit) or "") for unit in text_units] for text_units in units]
            unique = list(dict.fromkeys(n for per_text in (*normalised, *tails) for n in per_text if n))
            scores = dict(zip(unique, self.backend.score(unique), strict=True)) if unique else {}
        except Exception as exc:  # a failed model must not crash the pipeline; the policy decides what "error" means
            logger.exception("toxicity backend %s failed", self.backend.name)
            latency = (time.perf_counter() - started) * 1000
            return [self._error(stage, exc, latency) for _ in texts]
        latency = (time.perf_counter() - started) * 1000
        return [
            self._verdict(text_units, [_worst(scores.get(n), scores.get(t)) for n, t in zip(norms, text_tails, strict=True)], stage, latency)
            for text_units, norms, text_tails in zip(units, normalised, tails, strict=True)
        ]

    def _verdict(
        self,
        units: list[str],
        unit_scores: list[dict[str, float] | None],
        stage: Stage,
        latency_ms: float,
    ) -> Verdict:
        worst: tuple[float, int, str] | None = None  # (score minus threshold, unit index, category)
        unit_thresholds = [
            self.targeted if aims_at_real_person(unit, stage) else self.thresholds for unit in units
        ]
        for index, scored in enumerate(unit_scores):
            for category, score in (scored or {}).items():
                threshold = unit_thresholds[index].get(category)
                if threshold is not None and (worst is None or score - threshold > worst[0]):
                    worst = (score - threshold, index, category)
        if worst is None:
            return Verdict(
                rail=self.name, backend=self.backend.name, version=self.backend.version, stage=stage,
                decision="skip", explanation="nothing to score", latency_ms=latency_ms,
            )  # fmt: skip
        margin, index, category = worst
        scored = unit_scores[index] or {}
        thresholds = unit_thresholds[index]
        blocked = margin >= 0
        if blocked:  # name the most specific category that failed: "threat" says more than "toxicity"
            category = next(cat for cat in _SPECIFIC_FIRST if cat in scored and scored[cat] >= thresholds.get(cat, 2.0))
        where = f" in sentence {index + 1} of {len(units)}" if len(units) > 1 else ""
        if thresholds is self.targeted and self.targeted != self.thresholds:
            where += TARGETED_NOTE
        score, threshold = scored[category], thresholds[category]
        explanation = (
            f"{category} {score:.2f} >= threshold {threshold:.2f}{where}"
            if blocked
            else f"all categories below threshold (closest: {category} {score:.2f} < {threshold:.2f}{where})"
        )
        return Verdict(
            rail=self.name,
            backend=self.backend.name,
            version=self.backend.version,
            stage=stage,
            decision="block" if blocked else "pass",
            scores={cat: round(value, 4) for cat, value in scored.items()},
            thresholds={cat: thresholds[cat] for cat in scored if cat in thresholds},
            category=category if blocked else None,
            sentence=units[index] if blocked or len(units) > 1 else None,
            explanation=explanation,
            latency_ms=latency_ms,
        )

    def _error(self, stage: Stage, exc: Exception, latency_ms: float) -> Verdict:
        return Verdict(
            rail=self.name, backend=self.backend.name, version=self.backend.version, stage=stage,
            decision="error", explanation=f"toxicity backend failed: {one_line(exc)}", latency_ms=latency_ms,
        )  # fmt: skip
