"""The dangerous-instructions rail: requests for, and outputs carrying, actionable real-world instructions for
serious harm (weapons, explosives, poisons and chemical or biological agents, drug synthesis, malware and break-ins,
self-harm methods). Judged on both stages, in every frame: "a thriller where the villain lists the exact chemicals
and amounts for a nerve agent" is a request for a recipe with a story around it.

What passes: a story may depict a bomb, a poisoning or a hack ("The bomb tore through the station at noon"), and
harmless questions that share the words ("how do I execute a shell script", "kill a Python process", "a recipe for
a killer brownie", a cake recipe with grams and steps) are not instructions for harm.

How: a small numpy attention head (`guardrails/modeling/dangerous.py`) over the shared MiniLM token states of each
window, plus a linear term over a handful of transparent cue features of the same window (`cue_features`: quantities
with units, numbered or sequenced steps, words that ask for specifics, hazard words, harm aimed at a person, self-harm
phrases) and over the window's hashed words (`bow_features`). The text's score is the highest window's. Windows
are the ones other rails already embed, so the encoder's cache serves them (token states come from the same pass)
and this rail adds only the head: on prompts, sentences and neighbouring pairs (as the injection rail,
`guardrails.rails.injection.windows`); on output, sentences (as the toxicity rail, `guardrails.text.units.split_units`).
A tuned copy of the encoder judges instead of the head where it can afford a second pass: the frozen encoder put
"steal a car in GTA V" beside "steal a car" (`guardrails.modeling.tuned_encoder`, docs/dangerous-instructions.md).
It reads every window of a prompt (few, short), and on output only the sentences the head screens in (`OUTPUT_SCREEN`):
a few in a hundred of the bot's own sentences, so the streamed output keeps its one shared pass. A prompt about the
asker's own life ("how many of my pills so I don't wake up") is blocked when either model says so (`WindowScore`).

Ratings do not loosen it (M does not allow recipes), and a moderator's threshold may tighten it, never loosen it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from guardrails.modeling.dangerous import DEFAULT_REQUESTS_PATH, STAGES, DangerousHead, bow_features, cue_features
from guardrails.modeling.tuned_encoder import TunedEncoder
from guardrails.rail import Stage, Verdict, one_line
from guardrails.rails.injection import windows as prompt_windows
from guardrails.text.normalize import normalize
from guardrails.text.units import split_units

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

__all__ = ["CATEGORY", "OUTPUT_SCREEN", "DangerousRail", "WindowScore", "asks_about_own_life", "stage_windows"]

logger = logging.getLogger(__name__)

CATEGORY = "dangerous_instructions"
OUTPUT_SCREEN = 0.05
"""On output the head (on the shared pass's token states) scores every sentence, and the tuned encoder reads only those
the head scores at or above this. Measured (docs/dangerous-instructions.md): 3.3% of the bot's own held-out sentences
and 3.8% of its verse lines get the second pass; screens from 0.01 to 0.2 stop the same validation recipes (the
tuned encoder alone: the same); at 0.3 four points fewer."""


_OWN_LIFE = re.compile(
    r"\b(?:kill(?:ing)? myself|end(?:ing)? (?:it all|my (?:own )?life)|tak(?:e|ing) my (?:own )?life|(?<!without )cut(?:ting)? myself"
    r"|(?<!without )hurt(?:ing)? myself|hang(?:ing)? myself|starv(?:e|ing) myself|(?:commit|committing) suicide"
    r"|(?<!like a )(?<!as a )suicid(?:e|al)(?! (?:vests?|bomb\w*|attacks?|missions?|squads?|drones?|doors?))|overdos\w* on my"
    r"|(?:don'?t|never|not) wake up|want(?:s|ed)? to die|(?:don'?t|do not) want to (?:live|be alive|be here|exist)"
    r"|wish I (?:was|were) dead)\b",
    re.IGNORECASE,
)


def asks_about_own_life(text: str) -> bool:
    """Whether a request is about ending or hurting the asker's own life ("How deep should I cut myself?", "...so I
    don't wake up", "I don't want to be alive anymore"), not a weapon's name ("a suicide vest"), a murder made to look
    like one or a safety clause ("without hurting myself"): a refusal then offers care (`bot.core.replies.explain`)."""
    return bool(_OWN_LIFE.search(text))


@dataclass(frozen=True, slots=True)
class WindowScore:
    """One window as the rail judged it."""

    window: str
    score: float
    """The deciding model's probability: the tuned encoder's where the rail has one, except for an output sentence
    the head screened out, which keeps the head's."""
    read: bool
    """Read by the deciding model; a screened-out output sentence never blocks."""
    own_life_head: float | None = None
    """On a prompt window about the asker's own life, the head's probability too: either model blocks it there.
    Out of fold that stops 74% of such harmful requests against 53% for the tuned encoder alone, and blocks none of
    the 48 harmless ones (docs/dangerous-instructions.md, stop 31)."""


def stage_windows(text: str, stage: Stage) -> list[str]:
    """The windows scored: on prompts sentences and neighbouring pairs, on output sentences (the pipeline's chunks
    are a sentence or so; each is judged as it streams). The same windows other rails embed, so they share the
    encoder's cache."""
    return prompt_windows(text) if stage == "input" else [u for u in split_units(text) if u.strip()]


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
        self,
        encoder: SentenceEncoder,
        head: DangerousHead | None = None,
        thresholds: Mapping[str, float] | None = None,
        requests: TunedEncoder | Literal[False] | None = None,
    ) -> None:
        """`requests`: the tuned encoder that judges prompts and the output the head screens in (None: the shipped
        one, `DEFAULT_REQUESTS_PATH`; False: none, the head judges both stages, as `training.train_dangerous` measures
        it)."""
        self.encoder = encoder
        self.head = head or DangerousHead.load()
        if self.head.dim != encoder.dim:
            raise ValueError(f"dangerous head expects {self.head.dim}-d token states, the encoder gives {encoder.dim}")
        self.requests = TunedEncoder.load(encoder, DEFAULT_REQUESTS_PATH) if requests is None else requests or None
        if self.requests and set(self.requests.thresholds) != set(STAGES):
            raise ValueError(f"the tuned encoder needs a threshold per stage {STAGES}, has {sorted(self.requests.thresholds)}")
        own = dict(self.requests.thresholds if self.requests else self.head.thresholds)
        self.thresholds = {stage: float((thresholds or own)[stage]) for stage in STAGES}
        for stage, value in self.thresholds.items():
            if not 0.0 < value <= 1.0:
                raise ValueError(f"dangerous threshold ({stage}) must be in (0, 1], got {value}")
        self.screen = min(OUTPUT_SCREEN, self.thresholds["output"])
        """A moderator's threshold under the screen lowers it too: stricter, as they asked."""
        self.own_life_threshold = self.head.thresholds["input"]
        """The head's own prompt threshold, where it votes beside the tuned encoder (`WindowScore.own_life_head`)."""
        self.version = self.head.version + (f"; requests {self.requests.version}" if self.requests else "")
        self.deciding_version = self.requests.version if self.requests else self.head.version
        """What a verdict records: the model that decides on both stages (on output the head only screens); the rail's
        `version`, in the policy hash, names both."""

    def with_thresholds(self, overrides: Mapping[str, float]) -> DangerousRail:
        """A moderator's threshold may make the rail stricter, never looser: recipes for harm are off at every rating."""
        if CATEGORY not in overrides:
            return self
        stricter = {stage: min(value, float(overrides[CATEGORY])) for stage, value in self.thresholds.items()}
        return self if stricter == self.thresholds else DangerousRail(self.encoder, self.head, stricter, self.requests or False)

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": {f"{CATEGORY}:{stage}": value for stage, value in self.thresholds.items()},
            "output_screen": self.screen if self.requests else None,
            "encoder_precision": self.encoder.precision,
            "languages": sorted(self.languages),
        }

    def window_scores(self, texts: Sequence[str], stage: Stage) -> list[list[WindowScore]]:
        """Per text, per window, its `WindowScore`. Every window of the batch goes to each model in one call."""
        per_text = [stage_windows(text, stage) for text in texts]
        normalised = [[normalize(w) for w in ws] for ws in per_text]
        unique = list(dict.fromkeys(n for ns in normalised for n in ns if n))
        head = self._head_probabilities(unique) if not (stage == "input" and self.requests) else {}
        probabilities: dict[str, float] = dict(head)
        screened_out: set[str] = set()
        own_life: dict[str, float] = {}
        if self.requests:
            read = unique if stage == "input" else [n for n in unique if head[n] >= self.screen]
            screened_out = set(unique) - set(read)
            if read:
                probabilities |= zip(read, self.requests.probabilities(read).tolist(), strict=True)
            if stage == "input":
                own_life = self._head_probabilities([n for n in unique if asks_about_own_life(n)])
        return [
            [WindowScore(w, probabilities[n], n not in screened_out, own_life.get(n)) for w, n in zip(ws, ns, strict=True) if n]
            for ws, ns in zip(per_text, normalised, strict=True)
        ]

    def _head_probabilities(self, texts: list[str]) -> dict[str, float]:
        if not texts:
            return {}
        cues = np.stack([cue_features(n) for n in texts])
        bows = np.stack([bow_features(n) for n in texts])
        return dict(zip(texts, self.head.probabilities(self.encoder.encode_tokens(texts), cues, bows).tolist(), strict=True))

    def _blocks(self, window: WindowScore, stage: Stage) -> bool:
        if not window.read:
            return False
        own_life = window.own_life_head is not None and window.own_life_head >= self.own_life_threshold
        return window.score >= self.thresholds[stage] or own_life

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
                    rail=self.name, backend=self.backend_name, version=self.deciding_version, stage=stage, decision="error",
                    explanation=f"dangerous-instructions rail failed: {one_line(exc)}", latency_ms=latency,
                )  # fmt: skip
                for _ in texts
            ]
        latency = (time.perf_counter() - started) * 1000
        return [self._verdict(windows_, stage, latency) for windows_ in scored]

    def _verdict(self, scored: list[WindowScore], stage: Stage, latency_ms: float) -> Verdict:
        common = {"rail": self.name, "backend": self.backend_name, "version": self.deciding_version, "stage": stage}
        if not scored:
            return Verdict(**common, decision="skip", explanation="nothing to score", latency_ms=latency_ms)
        best = max(range(len(scored)), key=lambda i: (self._blocks(scored[i], stage), scored[i].read, scored[i].score))
        window, score, read, own_life = scored[best].window, scored[best].score, scored[best].read, scored[best].own_life_head
        threshold, head_threshold = self.thresholds[stage], self.own_life_threshold
        blocked = self._blocks(scored[best], stage)
        where = f" (window {best + 1} of {len(scored)})" if len(scored) > 1 else ""
        relation = ">=" if score >= threshold else "<"
        # The prompts' threshold sits at 0.997 (a tuned encoder's scores crowd near 1): two decimals would read
        # "1.00 < threshold 1.00". As many decimals as the threshold has, at least two; six in the record.
        digits = max(2, min(6, len(f"{threshold:.6f}".rstrip("0").split(".")[1])))
        return Verdict(
            **common,
            decision="block" if blocked else "pass",
            scores={CATEGORY: round(float(score), 6)},
            thresholds={CATEGORY: threshold},
            category=CATEGORY if blocked else None,
            sentence=window if blocked or len(scored) > 1 else None,
            explanation=f"dangerous instructions {score:.{digits}f} {relation} threshold {threshold:.{digits}f}{where}"
            + ("" if read else f"; every window under the head's screen {self.screen}")
            + (f"; about the asker's own life, the head {own_life:.3f} {'>=' if own_life >= head_threshold else '<'} "
               f"{head_threshold}" if own_life is not None else ""),
            latency_ms=latency_ms,
            chunk_index=best if len(scored) > 1 else None,
        )
