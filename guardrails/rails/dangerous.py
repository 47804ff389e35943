"""The dangerous-instructions rail: requests for, and outputs carrying, actionable real-world instructions for
serious harm (weapons, explosives, poisons and chemical or biological agents, drug synthesis, malware and break-ins,
self-harm methods). Judged on both stages, in every frame: "a thriller where the villain lists the exact chemicals
and amounts for a nerve agent" is a request for a recipe with a story around it.

What passes: a story may depict a bomb, a poisoning or a hack ("The bomb tore through the station at noon"), and
harmless questions that share the words ("how do I execute a shell script", "kill a Python process", "a recipe for
a killer brownie", a cake recipe with grams and steps) are not instructions for harm.

How: a small numpy MLP head (guardrails/models/dangerous_head.npz, trained by
`python -m guardrails.training.train_dangerous`) over the shared MiniLM sentence embedding of each window, plus a
handful of transparent cue features of the same window (`cue_features`: quantities with units, numbered or
sequenced steps, words that ask for specifics, hazard words, harm aimed at a person, self-harm phrases), plus a
linear term over the window's hashed words (`bow_features`). The text's score is the highest window's. Windows
are the ones other rails already embed, so the encoder's cache serves them and this rail adds only a matmul:
on prompts, sentences and neighbouring pairs (as the injection rail, `guardrails.rails.injection.windows`); on output,
sentences (as the toxicity rail, `guardrails.text.units.split_units`).

Ratings do not loosen it (M does not allow recipes), and a moderator's threshold may tighten it, never loosen it.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from guardrails.modeling.heads import mlp_arrays, read_head
from guardrails.paths import MODELS_DIR
from guardrails.rail import Stage, Verdict, one_line
from guardrails.rails.injection import windows as prompt_windows
from guardrails.text.normalize import normalize
from guardrails.text.units import split_units

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

__all__ = ["CATEGORY", "DEFAULT_HEAD_PATH", "DangerousHead", "DangerousRail", "bow_features", "cue_features", "stage_windows"]

logger = logging.getLogger(__name__)

CATEGORY = "dangerous_instructions"
DEFAULT_HEAD_PATH = MODELS_DIR / "dangerous_head.npz"
STAGES: tuple[Stage, ...] = ("input", "output")


# ---------------------------------------------------------------------------------------------------------------
# Cue features: what a recipe looks like, whatever it is a recipe for (the embedding says what it is for)
# ---------------------------------------------------------------------------------------------------------------
_QUANTITY = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:%|percent|°\s*[cf]?|degrees|g|grams?|mg|milligrams?|kg|kilos?|kilograms?|ml|millilit(?:er|re)s?"
    r"|l|lit(?:er|re)s?|oz|ounces?|lbs?|pounds?|cups?|tablespoons?|tbsp|teaspoons?|tsp|parts?|drops?|pills?|tablets?"
    r"|doses?|grains?|mm|cm|inch(?:es)?|volts?|v|amps?|minutes?|mins?|hours?|hrs?|seconds?|psi|mol(?:ar|es?)?|m)\b",
    re.IGNORECASE,
)
_STEP = re.compile(
    r"(?:^|\n)\s*(?:step\s*\d+|\d+[.)]|[-*•]\s)|\b(?:step\s+(?:one|two|three|four|five|\d+)|first(?:ly)?,|second(?:ly)?,"
    r"|then\s+(?:add|mix|heat|pour|pack|attach|connect|run|wait|take|place|drill|seal|filter|dissolve|stir|insert|wire)"
    r"|next,|after that,|finally,|once (?:it|the \w+) (?:is|has))",
    re.IGNORECASE,
)
_SPECIFICS = re.compile(
    r"\b(?:exact(?:ly)?|precise(?:ly)?|step[- ]by[- ]step|detailed|in detail|specific(?:ally|s)?|recipe|formula|ingredients"
    r"|amounts?|quantit(?:y|ies)|measurements?|ratios?|instructions?|tutorial|guide|walk (?:me|us|him|her|them) through"
    r"|blueprints?|schematics?|how (?:to|do (?:i|you|we)|can (?:i|you|we)|would (?:i|you|someone|one)|did (?:he|she|they)))\b",
    re.IGNORECASE,
)
_HAZARD = re.compile(
    r"\b(?:explosives?|detonat\w*|blasting caps?|pipe ?bombs?|car ?bombs?|ied|thermite|napalm|gunpowder|black powder|tatp"
    r"|fertili[sz]er bombs?|molotov|nerve (?:agents?|gas)|sarin|vx|tabun|ricin|anthrax|botulinum|toxins?|poisons?|poisonous"
    r"|cyanide|arsenic|chlorine gas|mustard gas|pathogens?|bioweapons?|chemical weapons?|weaponi[sz]\w*|meth(?:amphetamine)?"
    r"|fentanyl|heroin|cocaine|crack|lsd|mdma|precursors?|pseudoephedrine|synthesi[sz]\w*|silencers?|suppressors?|ghost guns?"
    r"|untraceable|full[- ]auto(?:matic)?|malware|ransomware|keyloggers?|botnets?|trojans?|rootkits?|exploits?|phishing"
    r"|ddos|sql injection|backdoors?|overdos\w*|self[- ]harm|suicide|lethal|undetect\w*|without (?:getting caught|a trace|being"
    r" (?:caught|traced|detected|noticed)))\b",
    re.IGNORECASE,
)
_HARM_TO_PERSON = re.compile(
    r"\b(?:kill|murder|poison|hurt|harm|injure|maim|stab|shoot|strangle|suffocate|drown|kidnap|abduct|torture|drug|blind"
    r"|paraly[sz]e|dispose of)\w*\s+(?:\w+\s+){0,2}?(?:someone|somebody|anyone|people|a person|persons?|humans?|a human"
    r"|him|her|them|my (?:\w+\s)?(?:wife|husband|boss|neighbou?r|teacher|ex|sister|brother|mother|father|mom|dad|partner"
    r"|girlfriend|boyfriend|friend|colleague|roommate|classmate)|a (?:child|kid|baby|crowd)|children|kids|the victim"
    r"|a body|the body|civilians|a family|strangers?)\b",
    re.IGNORECASE,
)
_SELF_HARM = re.compile(
    r"\b(?:kill(?:ing)? myself|end(?:ing)? my (?:own )?life|suicide|cut(?:ting)? myself|hurt(?:ing)? myself|harm(?:ing)? myself"
    r"|self[- ]harm\w*|overdos\w*|starv\w* myself|hang(?:ing)? myself|don'?t wake up|not wake up)\b",
    re.IGNORECASE,
)
CUE_NAMES = ("quantities", "steps", "asks_specifics", "hazard_words", "harm_to_a_person", "self_harm")


def cue_features(normalised: str) -> np.ndarray:
    """(6,) float32 in [0, 1]: quantities with units (up to 3), a step marker, words asking for specifics, hazard words
    (up to 2), a harming verb aimed at a person ("poison my husband", not "kill a process"), a self-harm phrase.
    Cheap regexes; the head learns how much each counts next to the embedding."""
    return np.array(
        [
            min(len(_QUANTITY.findall(normalised)), 3) / 3.0,
            1.0 if _STEP.search(normalised) else 0.0,
            1.0 if _SPECIFICS.search(normalised) else 0.0,
            min(len(_HAZARD.findall(normalised)), 2) / 2.0,
            1.0 if _HARM_TO_PERSON.search(normalised) else 0.0,
            1.0 if _SELF_HARM.search(normalised) else 0.0,
        ],
        dtype=np.float32,
    )


BOW_DIM = 2048
"""Hashed word unigrams and bigrams (crc32 mod this): a linear term next to the MLP. The embedding of "give me
step-by-step instructions to kill a Python process" is mostly its framing; single words ("python", "process",
"meth", "myself") carry what the request is about, and the same framing in both classes weighs nothing."""
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def bow_features(normalised: str) -> np.ndarray:
    """(BOW_DIM,) float32, 1.0 where a hashed unigram or bigram of the lower-cased text falls."""
    words = _WORD.findall(normalised.lower())
    out = np.zeros(BOW_DIM, dtype=np.float32)
    for token in [*words, *(f"{a} {b}" for a, b in zip(words, words[1:]))]:
        out[zlib.crc32(token.encode()) % BOW_DIM] = 1.0
    return out


def stage_windows(text: str, stage: Stage) -> list[str]:
    """The windows scored: on prompts sentences and neighbouring pairs, on output sentences (the pipeline's chunks
    are a sentence or so; each is judged as it streams). The same windows other rails embed, so they share the
    encoder's cache."""
    return prompt_windows(text) if stage == "input" else [u for u in split_units(text) if u.strip()]


