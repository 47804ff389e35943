"""What the lines and veils rails share: a session's topics, cut sentences, batch scoring, and fail-closed checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from guardrails.rail import Stage, Verdict
from guardrails.text.normalize import normalize
from guardrails.text.topics import WORD_SCORE, clean_topics, topic_patterns, word_match
from guardrails.text.units import split_units

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

log = logging.getLogger(__name__)


class TopicRail:
    """What a session's lines and veils rails share: each text is cut into sentences, every sentence of a batch is
    scored at once (`_score`), and each text judged from its sentences' scores (`_judge`). Fails closed."""

    name: str
    version: str
    thresholds: dict[str, float]

    def __init__(self, topics: Sequence[str], encoder: SentenceEncoder | None) -> None:
        self.topics = clean_topics(topics)
        self.encoder = encoder
        self.backend_name = "embedded" if encoder is not None else "words"
        self._patterns = {topic: topic_patterns(topic) for topic in self.topics}

    def with_thresholds(self, overrides: Mapping[str, float]) -> TopicRail:
        return self  # moderators' thresholds do not move a players' line or veil

    def topic_scores(self, normalised: str, cosines: np.ndarray | None) -> list[tuple[float, bool]]:
        """Per topic, how much a normalised sentence touches it, and whether by a word match: `WORD_SCORE` for a word
        match, else its cosine (0 without an encoder)."""
        scores = []
        for index, topic in enumerate(self.topics):
            worded = word_match(self._patterns[topic], normalised)
            scores.append((WORD_SCORE if worded else (float(cosines[index]) if cosines is not None else 0.0), worded))
        return scores

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        started = time.perf_counter()
        try:
            per_text = [[(unit, normalize(unit)) for unit in split_units(text)] for text in texts]
            scored = self._score([n for units in per_text for _, n in units if n])
        except Exception as exc:  # fail closed: the policy turns "error" into a block
            log.exception("%s rail failed", self.name)
            latency = (time.perf_counter() - started) * 1000
            explanation = f"{self.name} rail failed: {type(exc).__name__}: {exc}"
            return [self._verdict(stage, "error", latency, explanation=explanation) for _ in texts]
        latency = (time.perf_counter() - started) * 1000
        return [self._judge(units, scored, stage, latency) for units in per_text]

    def _score(self, sentences: list[str]) -> dict:
        raise NotImplementedError

    def _judge(self, units: list[tuple[str, str]], scored: dict, stage: Stage, latency: float) -> Verdict:
        raise NotImplementedError

    def _verdict(self, stage: Stage, decision: str, latency: float, **fields) -> Verdict:  # noqa: ANN003
        return Verdict(
            rail=self.name, backend=self.backend_name, version=self.version, stage=stage, decision=decision,  # type: ignore[arg-type]
            thresholds=dict(self.thresholds), latency_ms=latency, **fields,
        )  # fmt: skip
