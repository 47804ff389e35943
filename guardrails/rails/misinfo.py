"""The misinformation output rail: fiction-aware matching of generated text against a knowledge base of false claims.

Storyloom writes fiction, and "a false claim inside the story is fiction, a false real-world claim asserted to the
reader is misinformation" (DESIGN.md). The rail therefore asks two questions of every sentence:

1. Does it say something a knowledge base lists as a common misconception? The sentence's MiniLM embedding is
   matched (cosine) against the embeddings of the false claims; the true statements recorded for the same
   question are matched too, so a sentence closer to the correction than to the myth ("Watermelon seeds pass
   through your digestive system") does not count (`margin`).
2. Is it asserted to the reader, or does it live inside the story? A transparent rule-based score (`assertion`,
   0-1) looks at where the words are: quoted dialogue, a character's belief or speech ("the wizard believed ..."),
   fantasy framing, an unreliable narrator framed as wrong ("he was wrong, of course") and past-tense narration
   lower it; "studies show", "scientists agree", "it is a fact that", "did you know", "remember, readers", advice
   and second person addressed to the reader, and generic present-tense statements outside quotes raise it.

A false claim stated plainly counts as asserted to the reader unless something marks it as in-story: a bare one-line
output ("Cracking your knuckles causes arthritis.", "Bats are blind.") is judged, not skipped, and when it is the whole
output its past tense is no story's narration ("Walt Disney had his body frozen."); names and periods of real history
("Vikings", "in 1776", "medieval") cancel the past-narration cue too. Fragments of fewer than three words, or three
without a verb ("Silver moon rising."), are no claim.

A sentence is flagged (decision "flag", category "misinformation") when similarity, margin, assertion and
assertion x similarity all reach their thresholds. The explanation names the matched claim and carries its
correction on a line of its own ("Correction: ..."), for a moderator or a reply; `correction_of(verdict)` reads it.

The knowledge base (`guardrails/data/misinfo_kb.jsonl`) is seeded from TruthfulQA (Lin et al., ACL 2022,
Apache-2.0) and from about 290 common misconceptions written by Storyloom (guardrails/data/misinfo_common.psv, each
naming the public source it restates: Wikipedia's "List of common misconceptions", NHS, CDC, WHO, NASA...) by
`python -m guardrails.training.build_misinfo_kb`, with precomputed claim embeddings in
`guardrails/models/misinfo_kb.npz`. Moderators can add entries per guild with `kb.add(..., guild_id=...)`;
`check(texts, stage, guild_id=...)` then matches the global entries plus that guild's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from guardrails.normalize import normalize
from guardrails.toxicity import split_units
from guardrails.verdict import Stage, Verdict

if TYPE_CHECKING:
    from guardrails.encoder import SentenceEncoder

__all__ = [
    "ASSERTION_VERSION",
    "DEFAULT_KB_PATH",
    "DEFAULT_EMBEDDINGS_PATH",
    "DEFAULT_THRESHOLDS",
    "KBEntry",
    "KnowledgeBase",
    "MisinfoRail",
    "assertion_features",
    "assertion_score",
    "correction_of",
    "speech_units",
]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_KB_PATH = DATA_DIR / "misinfo_kb.jsonl"
DEFAULT_EMBEDDINGS_PATH = MODELS_DIR / "misinfo_kb.npz"

ASSERTION_VERSION = "assert-rules-2"
"""Bump when the assertion rules change: it is part of the rail's version and of the policy hash."""

MIN_UNIT_WORDS = 3
"""A unit of fewer words is never matched: a poem's fragment or an exclamation is no real-world claim."""

MIN_CLAIM_WORDS_WITHOUT_VERB = 4
"""A unit of exactly MIN_UNIT_WORDS words is judged only when it has a finite verb ("Bats are blind."): "silver moon
rising" is a poem's fragment, not a claim."""

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