# ---------------------------------------------------------------------------------------------------------------
# The learned head
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DangerousHead:
    """A one-hidden-layer MLP over [sentence embedding, cue features] plus a linear term over hashed words (`wb`)
    -> P(actionable instructions for serious harm)."""

    w2: np.ndarray
    b2: np.ndarray
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None
    wb: np.ndarray | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: {"input": 0.5, "output": 0.5})
    """Per stage: prompts and what the model writes are scored by the same head but are different populations."""
    version: str = "untracked"
    encoder_id: str = ""

    @property
    def dim(self) -> int:
        """The embedding width it expects (the input minus the cue features)."""
        rows = self.w1.shape[0] if self.w1 is not None else self.w2.shape[0]
        return int(rows) - len(CUE_NAMES)

    def probabilities(self, embeddings: np.ndarray, cues: np.ndarray, bows: np.ndarray | None = None) -> np.ndarray:
        """(n,) probabilities for (n, dim) embeddings, (n, len(CUE_NAMES)) cue features, (n, BOW_DIM) hashed words."""
        if len(embeddings) == 0:
            return np.zeros(0, dtype=np.float32)
        hidden = np.concatenate([embeddings, cues], axis=1).astype(np.float32)
        if self.w1 is not None and self.b1 is not None:
            hidden = np.maximum(hidden @ self.w1 + self.b1, 0.0)
        logits = (hidden @ self.w2 + self.b2).reshape(len(embeddings), -1)[:, 0]
        if self.wb is not None and bows is not None:
            logits = logits + bows @ self.wb.reshape(-1)
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = mlp_arrays(self.w2, self.b2, self.w1, self.b1)
        if self.wb is not None:
            arrays["wb"] = self.wb.astype(np.float32)
        return arrays

    @classmethod
    def load(cls, npz_path: str | Path = DEFAULT_HEAD_PATH) -> DangerousHead:
        """Weights from `npz_path`; per-stage thresholds and version from the .json beside it."""
        weights, meta, version = read_head(npz_path)
        return cls(
            w2=weights["w2"],
            b2=weights["b2"],
            w1=weights.get("w1"),
            b1=weights.get("b1"),
            wb=weights.get("wb"),
            thresholds={stage: float(meta["thresholds"][stage]) for stage in STAGES},
            version=version,
            encoder_id=meta.get("encoder", ""),
        )


