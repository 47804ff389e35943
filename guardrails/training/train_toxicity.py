"""Train the embedded toxicity head: `python -m guardrails.training.train_toxicity`.

Writes guardrails/models/toxicity_head.{npz,json} and guardrails/data/toxicity_validation.csv.

Data: the Davidson et al. (2017) tweets (/work/shared/data/toxicity_train.csv or --data) plus the text the project
wrote in `benign_fiction.py`. A fixed-seed split holds back 13% of the tweets (stratified by their original
label) and 30% of the written templates and lines (whole groups, so validation sentences have structures
the head never saw); nothing held back is trained on. Thresholds are tuned on out-of-fold predictions of the
training part, never on the validation split, and the validation metrics are measured through the real rail
(normalise, split into sentences, worst sentence decides).

Reproducible: fixed seeds, deterministic torch, one thread for the head. Sentence embeddings are cached under
data/cache/ (gitignored), keyed by the encoder's weights; the first run encodes ~27k texts (a few minutes on
two cores), later runs under a minute.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from guardrails.encoder import ENCODER_ID, SentenceEncoder
from guardrails.normalize import normalize
from guardrails.training.embedding_cache import CachingEncoder
from guardrails.toxicity import DEFAULT_HEAD_PATH, EmbeddedToxicityBackend, ToxicityHead, ToxicityRail
from guardrails.training.generate_fiction import OUT as GENERATED_FICTION
from guardrails.training.generate_fiction import load_generated
from guardrails.training.benign_fiction import (
    OBFUSCATION_KEYWORDS,
    WrittenExample,
    abuse_examples,
    benign_examples,
)
from guardrails.training.targeted import targeted_examples

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path("/work/shared/data/toxicity_train.csv")
INJECTION_DATA = Path("/work/shared/data/injection_train.csv")
TRUTHFULQA_DATA = Path("/work/shared/data/misinfo_truthfulqa_train.csv")
VALIDATION_CSV = REPO_ROOT / "guardrails" / "data" / "toxicity_validation.csv"
JUDGEMENT_VALIDATION_CSV = REPO_ROOT / "guardrails" / "data" / "judgement_validation.csv"
"""Hand-written families (identity mentions, counter-speech, abuse aimed at members in a fiction frame, ...): never
trained on; a generated sentence that happens to equal one of its rows is dropped."""

HEAD_VERSION = "1.0"
HEAD_CATEGORIES = ("toxicity", "identity_attack", "threat")
SEED = 20240611
DAVIDSON_VALIDATION_SHARE = 0.13
WRITTEN_VALIDATION_SHARE = 0.3
VALIDATION_PER_TEMPLATE = 20
"""Held-out template groups contribute this many fillings to validation (the rest is discarded, never trained on)."""
BENIGN_PASSAGES = 60
ABUSE_PASSAGES = 25
STORY_KINDS = frozenset(
    {"villain", "battle", "horror", "grief", "crime", "insult_fiction", "profanity_dialogue", "death_poem", "lyrics", "screenplay", "story_beat"}
)
"""Kinds that read like generated output; passages (the rail's output-stage case) are built from these only."""

GENERATED_VALIDATION_SHARE = 0.25
"""Share of the model's generations (whole generations: a story, a poem) held out; each becomes one passage."""
GENERATED_VALIDATION_SENTENCES = 300
NEUTRAL_VALIDATION_SHARE = 0.15
NEUTRAL_VALIDATION_PER_SOURCE = 150
NEUTRAL_TRAIN_PER_SOURCE = 1500
"""Neutral text on disk (benign prompts of injection_train.csv, TruthfulQA questions and true answers): held out
by prompt or question, then sampled to this many sentences per source for training."""

HIDDEN = 128
EPOCHS = 40
BATCH = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
DROPOUT = 0.2
FOLDS = 5

# Loss weights: the written examples are the target domain (fiction, abuse at real people) and few, so each
# counts several tweets; obfuscated variants count less (they repeat their source).
WRITTEN_WEIGHT = 4.0
OBFUSCATED_WEIGHT = 2.0
GENERATED_WEIGHT = 10.0
"""Sentences the bot's own model wrote: the text the output rail actually sees."""
NEUTRAL_WEIGHT = 2.0
DAVIDSON_NEGATIVE_WEIGHT = 3.0
"""Tweets labelled neither are a sixth of the tweets; weighting them up keeps the head from learning that
casual text is offensive by default."""
HATE_POSITIVE_WEIGHT = 3.0
OFFENSIVE_AS_NOT_HATE_WEIGHT = 0.5

# Threshold tuning (on out-of-fold predictions of the training part): block at most this share of written benign
# text, which leaves room under the 3% goal for the unseen structures of the validation split; within that,
# reach this recall on both the tweets and the written abuse with the fewest false blocks; failing that, the
# most recall.
MAX_BENIGN_FALSE_BLOCKS = 0.02
MAX_GENERATED_PASSAGE_FALSE_BLOCKS = 0.06
"""Out-of-fold share of the model's training generations (whole passages, all sentences) blocked. The goal is 3%
on held-out generations; out of fold it is noisier (each fold's head sees a fifth fewer generations), and when no
thresholds meet it together with MAX_BENIGN_FALSE_BLOCKS it is relaxed in steps of one point (the `.json` records
the limit used)."""
GENERATED_COST = 1.0
"""How much a blocked generated passage counts against a blocked written sentence."""
RECALL_TARGET = 0.95
NEITHER_COST = 0.2
"""How much a false block on an everyday tweet counts against one on benign fiction when choosing thresholds."""
THRESHOLD_GRID = np.round(np.arange(0.25, 0.9751, 0.025), 3)
"""Below 0.25 a threshold sits in the head's noise on text unlike its training data (a lone "one" once scored
identity_attack 0.17), however good it looks on held-out folds."""

ATTRIBUTION = (
    "Trained in part on the hate speech and offensive language data of Davidson, Warmsley, Macy and Weber, "
    '"Automated Hate Speech Detection and the Problem of Offensive Language", ICWSM 2017 '
    "(https://github.com/t-davidson/hate-speech-and-offensive-language, commit cb50f7e9, MIT License)."
)


# ---------------------------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Row:
    text: str
    """Normalised text, as the rail would score it."""
    source: str
    """davidson2017:<orig_label>, written:<benign|abuse|abuse_obfuscated>:<kind>."""
    labels: tuple[int, int, int]
    """toxicity, identity_attack, threat."""
    weights: tuple[float, float, float]
    """Loss weight per category; 0 means "unknown for this row"."""
    fold_key: str
    """Rows sharing a key share a cross-validation fold (a written template's fillings stay together)."""
    raw: str = ""
    """The text before normalisation (what validation stores)."""

    @property
    def abusive(self) -> bool:
        return any(self.labels)


_URL = re.compile(r"https?://\S+|www\.\S+")
_RETWEET = re.compile(r"\bRT\b:?")
_MENTION = re.compile(r"@\w+:?")
_LEADING_NOISE = re.compile(r"^[\s!:\"',.|]+")
_SPACES = re.compile(r"\s+")


def clean_tweet(text: str) -> str:
    """Remove what only tweets have (RT, @mentions, URLs, HTML entities): the head must not learn that
    "looks like a tweet" means "offensive" (83% of the tweets are)."""
    text = html.unescape(html.unescape(text))
    text = _URL.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = text.replace("#", " ")
    text = _LEADING_NOISE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def load_davidson(path: Path) -> list[tuple[str, str, int, str]]:
    """(cleaned text, normalised text, label, orig_label), duplicates after normalisation dropped."""
    seen: set[str] = set()
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            cleaned = clean_tweet(record["text"])
            normalised = normalize(cleaned)
            if len(normalised) < 3 or normalised.lower() in seen:
                continue
            seen.add(normalised.lower())
            rows.append((cleaned, normalised, int(record["label"]), record["orig_label"]))
    return rows


def davidson_row(cleaned: str, normalised: str, label: int, orig: str) -> Row:
    hate = orig == "hate_speech"
    identity_weight = HATE_POSITIVE_WEIGHT if hate else (OFFENSIVE_AS_NOT_HATE_WEIGHT if label else 1.0)
    # Threats are unlabelled in the tweets: an offensive tweet may well be one, so only "neither" says "no threat".
    threat_weight = 0.0 if label else 1.0
    return Row(
        text=normalised,
        raw=cleaned,
        source=f"davidson2017:{orig}",
        labels=(label, int(hate), 0),
        weights=(1.0 if label else DAVIDSON_NEGATIVE_WEIGHT, identity_weight, threat_weight),
        fold_key=f"d:{normalised}",
    )


def written_row(example: WrittenExample, *, text: str | None = None, obfuscation: str | None = None) -> Row:
    raw = text if text is not None else example.text
    side = "abuse" if example.abusive else "benign"
    source = f"written:{side}_obfuscated:{obfuscation}" if obfuscation else f"written:{side}:{example.kind}"
    weight = OBFUSCATED_WEIGHT if obfuscation else WRITTEN_WEIGHT
    return Row(
        text=normalize(raw),
        raw=raw,
        source=source,
        labels=(example.toxicity, example.identity_attack, example.threat),
        weights=(weight, weight, weight),
        fold_key=f"w:{example.group}",
    )


# ---------------------------------------------------------------------------------------------------------------
# Obfuscation: the disguises the normaliser has to undo
# ---------------------------------------------------------------------------------------------------------------
_LEET_OUT = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7"}
_HOMOGLYPH_OUT = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і", "x": "х", "y": "у", "s": "ѕ"}
OBFUSCATIONS = ("leet", "homoglyph", "zero_width", "spaced", "stretched", "mixed")


def _target_words(text: str, rng: random.Random) -> set[str]:
    words = re.findall(r"[A-Za-z']+", text)
    hits = {w for w in words if w.lower() in OBFUSCATION_KEYWORDS}
    if not hits:
        hits = {max(words, key=len)} if words else set()
    if len(hits) > 2:
        hits = set(rng.sample(sorted(hits), 2))
    return hits


def obfuscate(text: str, method: str, rng: random.Random) -> str:
    targets = _target_words(text, rng)

    def per_word(fn):
        return re.sub(r"[A-Za-z']+", lambda m: fn(m.group(0)) if m.group(0) in targets else m.group(0), text)

    if method == "leet":
        return per_word(lambda w: "".join(rng.choice(_LEET_OUT[c]) if c in _LEET_OUT else c for c in w))
    if method == "homoglyph":
        return "".join(_HOMOGLYPH_OUT[c] if c in _HOMOGLYPH_OUT and rng.random() < 0.7 else c for c in text)
    if method == "zero_width":
        return per_word(lambda w: rng.choice(["\u200b", "\u200d", "\u2060", "\u00ad"]).join(w))
    if method == "spaced":
        return per_word(lambda w: rng.choice([" ", ".", "-"]).join(w))
    if method == "stretched":
        return per_word(lambda w: re.sub(r"([aeiouy])", lambda m: m.group(1) * rng.randint(3, 6), w, count=1))
    if method == "mixed":
        return obfuscate(obfuscate(text, "homoglyph", rng), "zero_width", rng)
    raise ValueError(method)


# ---------------------------------------------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Split:
    train: list[Row] = field(default_factory=list)
    validation: list[Row] = field(default_factory=list)
    """Single texts: tweets, written sentences, obfuscated abuse."""
    passages: list[tuple[str, str, str]] = field(default_factory=list)
    """(text, expected, source): multi-sentence validation texts built from held-out sentences."""


def _held(key: str, share: float) -> bool:
    return int(hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def plain_row(raw: str, source: str, weight: float, fold_key: str) -> Row:
    return Row(text=normalize(raw), raw=raw, source=source, labels=(0, 0, 0), weights=(weight,) * 3, fold_key=fold_key)


def load_neutral() -> list[tuple[str, str, str]]:
    """(unit, source, group): sentences of benign prompts (injection_train.csv, label 0) and of TruthfulQA
    questions and true answers, grouped by prompt / question (the unit held out)."""
    from guardrails.toxicity import split_units

    out: list[tuple[str, str, str]] = []
    if INJECTION_DATA.exists():
        with INJECTION_DATA.open(newline="", encoding="utf-8") as handle:
            for i, record in enumerate(csv.DictReader(handle)):
                if record["label"] == "0":
                    out.extend((u, "neutral:injection_benign", f"inj:{i}") for u in split_units(record["text"]))
    if TRUTHFULQA_DATA.exists():
        questions: set[str] = set()
        with TRUTHFULQA_DATA.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                question = record["context"].strip()
                if question and question not in questions:
                    questions.add(question)
                    out.append((question, "neutral:truthfulqa", f"tqa:{question}"))
                if record["label"] == "0" and record["claim"].strip():
                    out.append((record["claim"].strip(), "neutral:truthfulqa", f"tqa:{question}"))
    return [(u, s, g) for u, s, g in out if len(normalize(u)) >= 3]


def split_data(
    davidson: list[tuple[str, str, int, str]],
    written: list[WrittenExample],
    generated: list[tuple[str, list[str]]] | None = None,
    neutral: list[tuple[str, str, str]] | None = None,
) -> Split:
    rng = random.Random(SEED)
    split = Split()

    by_orig: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, _, orig) in enumerate(davidson):
        by_orig[orig].append(i)
    held_davidson: set[int] = set()
    for orig in sorted(by_orig):
        indices = by_orig[orig][:]
        rng.shuffle(indices)
        held_davidson.update(indices[: round(len(indices) * DAVIDSON_VALIDATION_SHARE)])
    for i, record in enumerate(davidson):
        (split.validation if i in held_davidson else split.train).append(davidson_row(*record))

    # Hold out whole groups, per kind, templates and hand-written lines separately. Groups are ranked by a hash
    # of their id, so adding a template to one kind never reshuffles what another kind holds out.
    groups_by_kind: dict[tuple[str, bool, bool], set[str]] = defaultdict(set)
    for example in written:
        groups_by_kind[(example.kind, example.abusive, example.group.startswith("line:"))].add(example.group)
    held_groups: set[str] = set()
    for key in sorted(groups_by_kind):
        groups = sorted(groups_by_kind[key], key=lambda g: hashlib.sha256(f"{SEED}:{g}".encode()).hexdigest())
        count = round(len(groups) * WRITTEN_VALIDATION_SHARE)
        if count == 0 and len(groups) >= 2:
            count = 1  # every kind with a choice is represented in validation
        held_groups.update(groups[:count])

    per_group: Counter[str] = Counter()
    held_benign: list[WrittenExample] = []
    held_abuse: list[WrittenExample] = []
    for example in written:
        if example.group not in held_groups:
            split.train.append(written_row(example))
            if example.abusive:
                method = OBFUSCATIONS[rng.randrange(len(OBFUSCATIONS))]
                split.train.append(written_row(example, text=obfuscate(example.text, method, rng), obfuscation=method))
            continue
        if per_group[example.group] >= VALIDATION_PER_TEMPLATE:
            continue  # held out but not needed: discarded, never trained on
        per_group[example.group] += 1
        split.validation.append(written_row(example))
        (held_abuse if example.abusive else held_benign).append(example)

    for example in held_abuse:
        if rng.random() < 0.5:
            method = OBFUSCATIONS[rng.randrange(len(OBFUSCATIONS))]
            split.validation.append(written_row(example, text=obfuscate(example.text, method, rng), obfuscation=method))

    # Multi-sentence texts exercise the rail's splitting: stories must pass, a story hiding abuse must not.
    story = [e for e in held_benign if e.kind in STORY_KINDS]
    for _ in range(BENIGN_PASSAGES):
        sentences = [e.text for e in rng.sample(story, rng.randint(4, 7))]
        split.passages.append((" ".join(sentences), "allow", "written:benign_passage"))
    for _ in range(ABUSE_PASSAGES):
        sentences = [e.text for e in rng.sample(story, rng.randint(3, 5))]
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(held_abuse).text)
        split.passages.append((" ".join(sentences), "block", "written:abuse_passage"))

    # The bot's own generations: whole generations held out, each one validation passage (all its units, one a
    # line, as the rail would split it), plus a sample of their units as single sentences.
    held_units: list[str] = []
    for header, units in generated or []:
        gid = header.split("\t", 1)[0]
        if not units:
            continue
        if _held(f"gen:{gid}", GENERATED_VALIDATION_SHARE):
            split.passages.append(("\n".join(units), "allow", "generated:fiction_passage"))
            held_units.extend(units)
        else:
            split.train.extend(plain_row(u, "generated:fiction", GENERATED_WEIGHT, f"g:{gid}") for u in units)
    for unit in rng.sample(held_units, min(GENERATED_VALIDATION_SENTENCES, len(held_units))):
        split.validation.append(plain_row(unit, "generated:fiction_sentence", GENERATED_WEIGHT, "held"))

    by_source: dict[tuple[str, bool], list[tuple[str, str]]] = defaultdict(list)
    for unit, source, group in neutral or []:
        by_source[(source, _held(f"n:{group}", NEUTRAL_VALIDATION_SHARE))].append((unit, group))
    for (source, held), units in sorted(by_source.items()):
        if held:
            for unit, _ in rng.sample(units, min(NEUTRAL_VALIDATION_PER_SOURCE, len(units))):
                split.validation.append(plain_row(unit, source, NEUTRAL_WEIGHT, "held"))
        else:
            for unit, group in rng.sample(units, min(NEUTRAL_TRAIN_PER_SOURCE, len(units))):
                split.train.append(plain_row(unit, source, NEUTRAL_WEIGHT, f"n:{group}"))

    # Nothing held out is trained on, whatever its source (a question can repeat across datasets).
    held_texts = {row.text for row in split.validation} | {normalize(t) for t, _, _ in split.passages}
    seen: set[str] = set()
    kept = []
    for row in split.train:
        if row.text in held_texts or (not row.source.startswith("davidson") and not row.source.startswith("written") and row.text in seen):
            continue
        seen.add(row.text)
        kept.append(row)
    split.train = kept
    return split