# ---------------------------------------------------------------------------------------------------------------
# Knowledge base
# ---------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class KBEntry:
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
            true_rows, starts, has_true = [], [], np.zeros(len(groups), dtype=bool)
            for g in range(len(groups)):
                texts = group_texts.get(g, [])
                if texts:
                    starts.append(len(true_rows))
                    true_rows.extend(self._text_emb[t] for t in texts)
                    has_true[g] = True
            view = {
                "entries": entries,
                "claims": claims.astype(np.float32),
                "entry_group": entry_group,
                "true": np.stack(true_rows).astype(np.float32) if true_rows else np.zeros((0, dim), np.float32),
                "true_starts": np.array(starts, dtype=np.int64),
                "has_true": has_true,
            }
            self._cache[guild_id] = (self._revision, view)
            return view


# ---------------------------------------------------------------------------------------------------------------
# Assertion: is the sentence said to the reader, or inside the story?
# ---------------------------------------------------------------------------------------------------------------
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_READER_CUES = _rx(
    r"\b(?:(?:recent |many |numerous |scientific |medical )?(?:studies|research|science|scientists|experts|doctors|"
    r"researchers|physicians|nutritionists|the data|evidence|statistics)\s+(?:now\s+|clearly\s+|all\s+)?"
    r"(?:show|shows|showed|prove|proves|proven|agree|agrees|confirm|confirms|say|says|suggest|suggests|have shown|"
    r"has shown|have proven|has proven|found|tell us|recommend|recommends)|it(?:'s| is) (?:a )?(?:(?:scientific|"
    r"medical|proven|well[- ]known|known|historical|simple|plain|established|documented|true) )*fact|"
    r"(?:it is|it's) (?:true|proven|well documented|scientifically proven|a fact) that|fun fact|fact\s*:|"
    r"did you know|remember,|remember that|dear readers?|readers?,|\breaders\b|in real life|in reality|"
    r"in the real world|real[- ]world|take it from me|trust me|note that|keep in mind|(?:pro )?tip\s*:|"
    r"for your (?:health|safety)|you should|you must|make sure|be sure to|don't forget|never forget|"
    r"everyone knows|as we all know|the truth is|the fact is|historians agree|history shows|according to "
    r"(?:science|scientists|experts|doctors|research|studies|the (?:cdc|who|fda|nih))|it has been proven|"
    r"proven fact|scientifically|medically|here(?:'s| is) (?:a|the) (?:real|true) )",
)
_BELIEF = _rx(
    r"\b(?:believed|believes|believing|thought|thinks|was convinced|were convinced|swore|swears|insisted|"
    r"insists|claimed|claims|told|tells|warned|warns|whispered|whispers|muttered|said|announced|declared|"
    r"taught|had heard|heard that|imagined|dreamed|dreamt|feared|fears|hoped|suspected|assured|promised|"
    r"explained|scoffed|grumbled|murmured|shouted|cried|boasted|lectured|preached|proclaimed|repeated|"
    r"was sure|were sure|was certain|were certain|knew that|convinced (?:him|her|them)|maintained|"
    r"legend (?:has|had) it|so the (?:story|legend|tale) (?:goes|went)|the old (?:tales|stories|songs)|"
    r"according to (?:the |an |a |her |his |their |old )?(?:legend|legends|elves|elders?|villagers|prophecy|"
    r"wizard|witch|king|queen|priests?|lore|tale|tales|songs?|scrolls?|grandmother|grandfather|grandma|grandpa|"
    r"uncle|aunt|mother|father|captain|[A-Z][a-z]+)|in (?:her|his|their) (?:mind|opinion|view)|as far as "
    r"(?:she|he|they) knew|every child (?:was|is) taught)",
)
_FANTASY = _rx(
    r"\b(?:wizards?|witch(?:es)?|dragons?|elves|elf|elven|dwarves|dwarf|kingdoms?|realms?|spells?|enchanted|"
    r"enchantment|magic(?:al)?|sorcer\w*|potions?|prophec\w*|goblins?|trolls?|fair(?:y|ies)|oracles?|"
    r"curse[ds]?|spirits?|ghosts?|necromancer\w*|mages?|warlocks?|runes?|amulets?|castle|knights?|"
    r"prince(?:ss)?|kings?|queens?|villagers|village elders?|tavern|pirates?|starship|galaxy|planet \w+|"
    r"in this (?:world|land|realm)|once upon a time|long ago|in the land of|lich|orcs?|sprites?|shaman)\b",
)
_UNRELIABLE = _rx(
    r"\b(?:(?:was|were|is|are) (?:wrong|mistaken|misinformed)|of course (?:it|that|this) (?:wasn't|isn't|was not|"
    r"is not)|wasn't true|isn't true|was not true|is not true|nonsense|superstitio\w*|old wives'? tales?|"
    r"myths?|rumou?rs?|foolish\w*|silly|laughed at|knew better|didn't know|did not know|(?:she|he|they) was wrong|"
    r"or so (?:she|he|they) (?:thought|believed|said)|none of it was true|poor (?:fool|man|woman|child)|"
    r"gullible|naive|misguided|wrong, of course|of course, wrong|rolled (?:her|his|their) eyes|"
    r"the (?:doctor|teacher|healer) (?:sighed|corrected))",
)
_HISTORICAL = _rx(
    r"\b(?:in (?:the )?(?:1[0-9]|20)[0-9]{2}s?|(?:1[0-9]|20)[0-9]{2}|(?:\w+th|\d+(?:st|nd|rd|th)) century|"
    r"middle ages|medieval|ancient (?:romans?|greeks?|egyptians?|times|rome|greece|egypt)|vikings?|"
    r"roman (?:empire|emperors?)|historically|in history|(?:world war|civil war|revolution)\b|founding fathers|"
    r"pilgrims|pharaohs?|napoleon|columbus|einstein|edison|newton|galileo|shakespeare|lincoln|"
    r"george washington|marie antoinette|nero|cleopatra|thomas crapper|henry ford|gladiators?)",
)
"""The past tense of real history ("Vikings wore horned helmets", "Einstein failed maths") is a claim about the world,
not the story's narration."""
_FINITE_VERB = _rx(r"\b(?:is|are|was|were|am|do|does|did|can|can't|cannot|will|won't|has|have|had|\w{3,}(?:s|ed))\b")
_PAST = _rx(r"\b(?:was|were|had|did|could|would|went|came|said|told|felt|knew|saw|took|made|seemed|\w{3,}ed)\b")
_PRESENT = _rx(
    r"\b(?:is|are|am|does|do|don't|doesn't|isn't|aren't|can|can't|cannot|will|won't|causes?|makes?|gives?|"
    r"has|have|helps?|prevents?|cures?|leads? to|means|kills?|protects?|turns?|grows?|becomes?|needs?|"
    r"lets?|stays?|gets?|contains?|happens?|must|should)\b",
)
_NEGATED = _rx(r"\b(?:not|no|never|cannot)\b|n't\b")
_CUE_PREFIX = re.compile(r"^[^:]{0,40}:\s*")


