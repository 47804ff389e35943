"""The lines rail: topics a story game's players said must not appear ("lines", in tabletop safety-tool terms).

A session's lines are part of its policy (`Policy.lines`); `RailStack.for_policy` adds this rail to the output
rails (what the model writes) and to the input rails (what players type) of a policy that has lines.

Two layers, on each sentence of the text (`guardrails.toxicity.split_units`), normalised (`guardrails.normalize`):

- a word match: every content word of a topic appears in one sentence, as the word or a simple inflection
  ("spiders" matches "spider", "spiders"; "harm to animals" needs "harm" and "animal(s)" in one sentence);
- a meaning match: the cosine between the sentence's embedding (the shared MiniLM encoder) and the topic's, at or
  above `DEFAULT_THRESHOLD`. It catches paraphrases ("the arachnid", "eight hairy legs"). Measured on MiniLM:
  sentences about a one-word topic score 0.44-0.52 against it, unrelated story sentences at most 0.28.

Either layer blocks: the verdict's category is "line", its explanation names the matched topic, and its scores
carry `line` (the highest cosine) and `line:<n>` per topic (its position in the list: a topic is a member's words,
which verdicts must not keep). Without an encoder only the word match runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from guardrails.normalize import normalize
from guardrails.toxicity import split_units
from guardrails.verdict import Stage, Verdict

if TYPE_CHECKING:
    from guardrails.encoder import SentenceEncoder

log = logging.getLogger(__name__)

CATEGORY = "line"
VERSION = "lines-1"
DEFAULT_THRESHOLD = 0.42
MAX_TOPICS = 20
MAX_TOPIC_CHARS = 80
WORD_SCORE = 1.0
"""The score a word match gets (above any cosine threshold)."""

_STOPWORDS = frozenset(
    "a an the of to in on at for and or with by from into about any no not all some their his her its "
    "this that these those be being is are was were".split()
)


def clean_topics(topics: Sequence[str]) -> tuple[str, ...]:
    """Topics as a policy keeps them: trimmed, lower-cased, de-duplicated, empty ones dropped, bounded."""
    cleaned = (" ".join(topic.split()).lower()[:MAX_TOPIC_CHARS] for topic in topics)
    return tuple(dict.fromkeys(topic for topic in cleaned if topic))[:MAX_TOPICS]


def topic_digests(topics: Sequence[str]) -> list[str]:
    """Each topic's SHA-256 (hex), in order: how a policy names its lines and veils (see `describe`)."""
    return [hashlib.sha256(topic.encode()).hexdigest() for topic in topics]


def _word_pattern(word: str) -> str:
    stem = word
    if len(word) > 4 and word.endswith("ies"):
        stem = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        stem = word[:-1]
    forms = {re.escape(stem)}
    if stem.endswith("y") and len(stem) > 3:
        forms.add(re.escape(stem[:-1]) + "ies")
    if stem.endswith("e") and len(stem) > 3:
        forms.add(re.escape(stem[:-1]) + "(?:ing|ed)")
    return r"\b(?:" + "|".join(sorted(forms)) + r")(?:s|es|ed|ing|'s)?\b"


def topic_patterns(topic: str) -> list[re.Pattern[str]]:
    """One pattern per content word of `topic`; a sentence matches the topic when it matches all of them."""
    words = [w for w in re.findall(r"[\w'-]+", normalize(topic).lower()) if w not in _STOPWORDS and len(w) > 1]
    return [re.compile(_word_pattern(w), re.IGNORECASE) for w in words]


class TopicRail:
    """What a session's lines and veils rails share: each text is cut into sentences, every sentence of a batch is
    scored at once (`_score`), and each text judged from its sentences' scores (`_judge`). Fails closed."""

    name: str

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
        raise NotImplementedError


class LinesRail(TopicRail):
    """Blocks text that touches one of a session's lines. Works on both stages."""

    name = "lines"
    languages: frozenset[str] | None = frozenset({"en"})
    """Topics are matched as English words and on the English-trained encoder."""

    def __init__(
        self, topics: Sequence[str], encoder: SentenceEncoder | None = None, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        self.topics = clean_topics(topics)
        self.encoder = encoder
        self.threshold = float(threshold)
        self.backend_name = "embedded" if encoder is not None else "words"
        self.version = VERSION
        self._patterns = {topic: topic_patterns(topic) for topic in self.topics}

    def with_thresholds(self, overrides: Mapping[str, float]) -> LinesRail:
        return self  # moderators' thresholds do not move a players' line

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": {CATEGORY: self.threshold},
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
            row = cosines.get(normalised)
            for index, topic in enumerate(self.topics):
                patterns = self._patterns[topic]
                worded = bool(patterns) and all(p.search(normalised) for p in patterns)
                score = WORD_SCORE if worded else (float(row[index]) if row is not None else 0.0)
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

    def _verdict(self, stage: Stage, decision: str, latency: float, **fields) -> Verdict:  # noqa: ANN003
        return Verdict(
            rail=self.name, backend=self.backend_name, version=self.version, stage=stage, decision=decision,  # type: ignore[arg-type]
            thresholds={CATEGORY: self.threshold}, latency_ms=latency, **fields,
        )  # fmt: skip