def written_examples() -> list[WrittenExample]:
    """The project's own sentences: fiction and abuse (benign_fiction), and the target-aware families (targeted)."""
    kept_apart = set()
    if JUDGEMENT_VALIDATION_CSV.exists():
        with JUDGEMENT_VALIDATION_CSV.open(newline="", encoding="utf-8") as handle:
            kept_apart = {row["text"].strip().lower() for row in csv.DictReader(handle)}
    examples = benign_examples() + abuse_examples() + targeted_examples()
    return [e for e in examples if e.text.strip().lower() not in kept_apart]


def build_split(data: Path = DEFAULT_DATA) -> Split:
    """The split the training script uses: tweets, written examples, generated fiction and neutral text."""
    davidson = load_davidson(data)
    written = written_examples()
    generated = load_generated(GENERATED_FICTION) if GENERATED_FICTION.exists() else []
    return split_data(davidson, written, generated, load_neutral())


# ---------------------------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------------------------
# The head
# ---------------------------------------------------------------------------------------------------------------
def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = SEED) -> ToxicityHead:
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, w))
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Dropout(DROPOUT), torch.nn.Linear(HIDDEN, y.shape[1])
    )
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    # Each category's loss is normalised by its total weight, so the rare threat labels are not drowned.
    per_category = wt.sum(0).clamp(min=1.0)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            logits = model(xt[idx])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx], weight=wt[idx], reduction="none")
            loss = (loss.sum(0) / per_category * len(xt) / len(idx)).sum() / y.shape[1]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    first, last = model[0], model[3]
    return ToxicityHead(
        categories=HEAD_CATEGORIES,
        w1=first.weight.detach().numpy().T.copy(),
        b1=first.bias.detach().numpy().copy(),
        w2=last.weight.detach().numpy().T.copy(),
        b2=last.bias.detach().numpy().copy(),
    )