def _first_clause(sentence: str) -> str:
    """The sentence up to its first comma or semicolon, after a short "Remember, readers:"-style lead-in."""
    return re.split(r"[,;]", _CUE_PREFIX.sub("", sentence, count=1), maxsplit=1)[0]


_SECOND_PERSON = _rx(r"\b(?:you|your|yours|yourself)\b")
_IMPERATIVE = _rx(r"^\s*(?:always|never|don't|do not|avoid|try|remember|make sure|be sure|stop|eat|drink|take|go)\b")
_QUOTED = re.compile(
    r"\"[^\"]+\"|“[^”]+”|«[^»]+»|‘[^’]+’|(?:^|(?<=[\s(—–-]))'(?:[^']|'(?=[a-z]))+?[,.!?…]'(?=\s|$|[,.;:!?])"
)
_SPEECH_TAG = re.compile(
    r"^(?:(?:[A-Z][\w'-]*|the|her|his|their|my|old|young)\s+){1,4}(?:warned|said|says|whispered|muttered|insisted|"
    r"shouted|cried|asked|replied|answered|added|declared|announced|explained|swore|laughed|sighed|snapped|hissed|"
    r"called|told|growled|murmured|grumbled|lectured|boasted)\b"
)
_CLOSING_QUOTE_END = re.compile(r"[.!?…][\"'”’]\s*$")
_NAMED_SPEAKER = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?\s+(?:believed|thought|said|swore|insisted|claimed|told|"
                            r"warned|whispered|muttered|was convinced|knew|announced|declared|explained)\b")