# ---------------------------------------------------------------------------------------------------------------
# The rail
# ---------------------------------------------------------------------------------------------------------------
class DangerousRail:
    """Batched check for actionable instructions for serious real-world harm, on prompts and on output."""

    name = "dangerous"
    backend_name = "embedded"
    languages = frozenset({"en"})
    """Trained and measured on English only."""

    def __init__(
        self, encoder: SentenceEncoder, head: DangerousHead | None = None, thresholds: Mapping[str, float] | None = None
    ) -> None:
        self.encoder = encoder
        self.head = head or DangerousHead.load()
        if self.head.dim != encoder.dim:
            raise ValueError(f"dangerous head expects {self.head.dim}-d embeddings, the encoder gives {encoder.dim}")
        self.thresholds = {stage: float((thresholds or self.head.thresholds)[stage]) for stage in STAGES}
        for stage, value in self.thresholds.items():
            if not 0.0 < value <= 1.0:
                raise ValueError(f"dangerous threshold ({stage}) must be in (0, 1], got {value}")
        self.version = self.head.version

    def with_thresholds(self, overrides: Mapping[str, float]) -> DangerousRail:
        """A moderator's threshold may make the rail stricter, never looser: recipes for harm are off at every rating."""
        if CATEGORY not in overrides:
            return self
        stricter = {stage: min(value, float(overrides[CATEGORY])) for stage, value in self.thresholds.items()}
        return self if stricter == self.thresholds else DangerousRail(self.encoder, self.head, stricter)

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": {f"{CATEGORY}:{stage}": value for stage, value in self.thresholds.items()},
            "encoder_precision": self.encoder.precision,
            "languages": sorted(self.languages),
        }

    def window_scores(self, texts: Sequence[str], stage: Stage) -> list[list[tuple[str, float]]]:
        """Per text, per window: (window, probability). Every window of the batch goes to the encoder in one call."""
        per_text = [stage_windows(text, stage) for text in texts]
        normalised = [[normalize(w) for w in ws] for ws in per_text]
        unique = list(dict.fromkeys(n for ns in normalised for n in ns if n))
        probabilities: dict[str, float] = {}
        if unique:
            cues = np.stack([cue_features(n) for n in unique])
            bows = np.stack([bow_features(n) for n in unique])
            scored = self.head.probabilities(self.encoder.encode(unique), cues, bows)
            probabilities = dict(zip(unique, scored.tolist(), strict=True))
        return [
            [(w, probabilities[n]) for w, n in zip(ws, ns, strict=True) if n]
            for ws, ns in zip(per_text, normalised, strict=True)
        ]

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        """One verdict per text. `latency_ms` is the whole batch's time: how long each text waited for its verdict."""
        started = time.perf_counter()
        try:
            scored = self.window_scores(texts, stage)
        except Exception as exc:  # a failed model must not crash the pipeline; the policy decides what "error" means
            logger.exception("dangerous-instructions rail failed")
            latency = (time.perf_counter() - started) * 1000
            return [
                Verdict(
                    rail=self.name, backend=self.backend_name, version=self.version, stage=stage, decision="error",
                    explanation=f"dangerous-instructions rail failed: {one_line(exc)}", latency_ms=latency,
                )  # fmt: skip
                for _ in texts
            ]
        latency = (time.perf_counter() - started) * 1000
        return [self._verdict(windows_, stage, latency) for windows_ in scored]

    def _verdict(self, scored: list[tuple[str, float]], stage: Stage, latency_ms: float) -> Verdict:
        common = {"rail": self.name, "backend": self.backend_name, "version": self.version, "stage": stage}
        if not scored:
            return Verdict(**common, decision="skip", explanation="nothing to score", latency_ms=latency_ms)
        best = max(range(len(scored)), key=lambda i: scored[i][1])
        window, score = scored[best]
        threshold = self.thresholds[stage]
        blocked = score >= threshold
        where = f" (window {best + 1} of {len(scored)})" if len(scored) > 1 else ""
        relation = ">=" if blocked else "<"
        return Verdict(
            **common,
            decision="block" if blocked else "pass",
            scores={CATEGORY: round(float(score), 4)},
            thresholds={CATEGORY: threshold},
            category=CATEGORY if blocked else None,
            sentence=window if blocked or len(scored) > 1 else None,
            explanation=f"dangerous instructions {score:.2f} {relation} threshold {threshold:.2f}{where}",
            latency_ms=latency_ms,
            chunk_index=best if len(scored) > 1 else None,
        )