def fold_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % FOLDS


def out_of_fold(x: np.ndarray, y: np.ndarray, w: np.ndarray, keys: list[str]) -> np.ndarray:
    folds = np.array([fold_of(k) for k in keys])
    predictions = np.zeros_like(y, dtype=np.float32)
    for fold in range(FOLDS):
        held = folds == fold
        head = fit_head(x[~held], y[~held], w[~held], seed=SEED + fold)
        predictions[held] = head.probabilities(x[held])
    return predictions


def tune_thresholds(
    probabilities: np.ndarray, rows: list[Row], passage_limit: float | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-category thresholds chosen on out-of-fold probabilities (see MAX_BENIGN_FALSE_BLOCKS).

    Recall is measured on the tweets and on the written abuse separately, so the 20k tweets cannot outvote the
    few hundred threats and hate statements the tweets lack."""
    sources = np.array([r.source for r in rows]).astype(str)
    abusive = np.array([r.abusive for r in rows])
    written = np.char.startswith(sources, "written:")
    davidson = np.char.startswith(sources, "davidson2017:")
    benign_written = written & ~abusive
    davidson_pos = davidson & abusive
    davidson_neg = davidson & ~abusive
    written_abuse = written & abusive
    generated = np.char.startswith(sources, "generated:")
    neutral = np.char.startswith(sources, "neutral:")
    groups = {"benign": benign_written, "d_pos": davidson_pos, "d_neg": davidson_neg, "w_abuse": written_abuse}
    passage_limit = MAX_GENERATED_PASSAGE_FALSE_BLOCKS if passage_limit is None else passage_limit
    tox, ident, threat = (probabilities[:, i] for i in range(3))
    # Generated rows sorted by generation, so a passage's "any sentence blocked" is one reduceat.
    gen_index = np.flatnonzero(generated)
    gen_keys = np.array([rows[i].fold_key for i in gen_index])
    order = np.argsort(gen_keys, kind="stable")
    gen_index, gen_keys = gen_index[order], gen_keys[order]
    gen_starts = np.flatnonzero(np.r_[True, gen_keys[1:] != gen_keys[:-1]]) if len(gen_keys) else np.zeros(0, int)
    grid = THRESHOLD_GRID
    # Vectorised over the threat threshold: for each group, a (rows, len(grid)) table of "threat over threshold".
    threat_over = {name: threat[mask][:, None] >= grid[None, :] for name, mask in groups.items()}
    threat_over_gen = threat[gen_index][:, None] >= grid[None, :]
    threat_over_neutral = threat[neutral][:, None] >= grid[None, :]
    zeros = np.zeros(len(grid))
    best: tuple[float, ...] | None = None
    chosen: dict[str, float] = {}
    for t_tox in grid:
        for t_ident in grid:
            over = (tox >= t_tox) | (ident >= t_ident)
            rates = {name: (over[mask][:, None] | threat_over[name]).mean(0) for name, mask in groups.items()}
            if len(gen_index):
                gen_over = over[gen_index][:, None] | threat_over_gen
                passages = np.logical_or.reduceat(gen_over, gen_starts, axis=0).mean(0)
            else:
                passages = zeros
            neutral_rate = (over[neutral][:, None] | threat_over_neutral).mean(0) if neutral.any() else zeros
            for k, t_threat in enumerate(grid):
                if rates["benign"][k] > MAX_BENIGN_FALSE_BLOCKS or passages[k] > passage_limit:
                    continue
                recall_d, recall_w = rates["d_pos"][k], rates["w_abuse"][k]
                meets = recall_d >= RECALL_TARGET and recall_w >= RECALL_TARGET
                cost = rates["benign"][k] + GENERATED_COST * passages[k] + neutral_rate[k] + NEITHER_COST * rates["d_neg"][k]
                # Ties go to higher (more permissive) thresholds.
                key = (float(meets), -round(float(cost), 4) if meets else min(recall_d, recall_w), float(t_tox + t_ident + t_threat))
                if best is None or key > best:
                    best = key
                    chosen = {"toxicity": float(t_tox), "identity_attack": float(t_ident), "threat": float(t_threat)}
    if best is None:
        if passage_limit < 0.2:  # relax the generated-passage limit before giving up
            return tune_thresholds(probabilities, rows, passage_limit + 0.01)
        raise RuntimeError("no thresholds meet the false-block limit on benign fiction")
    blocked = (tox >= chosen["toxicity"]) | (ident >= chosen["identity_attack"]) | (threat >= chosen["threat"])
    gen_blocked = np.logical_or.reduceat(blocked[gen_index], gen_starts) if len(gen_index) else np.zeros(0, bool)
    summary = {
        "false_block_rate_written_benign": float(blocked[benign_written].mean()),
        "generated_passage_limit_used": round(float(passage_limit), 3),
        "false_block_rate_generated_sentences": float(blocked[generated].mean()) if generated.any() else 0.0,
        "false_block_rate_generated_passages": float(gen_blocked.mean()) if len(gen_blocked) else 0.0,
        "false_block_rate_neutral": float(blocked[neutral].mean()) if neutral.any() else 0.0,
        "recall_davidson_offensive_or_hate": float(blocked[davidson_pos].mean()),
        "recall_written_abuse": float(blocked[written_abuse].mean()),
        "false_block_rate_davidson_neither": float(blocked[davidson_neg].mean()),
    }
    return chosen, summary


# ---------------------------------------------------------------------------------------------------------------
# Validation through the rail
# ---------------------------------------------------------------------------------------------------------------
def validation_records(split: Split) -> list[tuple[str, str, str]]:
    records = [(row.raw, "block" if row.abusive else "allow", row.source) for row in split.validation]
    return records + split.passages


def evaluate(rail: ToxicityRail, records: list[tuple[str, str, str]], batch: int = 256) -> dict:
    """Precision, recall and false-block rates of the rail's decisions on (text, expected, source) records."""
    decisions: list[bool] = []
    for start in range(0, len(records), batch):
        verdicts = rail.check([text for text, _, _ in records[start : start + batch]], "input")
        decisions.extend(v.decision == "block" for v in verdicts)
    return summarise(records, decisions)


def summarise(records: list[tuple[str, str, str]], blocked: list[bool]) -> dict:
    expected = np.array([e == "block" for _, e, _ in records])
    got = np.array(blocked)
    tp, fp = int((got & expected).sum()), int((got & ~expected).sum())
    fn = int((~got & expected).sum())
    by_source: dict[str, dict[str, float]] = {}
    for source in sorted({s for _, _, s in records}):
        mask = np.array([s == source for _, _, s in records])
        by_source[source] = {"rows": int(mask.sum()), "blocked": round(float(got[mask].mean()), 4)}

    def rate(prefixes: tuple[str, ...]) -> tuple[float, int]:
        mask = np.array([s.startswith(prefixes) for _, _, s in records])
        return (round(float(got[mask].mean()), 4) if mask.any() else 0.0), int(mask.sum())

    def maybe(prefixes: tuple[str, ...]) -> float | None:
        return rate(prefixes)[0] if any(s.startswith(prefixes) for _, _, s in records) else None

    benign_fiction, n_benign = rate(("written:benign",))
    sentences, _ = rate(("written:benign:",))
    passages, _ = rate(("written:benign_passage",))
    return {
        "rows": len(records),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "false_block_rate_benign_fiction": benign_fiction,
        "benign_fiction_rows": n_benign,
        "false_block_rate_benign_sentences": sentences,
        "false_block_rate_benign_passages": passages,
        "recall_written_abuse": rate(("written:abuse",))[0],
        "recall_obfuscated_abuse": rate(("written:abuse_obfuscated",))[0],
        "recall_davidson_offensive_or_hate": rate(("davidson2017:offensive_language", "davidson2017:hate_speech"))[0],
        "false_block_rate_davidson_neither": rate(("davidson2017:neither",))[0],
        "false_block_rate_generated_sentences": maybe(("generated:fiction_sentence",)),
        "false_block_rate_generated_passages": maybe(("generated:fiction_passage",)),
        "false_block_rate_neutral": maybe(("neutral:",)),
        "by_source": by_source,
    }


def write_validation_csv(records: list[tuple[str, str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "expected", "source"])
        writer.writerows(records)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Davidson toxicity_train.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD_PATH, help="where to write the head (.npz; .json beside it)")
    parser.add_argument("--validation-csv", type=Path, default=VALIDATION_CSV)
    args = parser.parse_args(argv)

    import torch

    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    davidson = load_davidson(args.data)
    written = written_examples()
    generated = load_generated(GENERATED_FICTION)
    split = split_data(davidson, written, generated, load_neutral())
    records = validation_records(split)
    print(f"tweets {len(davidson)}, written {len(written)}; train {len(split.train)}, validation {len(records)}", flush=True)

    encoder = CachingEncoder(SentenceEncoder(precision="float32"), "toxicity_embeddings", "v2")
    try:
        x = encoder.encode([row.text for row in split.train])
    finally:
        encoder.save()
    y = np.array([row.labels for row in split.train], dtype=np.float32)
    w = np.array([row.weights for row in split.train], dtype=np.float32)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the head is tiny; one thread keeps training bit-for-bit reproducible
    oof = out_of_fold(x, y, w, [row.fold_key for row in split.train])
    thresholds, oof_summary = tune_thresholds(oof, split.train)
    print(f"thresholds {thresholds} (out-of-fold: {oof_summary})", flush=True)
    trained = fit_head(x, y, w)
    torch.set_num_threads(threads)

    head = ToxicityHead(
        categories=trained.categories, w1=trained.w1, b1=trained.b1, w2=trained.w2, b2=trained.b2,
        thresholds=thresholds, version=HEAD_VERSION, encoder_id=ENCODER_ID,
    )  # fmt: skip
    rail = ToxicityRail(EmbeddedToxicityBackend(encoder, head))  # type: ignore[arg-type]
    try:
        metrics = evaluate(rail, records)
    finally:
        encoder.save()
    print(json.dumps({k: v for k, v in metrics.items() if k != "by_source"}, indent=1), flush=True)

    write_validation_csv(records, args.validation_csv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **head.arrays())
    written_digest = hashlib.sha256("\n".join(f"{e.group}\t{e.text}" for e in written).encode()).hexdigest()
    meta = {
        "version": HEAD_VERSION,
        "model": f"MLP {encoder.dim}-{HIDDEN}-{len(HEAD_CATEGORIES)} (ReLU, sigmoid outputs) over sentence embeddings",
        "encoder": ENCODER_ID,
        "categories": list(HEAD_CATEGORIES),
        "thresholds": thresholds,
        "thresholds_meaning": (
            "PG-13 fiction: block when any category >= its threshold. `toxicity` is trained to mean abuse "
            "(Davidson hate/offensive tweets and the project's abuse sentences) against benign text that includes "
            "dark fiction and characters' mild profanity. Chosen on out-of-fold predictions of the training part "
            f"(grid {THRESHOLD_GRID[0]}-{THRESHOLD_GRID[-1]}): at most {MAX_BENIGN_FALSE_BLOCKS:.1%} false blocks "
            f"on written benign text and {MAX_GENERATED_PASSAGE_FALSE_BLOCKS:.0%} of the model's own generations "
            f"(whole passages); within that, recall >= {RECALL_TARGET} on both tweets and written abuse "
            "with the fewest false blocks, or, when no thresholds reach it, the most recall."
        ),
        "caveat": (
            "The validation split was never trained on and never used to choose thresholds, but the written data "
            "and the sentence splitter were revised after reading validation errors, so its numbers are somewhat "
            "optimistic; the written sentences come from templates, so they are easier than real users' text."
        ),
        "training": {
            "command": "python -m guardrails.training.train_toxicity",
            "seed": SEED,
            "epochs": EPOCHS,
            "hidden": HIDDEN,
            "dropout": DROPOUT,
            "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY,
            "folds_for_thresholds": FOLDS,
            "loss_weights": {
                "written": WRITTEN_WEIGHT,
                "obfuscated": OBFUSCATED_WEIGHT,
                "generated_fiction": GENERATED_WEIGHT,
                "neutral": NEUTRAL_WEIGHT,
                "hate_positive": HATE_POSITIVE_WEIGHT,
                "offensive_as_not_hate": OFFENSIVE_AS_NOT_HATE_WEIGHT,
            },
            "rows": dict(sorted(Counter(row.source.rsplit(":", 1)[0] for row in split.train).items())),
        },
        "data": {
            "davidson": {"file": args.data.name, "sha256": sha256_file(args.data), "rows_after_dedup": len(davidson)},
            "written_examples": {
                "module": "guardrails.training.benign_fiction + guardrails.training.targeted",
                "sha256": written_digest,
                "benign": sum(not e.abusive for e in written),
                "abuse": sum(e.abusive for e in written),
            },
            "generated_fiction": {
                "file": "guardrails/data/generated_fiction.txt",
                "sha256": sha256_file(GENERATED_FICTION),
                "generations": len(generated),
                "units": sum(len(u) for _, u in generated),
                "script": "python -m guardrails.training.generate_fiction",
                "held_out_share_of_generations": GENERATED_VALIDATION_SHARE,
            },
            "neutral": {
                "files": {p.name: sha256_file(p) for p in (INJECTION_DATA, TRUTHFULQA_DATA) if p.exists()},
                "use": "benign (label 0) prompts of injection_train.csv split into sentences; TruthfulQA questions "
                "and true answers; held out by prompt/question, sampled per source",
                "train_per_source": NEUTRAL_TRAIN_PER_SOURCE,
            },
            "validation": {
                "file": "guardrails/data/toxicity_validation.csv",
                "sha256": sha256_file(args.validation_csv),
                "rows": len(records),
            },
        },
        "metrics": {"validation_at_default_thresholds": metrics, "out_of_fold_train": oof_summary},
        "metric_notes": (
            "Validation metrics are the rail's decisions (normalise, split into sentences, worst sentence decides) "
            "with 'block' as the positive class. benign_fiction = every written benign row: fiction sentences, "
            "dark and everyday prompts, chat, and 4-7 sentence story passages; benign_passages = the passages "
            "alone (a passage fails if any of its sentences does). recall_written_abuse includes obfuscated "
            "variants and stories with one abusive sentence inserted. Davidson rows: label 1 (hate or offensive) "
            "is expected to block, 'neither' to pass."
        ),
        "attribution": ATTRIBUTION,
        "license_note": (
            "Davidson et al. data: MIT License. Written examples and generated fiction (SmolLM2-135M-Instruct, "
            "Apache-2.0): part of this project. Neutral text: deepset/prompt-injections (Apache-2.0), "
            "awesome-chatgpt-prompts (CC0-1.0), TruthfulQA (Apache-2.0)."
        ),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