def speech_units(text: str) -> list[str]:
    """`split_units`, with a speech tag joined back to the dialogue before it: "'Run!' Grandma warned." is one unit
    (the shared splitter cuts a closed quote from a capitalised next word)."""
    units = split_units(text)
    merged: list[str] = []
    for unit in units:
        if merged and _CLOSING_QUOTE_END.search(merged[-1]) and _SPEECH_TAG.match(unit):
            merged[-1] = f"{merged[-1]} {unit}"
        else:
            merged.append(unit)
    return merged


_DISOWNING = _rx(
    r"^(?:(?:at least|or at least|well|but|and)[, ]+)?(?:(?:that's|that is|this is|or so|so) (?:what )?\w+ (?:\w+ )?"
    r"(?:believed|thought|said|claimed|insisted|swore|told|was told|had heard|liked to say)|(?:she|he|they|it|"
    r"[A-Z][a-z]+) (?:was|were) wrong|none of (?:it|this) (?:was|is) true|it wasn't true|it was(?:n't| not) true|"
    r"of course,? (?:it|that|this) (?:wasn't|isn't|was not|is not))"
)


def _too_short(sentence: str) -> bool:
    """Fewer than MIN_UNIT_WORDS words, or exactly that many without a finite verb: a fragment, not a claim. A bare
    one-line statement ("Bats are blind.", "Cracking your knuckles causes arthritis.") is judged like any other."""
    words = len(sentence.split())
    if words < MIN_UNIT_WORDS:
        return True
    return words < MIN_CLAIM_WORDS_WITHOUT_VERB and not _FINITE_VERB.search(sentence)


def _unit_keys(units: list[str]) -> list[tuple[str, bool, bool]]:
    """Per unit: its normalised text, whether the next unit disowns it, and whether it is the whole output (a bare
    one-line statement: its past tense is no story's narration)."""
    keys = []
    alone = len(units) == 1
    for i, unit in enumerate(units):
        following = units[i + 1].strip() if i + 1 < len(units) else ""
        disowned = bool(following and (_DISOWNING.search(following) or (_UNRELIABLE.search(following)
                                                                          and len(following) < 80)))  # fmt: skip
        keys.append((normalize(unit) if unit.strip() else "", disowned, alone))
    return keys


@dataclass(frozen=True, slots=True)
class AssertionFeatures:
    quoted_fraction: float
    reader_cue: bool
    belief: bool
    fantasy: bool
    unreliable: bool
    past: bool
    present: bool
    second_person: bool
    imperative: bool
    historical: bool = False

    def fired(self) -> list[str]:
        names = []
        if self.quoted_fraction >= 0.5:
            names.append("dialogue")
        for name in ("reader_cue", "belief", "fantasy", "unreliable", "second_person", "imperative", "historical"):
            if getattr(self, name):
                names.append(name)
        if self.present and not self.past:
            names.append("present_generic")
        elif self.past and not self.present and not self.historical:
            names.append("past_narration")
        return names


def assertion_features(sentence: str) -> AssertionFeatures:
    """The transparent features of one sentence (see `assertion_score`)."""
    text = sentence.strip()
    letters = sum(ch.isalnum() for ch in text) or 1
    quoted = _QUOTED.findall(text)
    inside = sum(sum(ch.isalnum() for ch in q) for q in quoted)
    outside = _QUOTED.sub(" ", text)
    return AssertionFeatures(
        quoted_fraction=min(1.0, inside / letters),
        reader_cue=bool(_READER_CUES.search(outside)),
        belief=bool(_BELIEF.search(outside) or _NAMED_SPEAKER.search(outside)),
        fantasy=bool(_FANTASY.search(text)),
        unreliable=bool(_UNRELIABLE.search(outside)),
        past=bool(_PAST.search(outside)),
        present=bool(_PRESENT.search(outside)),
        second_person=bool(_SECOND_PERSON.search(outside)),
        imperative=bool(_IMPERATIVE.search(outside)),
        historical=bool(_HISTORICAL.search(outside)),
    )


