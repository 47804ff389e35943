"""The prompt-injection / jailbreak rail: scores a user's prompt (stage "input") and blocks attempts to override
the bot's instructions, reveal its system prompt or switch off its content policy.

Role-play is this bot's normal work ("You are a pirate captain; write a sea shanty", "Act as a grumpy wizard"),
so a persona alone is never the signal: an attack is wording that targets the assistant's own instructions,
rules or policy.

Two layers, both on normalised text (`guardrails.text.normalize`, so leetspeak, look-alike letters and spaced-out
letters do not evade them):

- a learned score: the shared MiniLM sentence encoder and a small numpy MLP head (`guardrails/modeling/injection.py`). The prompt is cut into
  windows (every sentence, and every pair of neighbouring sentences) and the prompt's score is the highest window
  score, so a long prompt is not suspicious for being long and one attack sentence cannot hide in a long story;
- a small transparent rule layer for explicit override phrases ("ignore all previous instructions", "print your
  system prompt", "developer mode", DAN, "ignoriere alle vorherigen Anweisungen", ...). A rule hit lifts the
  score to at least `RULE_SCORE`, which is above any threshold the head ships with.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from guardrails.modeling.injection import CATEGORY, InjectionHead
from guardrails.rail import Stage, Verdict, one_line
from guardrails.text.normalize import normalize
from guardrails.text.units import split_units

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

__all__ = [
    "InjectionRail",
    "RULE_SCORE",
    "RULES",
    "match_rules",
    "windows",
]

logger = logging.getLogger(__name__)

PAIR_MAX_CHARS = 700
"""Two neighbouring sentences are also scored together when they fit in this many characters (the encoder reads
256 tokens; a sentence unit is at most 400 characters)."""
MAX_WINDOWS = 256
"""A prompt longer than Discord allows could produce more windows; past this many only single sentences are
scored, and past twice this many the rest is left to the rule layer (which always reads the whole prompt)."""
RULE_SCORE = 0.99
"""The score an explicit override phrase gets, whatever the head says."""


# ---------------------------------------------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------------------------------------------
def windows(text: str) -> list[str]:
    """The pieces of `text` that are scored: each sentence unit, then each pair of neighbouring units.

    Pieces are substrings of `text` (pairs joined with one space), in a stable order, without duplicates.
    """
    units = split_units(text)
    out = list(units)
    if len(units) > 1:
        out.extend(f"{a} {b}" for a, b in zip(units, units[1:]) if len(a) + len(b) + 1 <= PAIR_MAX_CHARS)
    if len(out) > MAX_WINDOWS:
        out = units[: 2 * MAX_WINDOWS]
    return list(dict.fromkeys(w for w in out if w.strip()))


# ---------------------------------------------------------------------------------------------------------------
# Rules: explicit override phrases, matched on normalised text
# ---------------------------------------------------------------------------------------------------------------
_GAP = r"(?:[\s,;:'\"-]+[\w'-]+){0,4}?[\s,;:'\"-]+"
"""Up to four words between a verb and its object ("ignore all of your previous instructions")."""
_OVERRIDE_VERB = r"\b(?:ignor(?:e|ing|es)|disregard(?:ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|circumvent|drop|abandon|skip)"
_EN_TARGET = (
    r"(?:instructions?|prompts?|directives|programming|guidelines|guardrails|system message|safety (?:rules|filters?|settings)"
    r"|content polic(?:y|ies)|(?:previous|prior|above|earlier|preceding|initial|original|your|openai'?s?) "
    r"(?:rules|restrictions|filters|policies|limitations|orders|tasks|assignments|context|text|messages?|information))\b"
)
_DE_VERB = r"\b(?:ignorier\w*|vergiss|vergesst|vergessen sie|missachte\w*|übergeh\w*|überschreib\w*)"
_DE_TARGET = (
    r"(?:anweisung\w*|instruktion\w*|befehl\w*|vorgaben|richtlinien|systemprompt\w*|system-prompt\w*|regeln"
    r"|vorherige\w*|bisherige\w*|obige\w*|alles\W+(?:\w+\W+){0,3}?(?:oben|vorher|zuvor|bisher\w*|davor))"
)

RULES: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(_OVERRIDE_VERB + _GAP + _EN_TARGET, re.IGNORECASE),
    "forget_above": re.compile(
        r"\b(?:ignore|disregard|forget)\s+(?:about\s+)?(?:(?:all|everything|anything)\s+)?(?:(?:of\s+)?(?:the|that)\s+)?"
        r"(?:above|before|previous(?:ly)?|prior|preceding|(?:i|you)\s+(?:said|told|wrote|were told))\b",
        re.IGNORECASE,
    ),
    "reveal_system_prompt": re.compile(
        r"\b(?:reveal|print|show|repeat|output|display|tell|leak|give|share|dump|recite|copy|spell out|write out|what(?:'s| is| are| were| was))"
        r"(?:\W+\w+){0,4}?\W+(?:your|the)\s+(?:(?:full|entire|whole|exact|original|initial|hidden|secret)\s+)?"
        r"(?:system\s*prompt|system\s+message|(?:initial|original|hidden|secret|system|pre-?prompt)\s+instructions|prompt\s+text)",
        re.IGNORECASE,
    ),
    "developer_mode": re.compile(
        r"\b(?:developer|dev|jailbreak|jailbroken|unrestricted|unfiltered|uncensored)\s+mode\b", re.IGNORECASE
    ),
    "dan": re.compile(
        r"(?i:do anything now)|\bDAN\s+(?:mode|prompt|jailbreak)\b"
        r"|\b(?i:you are|you're|you will be|act as|acting as|pretend to be|become|called|du bist|ihr seid)\s+(?i:now\s+|jetzt\s+|nun\s+)?(?i:a\s+|an\s+|the\s+)?\"?DAN\b"
        r"|\bDAN\b(?=[\s\S]{0,200}\b(?i:restrictions|no rules|content policy|openai|chatgpt|jailbr|filters|censor|einschränkungen))"
    ),
    "never_refuses": re.compile(
        r"\b(?:who|that|and)\s+(?:never|doesn't|does not|won't|will not|can't|cannot)\s+(?:ever\s+)?refuses?\b"
        r"(?!\s+(?:a|an|the|to|any|anything|anyone|his|her|their|my|your|our)\b)",
        re.IGNORECASE,
    ),
    "unfiltered_self": re.compile(
        r"\b(?:you(?:'re| are| will be)|yourself|version of you)\b[^.!?\n]{0,30}\b(?:unfiltered|uncensored|unrestricted|jailbroken)\b",
        re.IGNORECASE,
    ),
    "jailbreak": re.compile(r"\bjailbroken\b|\bjailbreak(?:ed)?\s+(?:prompt|version|ai|chatgpt|mode)\b", re.IGNORECASE),
    "no_policy": re.compile(
        r"\b(?:without|ignoring|bypassing|free (?:of|from)|not bound by|no longer bound by|unbound by|not restricted by|break(?:ing)?|violat(?:e|ing))\s+"
        r"(?:any\s+|all\s+|the\s+|your\s+|its\s+)*(?:openai'?s?\s+)?(?:content\s+polic(?:y|ies)|usage\s+polic(?:y|ies)|ethical\s+guidelines"
        r"|safety\s+(?:guidelines|filters?|rules)|(?:moral|ethical)\s+(?:or|and)\s+(?:moral|ethical)\s+(?:restrictions|guidelines|principles)"
        r"|policies\s+(?:of|from)\s+openai)",
        re.IGNORECASE,
    ),
    "ignoriere_anweisungen": re.compile(_DE_VERB + _GAP + _DE_TARGET, re.IGNORECASE),
    "anweisungen_ignorieren": re.compile(
        r"\b(?:vorherige\w*|obige\w*|bisherige\w*|vorangegangene\w*)\s+(?:anweisung\w*|instruktion\w*|ausführung\w*|befehl\w*|vorgaben)"
        r"[^.!?\n]{0,40}\b(?:ignorier\w*|vergess\w*|vergiss|missacht\w*)"
        r"|\babweichend\s+(?:zu|von)\s+(?:den\s+)?(?:vorherige\w*|obige\w*|bisherige\w*)\s+(?:anweisung\w*|instruktion\w*)",
        re.IGNORECASE,
    ),
    "instructions_ignored": re.compile(
        r"\b(?:previous|prior|above|earlier|preceding|original|system)\s+(?:instructions|prompts?|directives|guidelines)"
        r"[^.!?\n]{0,30}\b(?:should|must|can|are to|will)\s+(?:now\s+)?be\s+(?:ignored|disregarded|forgotten|overridden)",
        re.IGNORECASE,
    ),
    "systemprompt_de": re.compile(
        r"\b(?:zeig\w*|gib|nenn\w*|verrat\w*|wiederhol\w*|druck\w*|ausgeben|schreib\w*)(?:\W+\w+){0,4}?\W+"
        r"(?:deinen|deine|ihren|ihre|den|die)\s+(?:\w+\s+)?(?:system-?prompt|systemnachricht|anweisungen|instruktionen|prompt-?texte?)\b",
        re.IGNORECASE,
    ),
    "ohne_richtlinien": re.compile(
        r"\b(?:ohne|frei von)\s+(?:jegliche\w*\s+|alle\w*\s+|irgendwelche\w*\s+|deine\w*\s+)?inhaltsrichtlinien\b"
        r"|\b(?:antwort\w*|reagier\w*|sprich\w*|sprichst)\b[^.!?\n]{0,60}\b(?:ohne|frei von)\s+(?:jegliche\w*\s+|alle\w*\s+|irgendwelche\w*\s+)?(?:richtlinien|einschränkungen|zensur|filter)\b"
        r"|\b(?:ohne|frei von)\s+(?:jegliche\w*\s+|alle\w*\s+|irgendwelche\w*\s+)?(?:richtlinien|einschränkungen|zensur|filter)\b[^.!?\n]{0,40}\b(?:antwort\w*|reagier\w*|sprich\w*)\b",
        re.IGNORECASE,
    ),
}
"""Explicit override phrases, each kept narrow so fiction about jailbreaks, rules or prisons does not match."""


def match_rules(normalised: str) -> list[str]:
    """Names of the rules that match normalised text."""
    return [name for name, pattern in RULES.items() if pattern.search(normalised)]


# ---------------------------------------------------------------------------------------------------------------
# The rail
# ---------------------------------------------------------------------------------------------------------------
class InjectionRail:
    """Batched prompt-injection check. Meant for stage "input"; works on any text."""

    name = "injection"
    backend_name = "embedded"
    languages: frozenset[str] | None = frozenset({"en"})
    """The head and the rules are English (guardrails/rails/language.py: other languages fall under the policy)."""

    def __init__(self, encoder: SentenceEncoder, head: InjectionHead | None = None, threshold: float | None = None) -> None:
        self.encoder = encoder
        self.head = head or InjectionHead.load()
        if self.head.dim != encoder.dim:
            raise ValueError(f"injection head expects {self.head.dim}-d embeddings, the encoder gives {encoder.dim}")
        self.threshold = float(threshold if threshold is not None else self.head.threshold)
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"injection threshold must be in (0, 1], got {self.threshold}")
        self.version = self.head.version

    def with_thresholds(self, overrides: Mapping[str, float]) -> InjectionRail:
        if CATEGORY not in overrides:
            return self
        return InjectionRail(self.encoder, self.head, overrides[CATEGORY])

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": {CATEGORY: self.threshold},
            "encoder_precision": self.encoder.precision,
            "rules": {name: pattern.pattern for name, pattern in RULES.items()},
            "rule_score": RULE_SCORE,
        }

    def window_scores(self, texts: Sequence[str]) -> list[list[tuple[str, float, list[str]]]]:
        """Per text, per window: (window, head probability, rules matched in the window). One encoder call."""
        per_text = [windows(text) for text in texts]
        normalised = [[normalize(w) for w in ws] for ws in per_text]
        unique = list(dict.fromkeys(n for ns in normalised for n in ns if n))
        probabilities: dict[str, float] = {}
        if unique:
            probabilities = dict(zip(unique, self.head.probabilities(self.encoder.encode(unique)).tolist(), strict=True))
        return [
            [(w, probabilities.get(n, 0.0), match_rules(n)) for w, n in zip(ws, ns, strict=True) if n]
            for ws, ns in zip(per_text, normalised, strict=True)
        ]

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        """One verdict per text; every window of the batch goes to the encoder in one call.

        `latency_ms` is the whole batch's time: that is how long each text waited for its verdict.
        """
        started = time.perf_counter()
        try:
            scored = self.window_scores(texts)
            whole_rules = [match_rules(normalize(text)) if text.strip() else [] for text in texts]
        except Exception as exc:  # a failed model must not crash the pipeline; the policy decides what "error" means
            logger.exception("injection rail failed")
            latency = (time.perf_counter() - started) * 1000
            return [self._error(stage, exc, latency) for _ in texts]
        latency = (time.perf_counter() - started) * 1000
        return [
            self._verdict(text, windows_, rules, stage, latency)
            for text, windows_, rules in zip(texts, scored, whole_rules, strict=True)
        ]

    def _verdict(
        self, text: str, scored: list[tuple[str, float, list[str]]], whole_rules: list[str], stage: Stage, latency_ms: float
    ) -> Verdict:
        common = {"rail": self.name, "backend": self.backend_name, "version": self.version, "stage": stage}
        if not scored:
            return Verdict(**common, decision="skip", explanation="nothing to score", latency_ms=latency_ms)
        best_index = max(range(len(scored)), key=lambda i: scored[i][1])
        window, head_p, _ = scored[best_index]
        rules = list(dict.fromkeys(r for _, _, rs in scored for r in rs)) or whole_rules
        score = head_p
        if rules:
            score = max(score, RULE_SCORE)
            # Report the window that carries the rule's phrase (the whole prompt when it spans windows).
            window = next((w for w, _, rs in scored if rs), text.strip())
            best_index = next((i for i, (_, _, rs) in enumerate(scored) if rs), None)
        blocked = score >= self.threshold
        rule_note = f"; override phrase: {', '.join(rules)}" if rules else ""
        where = f" (window {best_index + 1} of {len(scored)})" if best_index is not None and len(scored) > 1 else ""
        explanation = (
            f"injection {score:.2f} >= threshold {self.threshold:.2f}{where}{rule_note}; learned score {head_p:.2f}"
            if blocked
            else f"injection {score:.2f} < threshold {self.threshold:.2f}{where}"
        )
        return Verdict(
            **common,
            decision="block" if blocked else "pass",
            scores={CATEGORY: round(float(score), 4)},
            thresholds={CATEGORY: self.threshold},
            category=CATEGORY if blocked else None,
            sentence=window,
            explanation=explanation,
            latency_ms=latency_ms,
            chunk_index=best_index,
        )

    def _error(self, stage: Stage, exc: Exception, latency_ms: float) -> Verdict:
        return Verdict(
            rail=self.name, backend=self.backend_name, version=self.version, stage=stage,
            decision="error", explanation=f"injection rail failed: {one_line(exc)}", latency_ms=latency_ms,
        )  # fmt: skip
