"""The toxicity head's data and its fixed-seed split: `training.train_toxicity` trains on it.

Data: the Davidson et al. (2017) tweets (`toxicity_train.csv` in the shared data folder, or `--data`), the text the
project wrote (`benign_fiction.py`, `targeted.py`, and the lines in free shapes of `toxicity_fresh.tsv`), the bot's
own generations (guardrails/data/generated_fiction.txt) and neutral text from the other shared files (benign prompts
of `injection_train.csv`, TruthfulQA questions and true answers in `misinfo_truthfulqa_train.csv`; both optional).
The split holds back 13% of the tweets (stratified by their original label) and 30% of the written templates and
lines (whole groups, so validation sentences have structures the head never saw); nothing held back is trained on.
"""

from __future__ import annotations

import csv
import hashlib
import html
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.text.normalize import normalize
from training.benign_fiction import OBFUSCATION_KEYWORDS, WrittenExample, abuse_examples, benign_examples
from training.generate_fiction import load_generated
from training.paths import GENERATED_FICTION, GUARDRAILS_DATA, SHARED_DATA, required
from training.targeted import targeted_examples

DATA_FILE = "toxicity_train.csv"
INJECTION_FILE = "injection_train.csv"
TRUTHFULQA_FILE = "misinfo_truthfulqa_train.csv"
KEPT_APART_CSVS = (GUARDRAILS_DATA / "judgement_validation.csv", GUARDRAILS_DATA / "targeted_checks.csv")
"""Hand-written families (identity mentions, counter-speech, abuse aimed at members in a fiction frame, a group called
vermin, self-harm urged on the reader, hateful claims without slurs, threats and harassment aimed at a member, and
their look-alikes): never trained on; a generated sentence that happens to equal one of their rows is dropped."""

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


# ---------------------------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Row:
    """One training or validation text with its three labels and their loss weights."""

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
    """The rows trained on, and what is held out: single texts and multi-sentence passages."""

    train: list[Row] = field(default_factory=list)
    validation: list[Row] = field(default_factory=list)
    """Single texts: tweets, written sentences, obfuscated abuse."""
    passages: list[tuple[str, str, str]] = field(default_factory=list)
    """(text, expected, source): multi-sentence validation texts built from held-out sentences."""


def _held(key: str, share: float) -> bool:
    return int(hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def plain_row(raw: str, source: str, weight: float, fold_key: str) -> Row:
    return Row(text=normalize(raw), raw=raw, source=source, labels=(0, 0, 0), weights=(weight,) * 3, fold_key=fold_key)


def neutral_files(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / INJECTION_FILE, data_dir / TRUTHFULQA_FILE


def load_neutral(data_dir: Path = SHARED_DATA) -> list[tuple[str, str, str]]:
    """(unit, source, group): sentences of benign prompts (injection_train.csv, label 0) and of TruthfulQA
    questions and true answers, grouped by prompt / question (the unit held out)."""
    from guardrails.text.units import split_units

    injection_data, truthfulqa_data = (required(p) for p in neutral_files(data_dir))
    out: list[tuple[str, str, str]] = []
    with injection_data.open(newline="", encoding="utf-8") as handle:
        for i, record in enumerate(csv.DictReader(handle)):
            if record["label"] == "0":
                out.extend((u, "neutral:injection_benign", f"inj:{i}") for u in split_units(record["text"]))
    questions: set[str] = set()
    with truthfulqa_data.open(newline="", encoding="utf-8") as handle:
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
    fresh: list[WrittenExample] | None = None,
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

    # Hand-written lines in free shapes (`fresh_examples`): each line held or trained by its own hash, disguised from
    # its own random stream, so every row above is drawn as before.
    fresh_rng = random.Random(f"{SEED}:fresh")
    for example in fresh or []:
        if _held(f"fresh:{example.group}", WRITTEN_VALIDATION_SHARE):
            split.validation.append(written_row(example))
            continue
        split.train.append(written_row(example))
        if example.abusive:
            method = OBFUSCATIONS[fresh_rng.randrange(len(OBFUSCATIONS))]
            split.train.append(written_row(example, text=obfuscate(example.text, method, fresh_rng), obfuscation=method))

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


def validation_records(split: Split) -> list[tuple[str, str, str]]:
    """(text, expected, source) per validation row, as guardrails/data/toxicity_validation.csv holds them."""
    records = [(row.raw, "block" if row.abusive else "allow", row.source) for row in split.validation]
    return records + split.passages


def _kept_apart() -> set[str]:
    kept_apart: set[str] = set()
    for path in KEPT_APART_CSVS:
        with required(path).open(newline="", encoding="utf-8") as handle:
            kept_apart |= {row["text"].strip().lower() for row in csv.DictReader(handle)}
    return kept_apart


def written_examples() -> list[WrittenExample]:
    """The project's own sentences: fiction and abuse (benign_fiction), and the target-aware families (targeted)."""
    kept_apart = _kept_apart()
    examples = benign_examples() + abuse_examples() + targeted_examples()
    return [e for e in examples if e.text.strip().lower() not in kept_apart]


FRESH_TSV = Path(__file__).with_name("toxicity_fresh.tsv")
"""label, kind, text: lines written in free shapes by helpers who saw no code and no data (stop 39): self-harm urged on
the reader or a member and a group called vermin (label 1), and the care, idiom, advice, history and fiction that share
their words (label 0)."""
FRESH_LABELS = {"selfharm_urged": {"toxicity": 1}, "dehumanising": {"toxicity": 1, "identity_attack": 1}}


def fresh_examples(path: Path = FRESH_TSV) -> list[WrittenExample]:
    """The lines of `path`, each its own group; any line a kept-apart check file holds is dropped."""
    kept_apart = _kept_apart()
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        label, kind, text = line.split("\t")
        if text.strip().lower() in kept_apart:
            continue
        out.append(WrittenExample(text, kind, f"line:fresh:{kind}:{i}", **(FRESH_LABELS[kind] if label == "1" else {})))
    return out


def build_split(data: Path | None = None, data_dir: Path = SHARED_DATA, generated: Path = GENERATED_FICTION) -> Split:
    """The split the training script uses: tweets (`data`, default `data_dir`/toxicity_train.csv), written examples,
    the bot's generations, the neutral text of `data_dir` and the lines in free shapes."""
    davidson = load_davidson(data or data_dir / DATA_FILE)
    written = written_examples()
    generations = load_generated(required(generated))
    return split_data(davidson, written, generations, load_neutral(data_dir), fresh_examples())