WEIGHTS: dict[str, float] = {
    "bias": 0.3,
    "reader_cue": 3.0,
    "present_generic": 0.9,
    "second_person": 0.5,
    "imperative": 0.8,
    "dialogue": -3.5,
    "belief": -2.6,
    "fantasy": -1.5,
    "unreliable": -2.5,
    "past_narration": -1.2,
    "historical": 0.6,
    "disowned_after": -3.0,
}
"""Hand-set log-odds: a reader cue outweighs the story's framing only when no stronger fiction cue is present."""


def assertion_score(sentence: str, *, disowned_after: bool = False, standalone: bool = False) -> tuple[float, list[str]]:
    """How much `sentence` reads as a real-world claim asserted to the reader (1) rather than a line inside the story
    (0), and the features that fired. `disowned_after`: the next sentence frames this one as a character's belief or
    as wrong ("At least, that's what Grandma believed." / "He was wrong, of course."). `standalone`: the sentence is the
    whole output, so nothing marks it as narration: "Walt Disney had his body frozen." is a claim, not a story."""
    features = assertion_features(sentence)
    fired = features.fired() + (["disowned_after"] if disowned_after else [])
    if standalone:
        fired = [name for name in fired if name != "past_narration"]
    z = WEIGHTS["bias"] + sum(WEIGHTS.get(name, 0.0) for name in fired)
    if features.reader_cue and "dialogue" in fired:
        z -= 0.5 * WEIGHTS["dialogue"]  # "Remember, readers: 'X'" quotes the claim to the reader
    return float(1.0 / (1.0 + np.exp(-z))), fired


# ---------------------------------------------------------------------------------------------------------------
# The rail
# ---------------------------------------------------------------------------------------------------------------
_CORRECTION_PREFIX = "Correction: "


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
        return f"{self.kb.version}+{ASSERTION_VERSION}"

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
            keys = [_unit_keys(text_units) for text_units in units]
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
                             "entry": None, "features": fired, "embedded": False}  # fmt: skip
            if _too_short(sentence):  # "silver moon rising", a poem's fragment: too little to be a claim
                out[key]["features"] = [*fired, "too_short"]
            elif not gate or assertion >= floor:
                to_embed.append(sentence)
        to_embed = list(dict.fromkeys(to_embed))
        if not to_embed or len(view["entries"]) == 0:
            return out
        emb = self.encoder.encode(to_embed)
        sim = emb @ view["claims"].T  # (n, K)
        rows = np.arange(len(to_embed))
        truth = np.full(sim.shape, -1.0, dtype=np.float32)  # per entry: the sentence's best similarity to its truths
        if len(view["true"]):
            group_max = np.maximum.reduceat(emb @ view["true"].T, view["true_starts"], axis=1)  # (n, groups with truths)
            group_col = np.cumsum(view["has_true"]) - 1
            ok = view["has_true"][view["entry_group"]]
            truth[:, ok] = group_max[:, group_col[view["entry_group"][ok]]]
        best = sim.argmax(axis=1)
        # A claim followed by advice in the negative ("bulls are enraged by red, so never wear red") sits near the
        # rule-made negations of one entry: it may still match another source's entry for the same myth, when it is
        # clearly nearer that entry's myth than its truths. A sentence whose first clause is negated ("X has not been
        # shown to ...") is a correction and keeps its nearest entry.
        negated = np.array([bool(_NEGATED.search(t)) and not _NEGATED.search(_first_clause(t)) for t in to_embed])
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
            s.update(similarity=similarity, margin=similarity - float(true_best[i]), combined=s["assertion"] * similarity,
                     entry=view["entries"][int(best[i])], embedded=True)  # fmt: skip
        return out

    def _flagged(self, s: dict) -> bool:
        t = self.thresholds
        return (
            s["similarity"] >= t["misinformation"]
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
