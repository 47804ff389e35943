"""The lines rail: topics a story game's players said must not appear ("lines", in tabletop safety-tool terms).

A session's lines are part of its policy (`Policy.lines`); `RailStack.for_policy` adds this rail to the output
rails (what the model writes) and to the input rails (what players type) of a policy that has lines.

Two layers, on each sentence of the text (`guardrails.text.units.split_units`), normalised (`guardrails.text.normalize`):

- a word match: every content word of a topic appears in one sentence, as the word or a simple inflection
  (`guardrails/text/topics.py`);
- a meaning match: the cosine between the sentence's embedding (the shared MiniLM encoder) and the topic's, at or
  above `DEFAULT_THRESHOLD`. It catches paraphrases ("the arachnid", "eight hairy legs"). Measured on MiniLM:
  sentences about a one-word topic score 0.44-0.52 against it, unrelated story sentences at most 0.28.

Either layer blocks: the verdict's category is "line", its explanation names the matched topic, and its scores
carry `line` (the highest cosine) and `line:<n>` per topic (its position in the list: a topic is a member's words,
which verdicts must not keep). Without an encoder only the word match runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from guardrails.rail import Stage, Verdict
from guardrails.rails.topic import TopicRail
from guardrails.text.topics import topic_digests

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

CATEGORY = "line"
VERSION = "lines-1"
DEFAULT_THRESHOLD = 0.42


class LinesRail(TopicRail):
    """Blocks text that touches one of a session's lines. Works on both stages."""

    name = "lines"
    languages: frozenset[str] | None = frozenset({"en"})
    """Topics are matched as English words and on the English-trained encoder."""

    def __init__(
        self, topics: Sequence[str], encoder: SentenceEncoder | None = None, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        super().__init__(topics, encoder)
        self.threshold = float(threshold)
        self.thresholds = {CATEGORY: self.threshold}
        self.version = VERSION

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": dict(self.thresholds),
            # A topic is a member's words (a story's line), and policy versions are stored for good: the policy
            # names each by its SHA-256 (the same policy, the same hash), so erasing the story erases the words.
            "topic_digests": topic_digests(self.topics),
            "encoder_precision": getattr(self.encoder, "precision", None),
        }

    def _score(self, sentences: list[str]) -> dict[str, np.ndarray]:
        if self.encoder is None or not sentences or not self.topics:
            return {}
        unique = list(dict.fromkeys(sentences))
        vectors = self.encoder.encode(unique) @ self.encoder.encode(list(self.topics)).T
        return dict(zip(unique, vectors, strict=True))

    def _judge(self, units: list[tuple[str, str]], cosines: dict[str, np.ndarray], stage: Stage, latency: float) -> Verdict:
        if not units or not self.topics:
            return self._verdict(stage, "skip", latency, explanation="nothing to score")
        best: dict[str, float] = dict.fromkeys(self.topics, 0.0)
        hit: tuple[str, str, str] | None = None  # topic, sentence, how
        for unit, normalised in units:
            for topic, (score, worded) in zip(self.topics, self.topic_scores(normalised, cosines.get(normalised)), strict=True):
                if score > best[topic]:
                    best[topic] = score
                if hit is None and score >= self.threshold:
                    hit = (topic, unit, "word match" if worded else f"meaning match {score:.2f}")
        # Per topic by its position in the story's list (`line:1`...): verdicts are chained as they are, so the
        # topic's own words must not be in them (the explanation, a content field, names it and can be erased).
        scores = {CATEGORY: round(max(best.values()), 4), **{f"{CATEGORY}:{n}": round(s, 4) for n, s in enumerate(best.values(), 1)}}
        if hit is None:
            return self._verdict(stage, "pass", latency, scores=scores, explanation=f"no line touched (< {self.threshold:.2f})")
        topic, sentence, how = hit
        scores[CATEGORY] = round(best[topic], 4)
        return self._verdict(
            stage, "block", latency, scores=scores, category=CATEGORY, sentence=sentence,
            explanation=f"line {topic!r}: {how}",
        )  # fmt: skip
