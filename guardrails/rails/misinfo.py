"""The misinformation output rail: fiction-aware matching of generated text against a knowledge base of false claims.

Storyloom writes fiction, and "a false claim inside the story is fiction, a false real-world claim asserted to the
reader is misinformation" (DESIGN.md). The rail therefore asks two questions of every sentence:

1. Does it say something a knowledge base lists as a common misconception? The sentence's MiniLM embedding is
   matched (cosine) against the embeddings of the false claims; the true statements recorded for the same
   question are matched too, so a sentence closer to the correction than to the myth ("Watermelon seeds pass
   through your digestive system") does not count (`margin`).
2. Is it asserted to the reader, or does it live inside the story? A transparent rule-based score (`assertion`,
   0-1, `guardrails/claims/assertion.py`) weighs where the words are: dialogue, a character's belief and fantasy
   framing lower it; "studies show", "did you know" and advice to the reader raise it.

A sentence is flagged (decision "flag", category "misinformation") when similarity, margin, assertion and
assertion x similarity all reach their thresholds. The explanation names the matched claim and carries its
correction on a line of its own ("Correction: ..."), for a moderator or a reply; `correction_of(verdict)` reads it.

The knowledge base (`guardrails/claims/knowledge_base.py`) holds global entries and moderators' per-guild ones;
`check(texts, stage, guild_id=...)` matches the global entries plus that guild's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from guardrails.claims.assertion import (
    ASSERTION_VERSION,
    assertion_score,
    is_fragment,
    negated_after_first_clause,
    speech_units,
    unit_keys,
)
from guardrails.claims.comparison import COMPARISON_VERSION, reverses_comparison
from guardrails.claims.knowledge_base import KBEntry, KnowledgeBase
from guardrails.claims.negation import NEGATION_CUE
from guardrails.rail import Stage, Verdict
from guardrails.text.normalize import normalize

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

__all__ = ["DEFAULT_THRESHOLDS", "MisinfoRail", "correction_of"]

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS: dict[str, float] = {
    "misinformation": 0.70,
    "margin": 0.02,
    "assertion": 0.50,
    "combined": 0.42,
}
"""Fallbacks only: the builder chooses thresholds on a development set made from the KB's own (training) questions
and stores them in the .npz beside the embeddings; the knowledge base carries them as `default_thresholds`.
- misinformation: cosine similarity of the sentence to the matched false claim;
- margin: that similarity minus the best similarity to a true statement of the same question;
- assertion: the rule-based "asserted to the reader" score;
- combined: assertion x similarity."""


_CORRECTION_PREFIX = "Correction: "


def _best_truths(emb: np.ndarray, view: dict, negating: np.ndarray) -> np.ndarray:
    """(sentences, entries): each sentence's best similarity to a true statement of each entry's group, counting a
    rule-made negation only for a sentence that negates too; -1 where none counts."""
    entry_group = view["entry_group"]
    best = np.full((len(emb), len(entry_group)), -1.0, dtype=np.float32)
    if len(view["true"]):
        sims = emb @ view["true"].T
        sims[np.ix_(~negating, view["true_negates"])] = -1.0
        group_max = np.maximum.reduceat(sims, view["true_starts"], axis=1)  # (n, groups with truths)
        group_col = np.cumsum(view["has_true"]) - 1
        ok = view["has_true"][entry_group]
        best[:, ok] = group_max[:, group_col[entry_group[ok]]]
    return best


def correction_of(verdict: Verdict) -> str | None:
    """The correction a flagged misinformation verdict carries (also the last line of its explanation)."""
    return verdict.correction


class MisinfoRail:
    """Batched, fiction-aware misinformation check for generated text (stage "output")."""

    name = "misinformation"
    backend_name = "kb-minilm"
    languages: frozenset[str] | None = frozenset({"en"})
    """The knowledge base and the assertion features are English."""
    per_guild = True

    def __init__(self, encoder: SentenceEncoder, kb: KnowledgeBase, thresholds: dict[str, float] | None = None) -> None:
        base = dict(DEFAULT_THRESHOLDS)
        base.update(kb.default_thresholds)
        base.update(thresholds or {})
        unknown = set(base) - set(DEFAULT_THRESHOLDS)
        if unknown:
            raise ValueError(f"unknown misinformation thresholds {sorted(unknown)}")
        self.encoder = encoder
        self.kb = kb
        self.thresholds = base

    @property
    def version(self) -> str:
        return f"{self.kb.version}+{ASSERTION_VERSION}+{COMPARISON_VERSION}"

    def with_thresholds(self, overrides: Mapping[str, float]) -> MisinfoRail:
        # Moderators set the similarity a sentence needs to a known false claim; the other thresholds are tuning.
        if "misinformation" not in overrides:
            return self
        return MisinfoRail(self.encoder, self.kb, {**self.thresholds, "misinformation": overrides["misinformation"]})

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        return {
            "backend": self.backend_name,
            "version": self.version,
            "thresholds": dict(self.thresholds),
            "encoder_precision": self.encoder.precision,
        }

    def check(self, texts: Sequence[str], stage: Stage, guild_id: int | None = None) -> list[Verdict]:
        """One verdict per text; every sentence of the batch goes to the encoder in one call. Sync: call it from a
        worker thread. `guild_id` adds that guild's own knowledge-base entries to the global ones."""
        started = time.perf_counter()
        units = [speech_units(text) for text in texts]
        try:
            view = self.kb.matrices(self.encoder, guild_id)
            keys = [unit_keys(text_units) for text_units in units]
            unique = list(dict.fromkeys(k for text_keys in keys for k in text_keys if k[0]))
            scored = self._score(unique, view) if unique else {}
        except Exception as exc:  # a failed model must not crash the pipeline; the policy decides what "error" means
            logger.exception("misinformation rail failed")
            latency = (time.perf_counter() - started) * 1000
            return [self._verdict(stage, "error", latency, explanation=f"misinformation rail failed: {exc!r}"[:300])
                    for _ in texts]  # fmt: skip
        latency = (time.perf_counter() - started) * 1000
        return [
            self._decide(text_units, text_keys, scored, view, stage, latency)
            for text_units, text_keys in zip(units, keys, strict=True)
        ]

    def score_sentences(self, sentences: Sequence[str], guild_id: int | None = None) -> list[dict]:
        """Per sentence: similarity, margin, assertion, combined, the matched entry and the fired features. Every
        sentence is embedded here (no gate): this is for tuning and inspection."""
        view = self.kb.matrices(self.encoder, guild_id)
        keys = [(normalize(s), False, False) for s in sentences]
        scored = self._score(list(dict.fromkeys(keys)), view, gate=False)
        return [scored[k] for k in keys]

    def _score(self, keys: list[tuple[str, bool, bool]], view: dict, *, gate: bool = True) -> dict[tuple[str, bool, bool], dict]:
        """Assertion first (rules, microseconds); only sentences that could still be flagged go to the encoder, in one
        call: narration and dialogue, most of a story, never wait on the model."""
        out: dict[tuple[str, bool], dict] = {}
        floor = max(self.thresholds["assertion"], self.thresholds["combined"])
        to_embed: list[str] = []
        for key in keys:
            sentence, disowned, alone = key
            assertion, fired = assertion_score(sentence, disowned_after=disowned, standalone=alone)
            out[key] = {"similarity": 0.0, "margin": 0.0, "assertion": assertion, "combined": 0.0,
                             "entry": None, "features": fired, "embedded": False, "reverses": False}  # fmt: skip
            if is_fragment(sentence):  # "silver moon rising", a poem's fragment: too little to be a claim
                out[key]["features"] = [*fired, "too_short"]
            elif not gate or assertion >= floor:
                to_embed.append(sentence)
        to_embed = list(dict.fromkeys(to_embed))
        if not to_embed or len(view["entries"]) == 0:
            return out
        emb = self.encoder.encode(to_embed)
        sim = emb @ view["claims"].T  # (n, K)
        rows = np.arange(len(to_embed))
        # Per entry, the sentence's best similarity to its truths; a negating truth only answers a negating sentence.
        truth = _best_truths(emb, view, np.array([bool(NEGATION_CUE.search(t)) for t in to_embed]))
        best = sim.argmax(axis=1)
        # A claim followed by advice in the negative ("bulls are enraged by red, so never wear red") sits near the
        # rule-made negations of one entry: it may still match another source's entry for the same myth, when it is
        # clearly nearer that entry's myth than its truths. A sentence whose first clause is negated ("X has not been
        # shown to ...") is a correction and keeps its nearest entry.
        negated = np.array([negated_after_first_clause(t) for t in to_embed])
        eligible = ((sim - truth) >= self.thresholds["margin"]) & (sim >= self.thresholds["misinformation"])
        switch = negated & eligible.any(axis=1) & ~eligible[rows, best]
        best[switch] = np.where(eligible, sim, -np.inf)[switch].argmax(axis=1)
        best_sim = sim[rows, best]
        true_best = truth[rows, best]
        index = {sentence: i for i, sentence in enumerate(to_embed)}
        for (sentence, _, _), s in out.items():
            if sentence not in index:
                continue
            i = index[sentence]
            similarity = float(best_sim[i])
            entry = view["entries"][int(best[i])]
            s.update(similarity=similarity, margin=similarity - float(true_best[i]), combined=s["assertion"] * similarity,
                     entry=entry, embedded=True, reverses=reverses_comparison(sentence, entry.claim))  # fmt: skip
        return out

    def _flagged(self, s: dict) -> bool:
        t = self.thresholds
        return (
            not s["reverses"]  # it says the comparison the other way round: the correction, not the myth
            and s["similarity"] >= t["misinformation"]
            and s["margin"] >= t["margin"]
            and s["assertion"] >= t["assertion"]
            and s["combined"] >= t["combined"]
        )

    def _decide(self, units: list[str], keys: list[tuple[str, bool, bool]], scored: dict[tuple[str, bool, bool], dict], view: dict,
                stage: Stage, latency: float) -> Verdict:  # fmt: skip
        candidates = [(u, scored[k]) for u, k in zip(units, keys, strict=True) if k in scored]
        if not candidates:
            return self._verdict(stage, "skip", latency, explanation="nothing to check")
        flagged = [(u, s) for u, s in candidates if self._flagged(s)]
        pool = flagged or candidates
        unit, s = max(pool, key=lambda pair: (pair[1]["combined"], pair[1]["similarity"]))
        scores = {"misinformation": round(s["similarity"], 4), "assertion": round(s["assertion"], 4),
                  "margin": round(s["margin"], 4), "combined": round(s["combined"], 4)}  # fmt: skip
        entry: KBEntry | None = s["entry"]
        features = ", ".join(s["features"]) or "none"
        if flagged and entry is not None:
            where = f" (sentence {units.index(unit) + 1} of {len(units)})" if len(units) > 1 else ""
            explanation = (
                f"false real-world claim asserted to the reader{where}: matches KB entry {entry.id} "
                f"\"{entry.claim}\" (similarity {s['similarity']:.2f}, margin {s['margin']:.2f}, "
                f"assertion {s['assertion']:.2f}; cues: {features}); source: {entry.source}\n"
                f"{_CORRECTION_PREFIX}{entry.correction}"
            )
            return self._verdict(stage, "flag", latency, scores=scores, category="misinformation", sentence=unit,
                                 explanation=explanation, correction=entry.correction)  # fmt: skip
        if entry is None:
            explanation = (
                "knowledge base is empty" if len(view["entries"]) == 0
                else f"reads as fiction, not a claim to the reader (assertion {s['assertion']:.2f}; cues: {features})"
            )
        elif s["reverses"]:
            explanation = (f"states the reverse of KB entry {entry.id} \"{entry.claim}\" (similarity "
                           f"{s['similarity']:.2f})")  # fmt: skip
        elif s["similarity"] >= self.thresholds["misinformation"] and s["margin"] >= self.thresholds["margin"]:
            explanation = (f"resembles KB entry {entry.id} \"{entry.claim}\" (similarity {s['similarity']:.2f}) but "
                           f"reads as fiction (assertion {s['assertion']:.2f}; cues: {features})")  # fmt: skip
        else:
            explanation = f"no known false claim (closest: {entry.id}, similarity {s['similarity']:.2f})"
        return self._verdict(stage, "pass", latency, scores=scores, explanation=explanation,
                             sentence=unit if len(units) > 1 else None)  # fmt: skip

    def _verdict(self, stage: Stage, decision: str, latency: float, **kwargs) -> Verdict:
        return Verdict(
            rail=self.name,
            backend=self.backend_name,
            version=self.version,
            stage=stage,
            decision=decision,  # type: ignore[arg-type]
            thresholds=dict(self.thresholds) if decision in ("pass", "flag") else {},
            latency_ms=latency,
            **kwargs,
        )
