"""The dangerous-instructions head's data and its fixed-seed split: `training.train_dangerous` trains on it.

Data and split: see `training.train_dangerous`. Do-Not-Answer rows come from `harmful_requests_train.csv` in the
shared data folder (or `--data`); ordinary prompts from the other shared files there (`BENIGN_PROMPT_FILES`; a
missing one stops the script); written examples from `training.dangerous_data`; the bot's stories from guardrails/data/.
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from guardrails.rail import Stage
from guardrails.text.normalize import normalize
from training import dangerous_data as written
from training.generate_fiction import SUBJECTS, load_generated
from training.loop import distinct_column, in_share
from training.paths import GENERATED_FICTION, SHARED_DATA, required

DATA_FILE = "harmful_requests_train.csv"
BENIGN_PROMPT_FILES = {
    "injection_train.csv": ("text", lambda row: row["label"] == "0"),
    "roleplay_benign.csv": ("text", lambda row: True),
    "misinfo_truthfulqa_train.csv": ("context", lambda row: True),
}
"""Ordinary prompts and questions from the other shared files (benign rows only): deepset's benign questions,
awesome-chatgpt-prompts and awesome-ai-prompts personas (which ask for "step-by-step" plans and "instructions"
all the time), TruthfulQA questions ("what happens if you eat watermelon seeds?")."""
BENIGN_PROMPTS_PER_FILE = 300
BENIGN_PROMPT_CHARS = 600
BENIGN_PROMPT_WEIGHT = 0.7

SEED = 20261204
HELD_SHARE = 0.25
HELD_SENTENCE_SHARE = 0.3
OTHER_HARM_WEIGHT = 0.5
LOOKALIKE_WEIGHT = 1.5
"""Harmless look-alikes share templates and words with the harmful requests: they count a little more."""
GENERATED_WEIGHT = 1.0

IN_SCOPE = (
    "Animal Abuse", "Financial Crimes", "Illegal Digital Activities", "Illegal Drugs and Substances", "Illegal Trade",
    "Illegitimate surveillance", "Sexual Exploitation", "Substance Abuse", "Terrorist Activities",
    "Violence and Physical Harm", "Self-Harm", "Hazardous Activities",
)
"""`specific_harms` prefixes of the rows that ask for instructions for serious harm (positives)."""
NEGATIVE_AREAS = {
    "Discrimination, Exclusion, Toxicity, Hateful, Offensive": (),
    "Misinformation Harms": ("Hazardous Activities",),
    "Human-Chatbot Interaction Harms": ("Self-Harm",),
    "Information Hazards": ("Cybersecurity Vulnerabilities",),
}
"""risk_area -> specific_harms prefixes excluded: the rest of the area is harmful in other ways, not instructions."""


FAMILY_OF_SOURCE = {
    "do_not_answer:dangerous": "harmful_plain",
    "written:harm_plain": "harmful_plain",
    "written:harm_fiction": "harmful_fiction",
    "written:recipe_output": "recipe_output",
    "written:lookalike_request": "lookalike",
    "written:lookalike_fiction_request": "lookalike",
    "written:lookalike_question": "lookalike",
    "written:ordinary_request": "ordinary_request",
    "written:whole_harmful": "harmful_whole",
    "written:whole_benign": "benign_whole",
    "written:freeform_harmful": "harmful_freeform",
    "written:freeform_benign": "benign_freeform",
    "written:dark_request": "dark_fiction",
    "written:dark_sentence": "dark_fiction",
    "written:dark_passage": "dark_fiction",
    "written:dark_premise": "premise",
    "written:benign_instructions": "benign_instructions",
    "generated:story": "generated",
    "generated:sentence": "generated",
    "do_not_answer:other_harm": "other_harm",
    "shared:benign_prompt": "benign_prompts",
}


@dataclass(slots=True)
class Doc:
    """One training or validation text with its expected decision, its stage and what it is."""

    text: str
    expected: str
    """"block" or "allow"."""
    stage: Stage
    source: str
    group: str
    """Fold key: a topic (a harm task, a look-alike task, a dark event), a file row, a generation."""
    positive_parts: tuple[str, ...] = ()
    """For a "block" doc: windows containing one of these are positives, the others are not trained on (a request's
    framing sentence alone is not a request for harm); empty: every window is a positive. Output docs: windows
    holding a harmful step are positives, the intro and outro around them negatives."""
    weight: float = 1.0

    @property
    def family(self) -> str:
        return FAMILY_OF_SOURCE[self.source]


def _held(key: str, share: float) -> bool:
    return in_share(SEED, key, share)


def _split_list(items: list[str], share: float, salt: str) -> tuple[list[str], list[str]]:
    """(trained, held), every list keeping at least one item on each side."""
    held = [x for x in items if _held(f"{salt}:{x}", share)]
    if not held:
        held = [items[-1]]
    if len(held) == len(items):
        held = held[1:]
    return [x for x in items if x not in held], held


def _templates_held(templates: list[str], salt: str) -> set[str]:
    return set(_split_list(templates, HELD_SHARE, salt)[1])


def _held_tasks(salt: str, domain: str, tasks: list[str]) -> set[str]:
    """The tasks of one domain held out for validation: every template of a held task is validation."""
    return set(_split_list(tasks, HELD_SHARE, f"{salt}:{domain}")[1])


def _sentence_held(kind: str, text: str) -> bool:
    return _held(f"{kind}:{text}", HELD_SENTENCE_SHARE)


@dataclass(frozen=True, slots=True)
class TaskRequests:
    """How one written list of tasks becomes requests: so many plain and so many fiction templates per task (the
    templates drawn in that order), under these sources, fold groups and weight."""

    tasks: dict[str, list[str]]
    salt: str
    """Keys the held-out tasks; `group` keys the folds."""
    group: str
    expected: str
    plain: tuple[str, int]
    fiction: tuple[str, int]
    weight: float = 1.0


TASK_REQUESTS = (
    TaskRequests(written.HARM_TASKS, "harm", "harm", "block", ("written:harm_plain", 6), ("written:harm_fiction", 5)),
    TaskRequests(written.LOOKALIKE_TASKS, "lookalike", "look", "allow", ("written:lookalike_request", 5),
                 ("written:lookalike_fiction_request", 2), LOOKALIKE_WEIGHT),
    TaskRequests(written.ORDINARY_TASKS, "ordinary", "ordinary", "allow", ("written:ordinary_request", 5),
                 ("written:ordinary_request", 2)),
)  # fmt: skip
"""Harm tasks are positives wherever their task phrase is (`Doc.positive_parts`); the others are harmless."""


def read_file_rows(path: Path) -> tuple[list[Doc], list[Doc], Counter]:
    train, validation, counts = [], [], Counter()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        text, area, harm = row["text"].strip(), row["risk_area"], row["specific_harms"]
        if not text:
            continue
        if harm.startswith(IN_SCOPE):
            doc = Doc(text, "block", "input", "do_not_answer:dangerous", f"row:{text}")
        elif area in NEGATIVE_AREAS and not harm.startswith(NEGATIVE_AREAS[area] or ("\0",)):
            doc = Doc(text, "allow", "input", "do_not_answer:other_harm", f"row:{text}", weight=OTHER_HARM_WEIGHT)
        else:
            counts["not_used"] += 1
            continue
        counts[doc.source] += 1
        (validation if _held(text, HELD_SHARE) else train).append(doc)
    return train, validation, counts


def _task_docs(spec: TaskRequests, rng: random.Random, held_templates: set[str]) -> Iterator[tuple[Doc, bool]]:
    """Each task of `spec` in its plain and fiction templates, and whether the request is held out (its task or its
    template is)."""
    kinds = ((written.PLAIN_TEMPLATES, spec.plain), (written.FICTION_TEMPLATES, spec.fiction))
    for domain, tasks in spec.tasks.items():
        held_tasks = _held_tasks(spec.salt, domain, tasks)
        for task in tasks:
            for templates, (source, count) in kinds:
                for template in rng.sample(templates, count):
                    parts = (task,) if spec.expected == "block" else ()
                    text = template.format(t=task)
                    doc = Doc(text, spec.expected, "input", source, f"{spec.group}:{task}", parts, spec.weight)
                    yield doc, task in held_tasks or template in held_templates


def written_docs(rng: random.Random) -> tuple[list[Doc], list[Doc]]:
    train: list[Doc] = []
    validation: list[Doc] = []

    def put(doc: Doc, held: bool) -> None:
        (validation if held else train).append(doc)

    held_templates = _templates_held(written.PLAIN_TEMPLATES, "plain") | _templates_held(
        written.FICTION_TEMPLATES, "fiction"
    )
    for spec in TASK_REQUESTS:
        for doc, held in _task_docs(spec, rng, held_templates):
            put(doc, held)
    for question in written.LOOKALIKE_QUESTIONS:
        held = _sentence_held("question", question)
        put(Doc(question, "allow", "input", "written:lookalike_question", f"question:{question}", weight=LOOKALIKE_WEIGHT), held)

    held_dark_templates = _templates_held(written.DARK_REQUEST_TEMPLATES, "dark")
    for theme, events in written.DARK_EVENTS.items():
        held_events = _held_tasks("dark", theme, events)
        for event in events:
            for template in rng.sample(written.DARK_REQUEST_TEMPLATES, 4):
                held = event in held_events or template in held_dark_templates
                put(Doc(template.format(e=event), "allow", "input", "written:dark_request", f"dark:{event}"), held)
    # Bare premises: what a member types after "/write story about:", and what the input rails read.
    for theme, premises in (written.DARK_PREMISES | {"fiction_subjects": list(SUBJECTS)}).items():
        _, held_premises = _split_list(premises, HELD_SENTENCE_SHARE, f"premise:{theme}")
        for premise in premises:
            put(Doc(premise, "allow", "input", "written:dark_premise", f"premise:{premise}"), premise in held_premises)
    for theme, events in written.DARK_EVENTS.items():
        held_events = _held_tasks("dark", theme, events)
        for event in events:
            put(Doc(event, "allow", "input", "written:dark_premise", f"dark:{event}"), event in held_events)
    trained_sentences, held_sentences = _split_list(written.DARK_SENTENCES, HELD_SENTENCE_SHARE, "dark_sentence")
    for pool, held in ((trained_sentences, False), (held_sentences, True)):
        for index, sentence in enumerate(pool):
            for name in rng.sample(written.DARK_NAMES, 2 if "{n}" in sentence else 1):
                text = sentence.format(n=name)
                text = text[:1].upper() + text[1:]
                put(Doc(text, "allow", "output", "written:dark_sentence", f"dark_sentence:{sentence}"), held)
        for i in range(40 if not held else 20):
            parts = [s.format(n=rng.choice(written.DARK_NAMES)) for s in rng.sample(pool, min(len(pool), rng.randint(3, 5)))]
            text = " ".join(p[:1].upper() + p[1:] for p in parts)
            put(Doc(text, "allow", "output", "written:dark_passage", f"dark_passage:{held}:{i}"), held)

    for steps_by_domain, source, expected, intros, outros, per_domain in (
        (written.HARM_STEPS, "written:recipe_output", "block", written.RECIPE_INTROS, written.RECIPE_OUTROS, 30),
        (written.BENIGN_STEPS, "written:benign_instructions", "allow", written.BENIGN_INTROS, written.BENIGN_OUTROS, 24),
    ):
        for domain, steps in steps_by_domain.items():
            trained, held_steps = _split_list(steps, HELD_SENTENCE_SHARE, f"{source}:{domain}")
            for pool, held in ((trained, False), (held_steps, True)):
                for i in range(per_domain if not held else per_domain // 2):
                    chosen = rng.sample(pool, min(len(pool), rng.randint(1, 4)))
                    style = rng.randrange(3)
                    if style == 0:
                        body = "\n".join(f"{k + 1}. {s}" for k, s in enumerate(chosen))
                    elif style == 1:
                        body = "\n".join(f"Step {k + 1}: {s}" for k, s in enumerate(chosen))
                    else:
                        body = " ".join(chosen)
                    text = "\n".join(x for x in (rng.choice(intros), body, rng.choice(outros)) if x)
                    parts = tuple(chosen) if expected == "block" else ()
                    put(Doc(text, expected, "output", source, f"{source}:{domain}", parts), held)
    for materials, tails, source, expected, intros, outros, count in (
        (written.HARM_MATERIALS, written.HARM_TAILS, "written:recipe_output", "block",
         written.RECIPE_INTROS, written.RECIPE_OUTROS, 12),
        (written.BENIGN_MATERIALS, written.BENIGN_TAILS, "written:benign_instructions", "allow",
         written.BENIGN_INTROS, written.BENIGN_OUTROS, 12),
    ):  # fmt: skip
        trained_tails, held_tails = _split_list(tails, HELD_SENTENCE_SHARE, f"{source}:tails")
        _, held_materials = _split_list(list(materials), HELD_SHARE, f"{source}:materials")
        for material in materials:
            for i in range(count):
                held = material in held_materials or i >= count * 3 // 4
                pool = held_tails if held else trained_tails
                steps = [
                    f"{rng.choice(written.STEP_VERBS)} {rng.choice(written.STEP_AMOUNTS)} {material} {rng.choice(pool)}."
                    for _ in range(rng.randint(2, 4))
                ]
                numbered = rng.random() < 0.5
                body = "\n".join(f"{k + 1}. {s}" for k, s in enumerate(steps)) if numbered else " ".join(steps)
                text = "\n".join(x for x in (rng.choice(intros), body, rng.choice(outros)) if x)
                parts = tuple(steps) if expected == "block" else ()
                put(Doc(text, expected, "output", source, f"{source}:{material}", parts), held)
    for texts, expected, source in (
        (written.WHOLE_HARMFUL, "block", "written:whole_harmful"),
        (written.WHOLE_BENIGN, "allow", "written:whole_benign"),
    ):
        for text in texts:
            put(Doc(text, expected, "input", source, f"whole:{text}"), _sentence_held("whole", text))
    for texts, expected, source in (
        (written.FREEFORM_HARMFUL, "block", "written:freeform_harmful"),
        (written.FREEFORM_BENIGN, "allow", "written:freeform_benign"),
    ):
        validation += [Doc(text, expected, "input", source, f"freeform:{text}") for text in texts]
    return train, validation


def harmless_requests() -> list[tuple[str, str, bool]]:
    """The written harmless requests as ("task", infinitive phrase, held) or ("question", text, held), held as this
    split holds them: other heads (the injection head's everyday questions) train on the same part and validate on
    the same rest, so no row validated here is trained on there."""
    out = []
    for spec in TASK_REQUESTS:
        if spec.expected == "allow":
            for domain, tasks in spec.tasks.items():
                held = _held_tasks(spec.salt, domain, tasks)
                out += [("task", task, task in held) for task in tasks]
    out += [("question", q, _sentence_held("question", q)) for q in written.LOOKALIKE_QUESTIONS]
    out += [("question", t, _sentence_held("whole", t)) for t in written.WHOLE_BENIGN]
    return out


def harmless_request_shapes(rng: random.Random, per_task: int, skip: re.Pattern[str]) -> list[tuple[str, bool]]:
    """Each written harmless task in `per_task` of the request templates (plain and fiction) that `skip` does not
    match, as (text, held), held as this split holds it (its task or its template is held out): the request shapes
    members write ("Could you kindly tell me how I might ...", "Write a text-message conversation in which ...") on
    tasks no rail should stop."""
    templates = [t for t in (*written.PLAIN_TEMPLATES, *written.FICTION_TEMPLATES) if not skip.search(t)]
    held_templates = _templates_held(written.PLAIN_TEMPLATES, "plain") | _templates_held(written.FICTION_TEMPLATES, "fiction")
    out = []
    for spec in TASK_REQUESTS:
        if spec.expected == "allow":
            for domain, tasks in spec.tasks.items():
                held_tasks = _held_tasks(spec.salt, domain, tasks)
                for task in tasks:
                    out += [(t.format(t=task), task in held_tasks or t in held_templates) for t in rng.sample(templates, per_task)]
    return out


def benign_prompt_docs(rng: random.Random, data_dir: Path) -> tuple[list[Doc], list[Doc]]:
    """Benign rows of the other shared files, at most `BENIGN_PROMPTS_PER_FILE` distinct prompts each, cut to
    `BENIGN_PROMPT_CHARS` at a space (a persona prompt's first paragraph says what it asks)."""
    train, validation = [], []
    for name, (column, benign) in BENIGN_PROMPT_FILES.items():
        texts = distinct_column(required(data_dir / name), column, benign)
        for text in rng.sample(texts, min(BENIGN_PROMPTS_PER_FILE, len(texts))):
            if len(text) > BENIGN_PROMPT_CHARS:
                text = text[: text.rfind(" ", 0, BENIGN_PROMPT_CHARS)]
            doc = Doc(text, "allow", "input", "shared:benign_prompt", f"{name}:{text}", weight=BENIGN_PROMPT_WEIGHT)
            (validation if _held(f"{name}:{text}", HELD_SHARE) else train).append(doc)
    return train, validation


def generated_docs(generated: Path) -> tuple[list[Doc], list[Doc]]:
    """Training: each sentence of the trained generations; validation: each held generation whole."""
    train, validation = [], []
    for key, units in load_generated(generated):
        if _held(f"generated:{key}", HELD_SHARE):
            validation.append(Doc("\n".join(units), "allow", "output", "generated:story", f"generated:{key}"))
        else:
            train.extend(
                Doc(unit, "allow", "output", "generated:sentence", f"generated:{key}", weight=GENERATED_WEIGHT) for unit in units
            )
    return train, validation


@dataclass
class Split:
    """Training and validation docs, and how many rows of the Do-Not-Answer file went where."""

    train: list[Doc]
    validation: list[Doc]
    file_counts: Counter


def build_split(data: Path | None = None, data_dir: Path = SHARED_DATA, generated: Path = GENERATED_FICTION) -> Split:
    """The split the training script uses: the Do-Not-Answer rows of `data` (default `data_dir`/
    harmful_requests_train.csv), written examples, the bot's stories and the other shared files' benign prompts."""
    rng = random.Random(SEED)
    file_train, file_validation, counts = read_file_rows(data or data_dir / DATA_FILE)
    written_train, written_validation = written_docs(rng)
    generated_train, generated_validation = generated_docs(generated)
    prompts_train, prompts_validation = benign_prompt_docs(rng, data_dir)
    train = file_train + written_train + generated_train + prompts_train
    validation = file_validation + written_validation + generated_validation + prompts_validation
    trained = {normalize(d.text).lower() for d in train}
    validation = [d for d in validation if normalize(d.text).lower() not in trained]
    return Split(train, validation, counts)

