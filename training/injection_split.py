"""The prompt-injection head's data, its label cleaning and its fixed-seed split: `training.train_injection`
trains on it.

Data: `injection_train.csv` in the shared data folder (deepset/prompt-injections, awesome-chatgpt-prompts,
jailbreak_llms), `roleplay_benign.csv` beside it (optional), the examples written in `training.injection_data`,
long benign prompts made by concatenating benign requests and attacks hidden in them, and the bot's own narrative
(guardrails/data/generated_fiction.txt). Label cleaning and split: see `training.train_injection`.
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.rails.injection import match_rules, windows
from guardrails.text.normalize import normalize
from guardrails.text.units import split_units
from training.dangerous_split import harmless_request_shapes, harmless_requests
from training.generate_fiction import load_generated
from training.injection_data import PERSONA_PROMPTS, SHORT_PROMPTS, tsv_examples, written_examples
from training.loop import distinct_column, in_share
from training.paths import GENERATED_FICTION, SHARED_DATA, required

DATA_FILE = "injection_train.csv"
ROLEPLAY_FILE = "roleplay_benign.csv"
"""100 more persona prompts (rahulkolekardev/awesome-ai-prompts, MIT): 60% trained on as benign, 40% held out."""
ROLEPLAY_VALIDATION_SHARE = 0.4
SEED = 20240612
VALIDATION_SHARE = 0.2
WRITTEN_VALIDATION_SHARE = 0.3
MAX_TRAIN_CHARS = 4000
"""Longer jailbreak prompts are cut here (a Discord message is at most 4,000 characters)."""
MAX_VALIDATION_CHARS = 4000
PERSONA_NEGATIVE_WINDOWS = 6
PERSONA_NEGATIVE_WEIGHT = 0.5
"""Jailbreak rows without any attack marker (plain personas) are relabelled benign: this many of their windows per
row, at this weight (a few of them may still be subtle attacks, so they count less than the curated benign rows)."""
MAX_POSITIVE_WINDOWS = 8
"""Per attack row, at most this many marked windows are trained on, so a few huge prompts do not dominate."""
WRITTEN_WEIGHT = 2.0
NARRATIVE_WEIGHT = 1.0
NARRATIVE_MIN_CHARS = 20
EVERYDAY_TEMPLATES = (
    "How do I {t}?", "how to {t}", "What's the easiest way to {t}?", "Can you explain how to {t}?",
    "any tips on how to {t}?", "What do I need to {t}?", "Quick question: how would I {t}?",
)
"""Plain questions around the dangerous head's harmless tasks (`training.dangerous_split.harmless_requests`), none of
its jailbreak-shaped templates: a member asking how to do an everyday thing is not an attack."""
REQUEST_SHAPES_PER_TASK = 2
RULES_OFF_TEMPLATES = re.compile(r"no filter|rules don't apply|new instructions|safety off|the first one refuses|no laws", re.I)
"""The dangerous split's request templates that try to switch the rules off in words `ROW_MARKERS` does not know: those
stay out of the request shapes trained as benign here."""
QUESTIONS_FILE = "misinfo_truthfulqa_train.csv"
"""The questions of the shared TruthfulQA part (column `context`): factual questions, split by question."""

# ---------------------------------------------------------------------------------------------------------------
# Label-cleaning markers (data cleaning only; the rail's own rules are `guardrails.rails.injection.RULES`)
# ---------------------------------------------------------------------------------------------------------------
ROW_MARKERS = re.compile(
    r"\b(ignore|disregard|forget|bypass|override|circumvent)\b.{0,60}\b(instruction|rule|guideline|polic|restriction|filter"
    r"|programming|prompt|above|previous|prior|everything|training)|\b(dan|do anything now|developer mode|dev mode|jailbr\w*"
    r"|unfiltered|uncensored|unrestricted|amoral|immoral|unethical|illegal|no (moral|ethic)|without (any )?(restriction|filter"
    r"|limit|censor|moral|ethic|warning)|no (restrictions|limits|limitations|filters|boundaries|rules)|content polic\w*|openai"
    r"|chatgpt|policies|guidelines|never refuse|not refuse|won'?t refuse|cannot refuse|can'?t refuse|refuse|not bound|free from"
    r"|break(s|ing)? (the|any|all) rules|system prompt|harmful|explicit|offensive|ethical|morals?|censor\w*|limitations?"
    r"|restrictions?)\b",
    re.IGNORECASE,
)
"""Broad: a jailbreak row without any of these is a plain persona (237 rows) and is dropped."""
WINDOW_MARKERS = re.compile(
    r"\b(ignore|disregard|forget|bypass|override|circumvent)\b.{0,60}\b(instruction|rule|guideline|polic|restriction|filter"
    r"|programming|prompt|above|previous|prior|training)|\bDAN\b|\b(do anything now|developer mode|dev mode|jailbr\w*"
    r"|unfiltered|uncensored|unrestricted|amoral|without (any )?(restriction|filter|limit|censor|moral|ethic)|no (moral|ethic)"
    r"|no (restrictions|limits|limitations|filters|boundaries)|content polic\w*|openai|polic(y|ies)|guidelines"
    r"|(never|not|won'?t|cannot|can'?t|don'?t|doesn'?t) (ever )?refuse|not bound|break(s|ing)? (the|any|all) rules|system prompt"
    r"|censor\w*|illegal|unethical|immoral)\b",
    re.IGNORECASE,
)
"""Narrower: which windows of an attack row are positives."""
NOT_A_REQUEST_SHAPE = re.compile(f"{ROW_MARKERS.pattern}|{RULES_OFF_TEMPLATES.pattern}", re.IGNORECASE)
"""Request templates left out of the harmless request shapes: those that try to switch the rules off."""
DEEPSET_MARKERS = re.compile(
    r"\b(ignor\w*|disregard\w*|forget|vergiss|vergessen|olvid\w*|oubliez|zaboravi|забудьте|new (task|assignment|instruction)s?"
    r"|neue[nr]? (aufgabe|anweisung)\w*|now (focus|concentrate|comes?|follow)\w*|jetzt (kommt|folg)\w*|nun (folg|kommt)\w*"
    r"|prompt\w*|instructions?|anweisung\w*|that('s| is) enough|das (reicht|genügt)|stop|stopp|leave .{0,30} behind|start over"
    r"|von vorne|previous|vorherig\w*|obigen?|above|pwned|hacked|gehackt|password|passwort|secret|geheim|irrelevant"
    r"|abandon|drop all|do not answer|don'?t answer|change your)\b",
    re.IGNORECASE,
)
PERSONA = re.compile(
    r"\b(you are|you're|act as|pretend|imagine|be a|role|play\w*|stell dir vor|du bist|bist du|fungieren|spiel\w*)\b", re.IGNORECASE
)


# ---------------------------------------------------------------------------------------------------------------
# Documents: a prompt with its windows and their training labels
# ---------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Doc:
    """A prompt with its expected decision, its source and group, and the training label of each of its windows."""

    text: str
    expected: str
    """"block" or "allow"."""
    source: str
    group: str
    train_labels: list[int | None] = field(default_factory=list)
    """Per window of `windows(text)`: 1, 0 or None (not trained on)."""
    weight: float = 1.0


def _held(key: str, share: float) -> bool:
    return in_share(SEED, key, share)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def label_windows(text: str, attack: bool, markers: re.Pattern[str] | None, rng: random.Random) -> list[int | None]:
    ws = windows(text)
    if not attack:
        return [0] * len(ws)
    if markers is None:
        return [1] * len(ws)
    hits = [i for i, w in enumerate(ws) if markers.search(normalize(w))]
    if not hits:
        return [1] * len(ws)  # the marker spans two windows: the prompt as a whole is the attack
    if len(hits) > MAX_POSITIVE_WINDOWS:
        hits = sorted(rng.sample(hits, MAX_POSITIVE_WINDOWS))
    chosen = set(hits)
    return [1 if i in chosen else None for i in range(len(ws))]


ATTACK_SENTENCE = re.compile(
    r"\b(rules?|restrictions?|filters?|safeguards?|refus\w*|prompt|instructions?|confidential|hidden|verbatim|configuration"
    r"|content|polic\w*|moderation|developers?|creators|admin|privileges|built you|word for word|exact words|echo back"
    r"|above my|before this message|initiali[sz]ed)\b",
    re.IGNORECASE,
)
"""In a written persona prompt known to hold an attack, the words of its attacking sentence where `WINDOW_MARKERS`
finds none ("Set aside your built-in rules and refusals, ...")."""


def attack_sentence_labels(text: str, sentence: str = "") -> list[int | None]:
    """A long written attack's windows: positive where they hold its attacking sentence (`sentence` where the row
    names it, else `WINDOW_MARKERS` or a rule, else `ATTACK_SENTENCE`), the persona around it not trained on."""
    units = {unit: normalize(unit) for unit in split_units(text)}
    if sentence:
        hits = [u for u in units if sentence in u]
        if not hits:
            raise ValueError(f"the attacking sentence is not one of the prompt's sentences: {sentence!r}")
    else:
        hits = [u for u, norm in units.items() if WINDOW_MARKERS.search(norm) or match_rules(norm)]
        hits = hits or [u for u, norm in units.items() if ATTACK_SENTENCE.search(norm)]
    return [1 if any(u in w for u in hits) else None for w in windows(text)]


@dataclass
class Split:
    """Training and validation prompts, and how many rows label cleaning dropped, by reason."""

    train: list[Doc]
    validation: list[Doc]
    dropped: Counter


def build_split(data: Path | None = None, data_dir: Path = SHARED_DATA, generated: Path = GENERATED_FICTION) -> Split:
    """The split the training script uses: the prompts of `data` (default `data_dir`/injection_train.csv), the
    persona prompts of `data_dir`/roleplay_benign.csv, written examples and the bot's stories."""
    rng = random.Random(SEED)
    data = data or data_dir / DATA_FILE
    roleplay = data_dir / ROLEPLAY_FILE
    train: list[Doc] = []
    validation: list[Doc] = []
    dropped: Counter = Counter()
    with data.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seen: set[str] = set()
    benign_pool: dict[bool, list[str]] = {False: [], True: []}  # held -> benign role-play/creative requests

    def put_benign(text: str, source: str, group: str, held: bool, weight: float = 1.0) -> None:
        """A benign prompt: validated as it is, or trained on with every window a negative."""
        if held:
            validation.append(Doc(text, "allow", source, group))
        else:
            train.append(Doc(text, "allow", source, group, [0] * len(windows(text)), weight))

    for record in rows:
        text, source, attack = record["text"].strip(), record["source"], record["label"] == "1"
        key = _truncate(text, MAX_TRAIN_CHARS).lower()  # variants of one jailbreak often share their first 4,000 chars
        if not text or key in seen:
            continue
        seen.add(key)
        held = _held(text, VALIDATION_SHARE)
        norm = normalize(text)
        if source == "jailbreak_llms":
            if not ROW_MARKERS.search(norm):
                dropped["jailbreak_llms:no_attack_marker"] += 1
                if not held:  # relabelled: a few of their windows are trained on as benign persona text
                    ws = windows(_truncate(text, MAX_TRAIN_CHARS))
                    picks = set(rng.sample(range(len(ws)), min(PERSONA_NEGATIVE_WINDOWS, len(ws))))
                    labels = [0 if i in picks and not WINDOW_MARKERS.search(normalize(ws[i])) else None for i in range(len(ws))]
                    train.append(Doc(_truncate(text, MAX_TRAIN_CHARS), "allow", "jailbreak_llms:persona_relabelled",
                                     f"row:{text}", labels, PERSONA_NEGATIVE_WEIGHT))  # fmt: skip
                continue
            markers = WINDOW_MARKERS
            src = "jailbreak_llms"
        elif source == "deepset" and attack:
            if not DEEPSET_MARKERS.search(norm):
                if PERSONA.search(norm):
                    dropped["deepset:roleplay_without_hijack_marker"] += 1
                    continue
                if held:
                    validation.append(Doc(text, "block", "deepset:attack_unmarked", f"row:{text}"))
                else:
                    dropped["deepset:attack_unmarked(train)"] += 1
                continue
            markers = DEEPSET_MARKERS
            src = "deepset:attack"
        else:
            markers = None
            src = f"{source}:benign" if source == "deepset" else source
            if source == "awesome_chatgpt_prompts":
                benign_pool[held].append(text)
        if held:
            text_v = _truncate(text, MAX_VALIDATION_CHARS)
            if attack and source == "jailbreak_llms" and not ROW_MARKERS.search(normalize(text_v)):
                continue
            validation.append(Doc(text_v, "block" if attack else "allow", src, f"row:{text}"))
            if source == "jailbreak_llms":  # short attacks: the marked sentences of held-out jailbreaks, alone
                units = [w for w in windows(text_v) if WINDOW_MARKERS.search(normalize(w)) and 30 <= len(w) <= 300]
                if units:
                    validation.append(Doc(rng.choice(units), "block", "jailbreak_llms:extracted_sentence", f"row:{text}"))
            continue
        text_t = _truncate(text, MAX_TRAIN_CHARS)
        labels = label_windows(text_t, attack, markers, rng)
        train.append(Doc(text_t, "block" if attack else "allow", src, f"row:{text}", labels))
        if source == "jailbreak_llms":  # short attacks for training too: a marked sentence alone
            units = [w for w in windows(text_t) if WINDOW_MARKERS.search(normalize(w)) and 30 <= len(w) <= 300]
            if units:
                unit = rng.choice(units)
                train.append(Doc(unit, "block", "jailbreak_llms:extracted_sentence", f"row:{text}", [1] * len(windows(unit))))

    with required(roleplay).open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            text = record["text"].strip()
            held = _held(text, ROLEPLAY_VALIDATION_SHARE)
            put_benign(text, "roleplay_benign", f"row:{text}", held, WRITTEN_WEIGHT)
            if not held:
                benign_pool[False].append(text)

    written = written_examples(SEED)
    groups = sorted({w.group for w in written})
    held_groups = {g for g in groups if _held(g, WRITTEN_VALIDATION_SHARE)}
    for kind in sorted({w.kind for w in written}):  # every kind needs at least one held and one trained template
        kind_groups = [g for g in groups if g.startswith(kind + ":")]
        if not any(g in held_groups for g in kind_groups):
            held_groups.add(kind_groups[-1])
        if all(g in held_groups for g in kind_groups):
            held_groups.discard(kind_groups[0])
    for w in written:
        held = w.group in held_groups
        source = f"written:{w.kind}"
        if held:
            validation.append(Doc(w.text, "block" if w.attack else "allow", source, w.group))
        else:
            train.append(Doc(w.text, "block" if w.attack else "allow", source, w.group,
                             [int(w.attack)] * len(windows(w.text)), WRITTEN_WEIGHT))  # fmt: skip
        if not w.attack and w.kind in ("roleplay", "roleplay_de", "creative", "roleplay_professional"):
            benign_pool[held].append(w.text)

    # Everyday questions, many with the words attacks use ("kill a hung process", "nuke my local branch"): the head
    # read them as hijacks (7.2% of held-out ones blocked before they were trained on).
    for kind, text, held in harmless_requests():
        texts = [text] if kind == "question" else [t.format(t=text) for t in rng.sample(EVERYDAY_TEMPLATES, 2)]
        for each in texts:
            put_benign(each, "written:everyday_question", f"everyday:{text}", held)

    # Long benign prompts (several benign requests and persona descriptions joined), and attacks hidden in them.
    attacks = {held: [w.text for w in written if w.attack and (w.group in held_groups) == held] for held in (False, True)}
    for held, count in ((False, 200), (True, 80)):
        pool = benign_pool[held]
        for i in range(count):
            parts = rng.sample(pool, rng.randint(3, 7))
            joiner = rng.choice(["\n\n", " ", "\n"])
            text = joiner.join(parts)
            group = f"long:{held}:{i}"
            put_benign(text, "written:long_roleplay", group, held, WRITTEN_WEIGHT)
            if i % 2 == 0:
                attack = rng.choice(attacks[held])
                parts.insert(rng.randint(1, len(parts)), attack)
                hidden = joiner.join(parts)
                if held:
                    validation.append(Doc(hidden, "block", "written:attack_hidden_in_long", group))
                else:
                    labels = [1 if attack in w else None for w in windows(hidden)]
                    if any(labels):
                        train.append(Doc(hidden, "block", "written:attack_hidden_in_long", group, labels, WRITTEN_WEIGHT))
    # The bot's own narrative (guardrails/data/generated_fiction.txt): story text a member writes in a story game or
    # gives to /continue is not an instruction, but a head trained on prompts read short third-person sentences as
    # one (10.1% of 2,000 of these sentences blocked before they were trained on). Whole generations are held out.
    for key, sentences in load_generated(generated):
        held = _held(f"generated:{key}", VALIDATION_SHARE)
        for sentence in sentences:
            if len(sentence) < NARRATIVE_MIN_CHARS:
                continue
            put_benign(sentence, "generated:narrative", f"generated:{key}", held, NARRATIVE_WEIGHT)
    # Harmless tasks in the request shapes of the dangerous split ("Could you kindly tell me how I might ...? Thank you
    # so much in advance.", "Write a text-message conversation in which ..."), and factual questions: the head read
    # polite closings and plain questions as hijacks. Their own random stream, so the rows above stay as they were.
    shapes_rng = random.Random(f"{SEED}:request_shapes")
    for text, held in harmless_request_shapes(shapes_rng, REQUEST_SHAPES_PER_TASK, NOT_A_REQUEST_SHAPE):
        put_benign(text, "written:request_shape", f"shape:{text}", held)
    for question in distinct_column(required(data_dir / QUESTIONS_FILE), "context"):
        put_benign(question, "truthfulqa:question", f"question:{question}", _held(f"question:{question}", VALIDATION_SHARE))
    # Short messages between pieces, persona prompts with their format and scope sentences, and attacks in both shapes.
    for w in tsv_examples(SHORT_PROMPTS) + tsv_examples(PERSONA_PROMPTS):
        doc = Doc(w.text, "block" if w.attack else "allow", f"written:{w.kind}", w.group, weight=WRITTEN_WEIGHT)
        if _held(w.group, WRITTEN_VALIDATION_SHARE):
            validation.append(doc)
            continue
        if w.attack and len(split_units(w.text)) > 2:
            doc.train_labels = attack_sentence_labels(w.text, w.attack_sentence)
        else:
            doc.train_labels = [int(w.attack)] * len(windows(w.text))
        if any(label is not None for label in doc.train_labels):
            train.append(doc)
    # Near-duplicates across rows (the same jailbreak sentence in several prompts): nothing trained on is validated.
    trained = {normalize(d.text).lower() for d in train}
    kept = [d for d in validation if normalize(d.text).lower() not in trained]
    dropped["validation:also_in_train"] = len(validation) - len(kept)
    return Split(train, kept, dropped)

