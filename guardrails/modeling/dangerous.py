"""The dangerous-instructions model: a small numpy attention head over the encoder's token states plus a linear term over
cue features and hashed words, trained by `python -m training.train_dangerous` (weights
`guardrails/models/dangerous_head.npz`).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from guardrails.modeling.heads import ATTENTION_ARRAYS, attention_probabilities, float32_arrays, read_attention_head
from guardrails.paths import MODELS_DIR
from guardrails.rail import Stage

DEFAULT_HEAD_PATH = MODELS_DIR / "dangerous_head.npz"
DEFAULT_REQUESTS_PATH = MODELS_DIR / "dangerous_requests.npz"
"""The rail's tuned copy of the encoder (`guardrails.modeling.tuned_encoder`, `python -m training.train_dangerous_requests`):
it judges prompts and the output sentences the head screens in."""
STAGES: tuple[Stage, ...] = ("input", "output")
HEAD_ARRAYS = (*ATTENTION_ARRAYS, "extra_w")
"""An attention head plus its linear term over [cue features, hashed words]."""


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
"""Hashed word unigrams and bigrams (crc32 mod this): a linear term beside the attention head. The pooled embedding of "give me
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


@dataclass(frozen=True)
class DangerousHead:
    """An attention head over the encoder's token states (`guardrails.modeling.heads.attention_probabilities`) plus
    a linear term over [cue features, hashed words] (`extra_w`) -> P(actionable instructions for serious harm).

    Token states, not the mean-pooled sentence vector: "give me step-by-step instructions to X" pools to mostly its
    framing, and attention can weigh the words that say what X is."""

    weights: dict[str, np.ndarray]
    thresholds: dict[str, float] = field(default_factory=lambda: {"input": 0.5, "output": 0.5})
    """Per stage: prompts and what the model writes are scored by the same head but are different populations."""
    version: str = "untracked"
    encoder_id: str = ""

    @property
    def dim(self) -> int:
        """The token-state width it expects."""
        return int(self.weights["proj_w"].shape[0])

    def probabilities(self, states: list[np.ndarray], cues: np.ndarray, bows: np.ndarray) -> np.ndarray:
        """(n,) probabilities for n texts' (tokens, dim) states, (n, len(CUE_NAMES)) cue features, (n, BOW_DIM)
        hashed words."""
        if not states:
            return np.zeros(0, dtype=np.float32)
        extra = np.concatenate([cues, bows], axis=1).astype(np.float32)
        return attention_probabilities(states, self.weights, extra)[:, 0]

    def arrays(self) -> dict[str, np.ndarray]:
        return float32_arrays(self.weights, HEAD_ARRAYS)

    @classmethod
    def load(cls, npz_path: str | Path = DEFAULT_HEAD_PATH) -> DangerousHead:
        """Weights from `npz_path`; per-stage thresholds and version from the .json beside it."""
        weights, meta, version = read_attention_head(npz_path, HEAD_ARRAYS)
        return cls(
            weights=weights,
            thresholds={stage: float(meta["thresholds"][stage]) for stage in STAGES},
            version=version,
            encoder_id=meta.get("encoder", ""),
        )
