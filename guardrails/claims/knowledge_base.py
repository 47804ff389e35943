"""The misinformation rail's knowledge base: false claims with their corrections, global and per guild, and their
MiniLM embeddings.

The shipped base (`guardrails/data/misinfo_kb.jsonl`) is seeded from TruthfulQA (Lin et al., ACL 2022, Apache-2.0)
and from about 1,000 common misconceptions written by Storyloom (guardrails/data/misinfo_common.psv, each naming the
public source it restates: Wikipedia's "List of common misconceptions", NHS, CDC, WHO, NASA...) by
`python -m training.build_misinfo_kb`, with precomputed claim embeddings in
`guardrails/models/misinfo_kb.npz`. Moderators can add entries per guild with `kb.add(..., guild_id=...)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from guardrails.claims.negation import negations
from guardrails.paths import DATA_DIR, MODELS_DIR

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

__all__ = ["DEFAULT_EMBEDDINGS_PATH", "DEFAULT_KB_PATH", "KBEntry", "KnowledgeBase"]

logger = logging.getLogger(__name__)

DEFAULT_KB_PATH = DATA_DIR / "misinfo_kb.jsonl"
DEFAULT_EMBEDDINGS_PATH = MODELS_DIR / "misinfo_kb.npz"


@dataclass(slots=True)
class KBEntry:
    """One false claim with its correction, where it comes from, and the true statements of the same question."""

    id: str
    claim: str
    """A self-contained false statement, matched against generated sentences."""
    correction: str
    """The best true answer, shown to moderators (and to readers, if a policy wants to)."""
    source: str = "moderator"
    attribution: str = ""
    license: str = ""
    question: str | None = None
    original: str | None = None
    """The answer as the source gave it, before it was rewritten into a self-contained statement."""
    group: str = ""
    """Entries from the same question share a group and its true statements."""
    true_statements: list[str] = field(default_factory=list)
    guild_id: int | None = None
    split: str = "kb"
    """"kb": loaded by default; "validation": a held-out question, loaded only with `include_validation`."""

    def as_dict(self) -> dict:
        return asdict(self)


SAME_MISCONCEPTION = 0.80
"""Claims of different entries at least this similar (cosine) are one misconception told by two sources (TruthfulQA's
"Napoleon was unusually short" and the common list's "Napoleon Bonaparte was very short."): each is matched against
the true statements of both. A reader-facing correction in one source's words ("Colds are caused by viruses, not by
going out with wet hair.") otherwise matched the other source's myth, whose own truths say it differently. 0.80 is
a paraphrase for MiniLM; 0.75-0.90 give the same validation figures within one row (docs/misinfo-kb.md)."""


class KnowledgeBase:
    """False claims with their corrections, global and per guild, and their embeddings (computed lazily)."""

    def __init__(self, entries: Sequence[KBEntry] = (), *, default_thresholds: dict[str, float] | None = None,
                 version: str = "untracked") -> None:  # fmt: skip
        self._entries: list[KBEntry] = []
        self._claim_emb: dict[str, np.ndarray] = {}
        self._text_emb: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()
        self._revision = 0
        self._cache: dict[int | None, tuple[int, dict]] = {}
        self.default_thresholds = dict(default_thresholds or {})
        self.base_version = version
        for entry in entries:
            self._append(entry)

    # -- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_KB_PATH,
        embeddings_path: str | Path | None = DEFAULT_EMBEDDINGS_PATH,
        *,
        include_validation: bool = False,
    ) -> KnowledgeBase:
        """The entries of a .jsonl file, with precomputed embeddings when the .npz beside it matches the file."""
        path = Path(path)
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()[:12]
        entries = []
        for line in raw.decode("utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                if data.get("split", "kb") != "kb" and not include_validation:
                    continue
                entries.append(KBEntry(**data))
        thresholds: dict[str, float] = {}
        precomputed: dict[str, np.ndarray] = {}
        if embeddings_path is not None and Path(embeddings_path).is_file():
            with np.load(embeddings_path, allow_pickle=False) as arrays:
                meta = json.loads(str(arrays["meta"]))
                if meta.get("kb_sha256") == digest:
                    texts = json.loads(str(arrays["texts"]))
                    vectors = arrays["embeddings"].astype(np.float32)
                    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
                    precomputed = dict(zip(texts, vectors, strict=True))
                    thresholds = {k: float(v) for k, v in meta.get("thresholds", {}).items()}
                else:
                    logger.warning("%s does not match %s (stale); claims will be embedded at first use", embeddings_path, path)
        kb = cls(entries, default_thresholds=thresholds, version=f"kb-{digest}")
        kb._text_emb.update(precomputed)
        return kb

    # -- editing ---------------------------------------------------------------------------------------------
    def add(self, claim: str, correction: str, guild_id: int | None = None, *, source: str = "moderator",
            entry_id: str | None = None, true_statements: Sequence[str] | None = None) -> KBEntry:  # fmt: skip
        """Add a false claim and its correction, for every guild (`guild_id=None`) or for one guild only.

        The new entry is embedded at the next check (by the rail's encoder)."""
        claim, correction = claim.strip(), correction.strip()
        if not claim or not correction:
            raise ValueError("a knowledge-base entry needs a claim and a correction")
        digest = hashlib.sha256(f"{guild_id}\x00{claim}".encode()).hexdigest()[:10]
        entry = KBEntry(
            id=entry_id or f"{'g' + str(guild_id) if guild_id is not None else 'global'}-{digest}",
            claim=claim,
            correction=correction,
            source=source,
            group=f"added:{digest}",
            true_statements=list(true_statements) if true_statements else [correction],
            guild_id=guild_id,
        )
        with self._lock:
            self._append(entry)
        return entry

    def _append(self, entry: KBEntry) -> None:
        if not entry.group:
            entry.group = entry.id
        if not entry.true_statements and entry.correction:
            entry.true_statements = [entry.correction]
        self._entries.append(entry)
        self._revision += 1

    def remove(self, entry_id: str) -> bool:
        """Drop an entry (a moderator's `/guardrails misinfo remove`); False when there is none by that id."""
        with self._lock:
            kept = [e for e in self._entries if e.id != entry_id]
            if len(kept) == len(self._entries):
                return False
            self._entries = kept
            self._revision += 1
            return True

    def entries(self, guild_id: int | None = None) -> list[KBEntry]:
        """The global entries, plus the guild's own when `guild_id` is given."""
        with self._lock:
            return [e for e in self._entries if e.guild_id is None or (guild_id is not None and e.guild_id == guild_id)]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def version(self) -> str:
        """The seeded file's hash, plus a digest of the moderators' entries (per-guild ones included), if any."""
        with self._lock:
            added = sorted(f"{e.id}\x00{e.claim}\x00{e.correction}" for e in self._entries if e.source == "moderator")
        if not added:
            return self.base_version
        digest = hashlib.sha256("\n".join(added).encode()).hexdigest()[:10]
        return f"{self.base_version}+{len(added)}added-{digest}"

    # -- embeddings ------------------------------------------------------------------------------------------
    def ensure_embedded(self, encoder: SentenceEncoder) -> None:
        """Embed claims and true statements that have no embedding yet (one encoder call)."""
        with self._lock:
            missing = list(dict.fromkeys(
                text for e in self._entries for text in (e.claim, *e.true_statements) if text not in self._text_emb
            ))  # fmt: skip
            if missing:
                for text, vector in zip(missing, encoder.encode(missing), strict=True):
                    self._text_emb[text] = vector

    def matrices(self, encoder: SentenceEncoder, guild_id: int | None = None) -> dict:
        """The matrices a check needs for one guild's view, cached until the next `add`."""
        with self._lock:
            cached = self._cache.get(guild_id)
            if cached and cached[0] == self._revision:
                return cached[1]
            self.ensure_embedded(encoder)
            entries = self.entries(guild_id)
            dim = encoder.dim
            claims = np.stack([self._text_emb[e.claim] for e in entries]) if entries else np.zeros((0, dim), np.float32)
            groups: dict[str, int] = {}
            entry_group = np.array([groups.setdefault(e.group, len(groups)) for e in entries], dtype=np.int64)
            group_texts: dict[int, list[str]] = {}
            for e, g in zip(entries, entry_group, strict=True):
                bucket = group_texts.setdefault(int(g), [])
                bucket.extend(t for t in e.true_statements if t not in bucket)
            own = {g: list(texts) for g, texts in group_texts.items()}
            for a, b in np.argwhere(claims @ claims.T >= SAME_MISCONCEPTION) if len(entries) > 1 else ():
                mine, theirs = int(entry_group[a]), int(entry_group[b])
                if mine != theirs:  # the same misconception from another source: its truths count too
                    bucket = group_texts.setdefault(mine, [])
                    bucket.extend(t for t in own.get(theirs, ()) if t not in bucket)
            made = {text for e in entries for text in negations(e.claim)}
            true_rows, starts, negating, has_true = [], [], [], np.zeros(len(groups), dtype=bool)
            for g in range(len(groups)):
                if texts := group_texts.get(g):
                    starts.append(len(true_rows))
                    true_rows.extend(self._text_emb[t] for t in texts)
                    negating.extend(t in made for t in texts)
                    has_true[g] = True
            view = {
                "entries": entries,
                "claims": claims.astype(np.float32),
                "entry_group": entry_group,
                "true": np.stack(true_rows).astype(np.float32) if true_rows else np.zeros((0, dim), np.float32),
                "true_starts": np.array(starts, dtype=np.int64),
                "true_negates": np.array(negating, dtype=bool),
                "has_true": has_true,
            }
            self._cache[guild_id] = (self._revision, view)
            return view
