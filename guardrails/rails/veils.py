"""The veils rail: topics a story game's players said may happen only off-screen ("veils", in tabletop safety-tool
terms: the scene fades; a veiled thing may be referred to, summarised, remembered, but not shown).

A session's veils are part of its policy (`Policy.veils`); `RailStack.for_policy` adds this rail to the output
rails (what the model writes) and to the input rails (what players type) of a policy that has veils: players keep
veiled things off-screen too, as at a table.

A sentence is cut when both hold:
- it is about a veil: the lines rail's matching (`guardrails/rails/lines.py`), a word match or the cosine between the
  sentence's and the topic's MiniLM embeddings (of "a scene of <topic>", `topic_prompt`) at or above the head's
  `topic` threshold. Depictions often share no word with the topic and score low ("They pulled out his
  fingernails" vs "torture": 0.18), so this gate is looser than a line's (0.42), and it is the weak half: on
  held-out topics it lets about half of the depictions through (the .json has the figures);
- it depicts something on-screen rather than referring to it: a logistic head on the same embedding
  (`guardrails/modeling/veils.py`, trained by `python -m training.train_veils` on written
  depicted/mentioned sentences across eight veil topics; its .json holds the held-out-topic metrics).

What the model writes: a cut sentence becomes a fade-out marker (`FADE`) and the story goes on (the pipeline's
redact action; consecutive cuts make one marker). Regenerating was the other choice: it costs a whole new
generation, and a model told to fade out that still wrote the scene tends to write it again; the fade is what a
table does with a veil. What a player types: the turn is refused with the veil named (input rails refuse).
Without an encoder only the word match runs, and a word match alone cuts (no depiction signal: fail safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from guardrails.modeling.veils import VeilHead, shipped_head
from guardrails.rail import Stage, Verdict
from guardrails.rails.topic import TopicRail
from guardrails.text.topics import WORD_SCORE, topic_digests

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder


CATEGORY = "veil"
FADE = "*[…the scene fades; it happens off-screen]*"


def topic_prompt(topic: str) -> str:
    """What a veil's embedding is taken of. Measured on the training sentences' depictions (train_veils.py): at a
    matching false rate on other topics' depictions, "a scene of X" reaches about twice the depictions the bare
    topic does (0.53 vs 0.27 at cosine 0.30; a margin against a bank of 43 everyday topics did no better)."""
    return f"a scene of {topic}"


def judge_sentence(
    topic_scores: Sequence[float], depiction: float | None, topic_threshold: float, depiction_threshold: float
) -> int | None:
    """The index of the veil a sentence shows on-screen, or None. `depiction` None: no encoder, a word match cuts."""
    best = max(range(len(topic_scores)), key=lambda i: topic_scores[i], default=None)
    if best is None:
        return None
    if depiction is None:
        return best if topic_scores[best] >= WORD_SCORE else None
    return best if topic_scores[best] >= topic_threshold and depiction >= depiction_threshold else None


class VeilsRail(TopicRail):
    """Cuts sentences that show a veiled topic on-screen; lets through those that only refer to it."""

    name = "veils"
    languages: frozenset[str] | None = frozenset({"en"})
    """Topics are matched as English words; the depiction head is trained on English."""

    def __init__(self, topics: Sequence[str], encoder: SentenceEncoder | None = None, head: VeilHead | None = None) -> None:
        super().__init__(topics, encoder)
        self.head = head or shipped_head()
        self.version = f"veils-1/{self.head.version}"
        self.thresholds = {"topic": self.head.topic_threshold, "depiction": self.head.depiction_threshold}

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": dict(self.thresholds),
            "topic_digests": topic_digests(self.topics),  # as the lines rail: no member's words in a policy version
            "action": "fade",
            "encoder_precision": getattr(self.encoder, "precision", None),
        }

    def _score(self, sentences: list[str]) -> dict[str, tuple[np.ndarray | None, float | None]]:
        """Per sentence: the cosine to each topic and the depiction probability (None without an encoder)."""
        unique = list(dict.fromkeys(sentences))
        if self.encoder is None or not unique or not self.topics:
            return {s: (None, None) for s in unique}
        embedded = self.encoder.encode(unique)
        cosines = embedded @ self.encoder.encode([topic_prompt(t) for t in self.topics]).T
        depiction = self.head.depiction(embedded)
        return {s: (cosines[i], float(depiction[i])) for i, s in enumerate(unique)}

    def _judge(self, units: list[tuple[str, str]], scored: dict, stage: Stage, latency: float) -> Verdict:
        if not units or not self.topics:
            return self._verdict(stage, "skip", latency, explanation="nothing to score")
        best: dict[str, float] = dict.fromkeys(self.topics, 0.0)
        most_depicting = 0.0
        hit: tuple[str, str, float, float | None] | None = None  # topic, sentence, topic score, depiction
        for unit, normalised in units:
            row, depiction = scored.get(normalised, (None, None))
            scores = [score for score, _ in self.topic_scores(normalised, row)]
            for topic, score in zip(self.topics, scores, strict=True):
                best[topic] = max(best[topic], score)
            if depiction is not None:
                most_depicting = max(most_depicting, depiction)
            veiled = judge_sentence(scores, depiction, self.thresholds["topic"], self.thresholds["depiction"])
            if hit is None and veiled is not None:
                hit = (self.topics[veiled], unit, scores[veiled], depiction)
        scores_out = {
            CATEGORY: round(max(best.values()), 4), "depiction": round(most_depicting, 4),
            **{f"{CATEGORY}:{n}": round(s, 4) for n, s in enumerate(best.values(), 1)},  # by position, as lines
        }  # fmt: skip
        if hit is None:
            return self._verdict(stage, "pass", latency, scores=scores_out, explanation="no veiled topic shown on-screen")
        topic, sentence, topic_score, depiction = hit
        scores_out.update({CATEGORY: round(topic_score, 4), "depiction": round(depiction or 0.0, 4)})
        shown = "word match" if depiction is None else f"on-screen {depiction:.2f}, topic {topic_score:.2f}"
        return self._verdict(
            stage, "block", latency, scores=scores_out, category=CATEGORY, sentence=sentence,
            explanation=f"veil {topic!r}: {shown}",
        )  # fmt: skip
