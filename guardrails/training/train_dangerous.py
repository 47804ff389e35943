"""Train the dangerous-instructions head: `python -m guardrails.training.train_dangerous`.

Writes guardrails/models/dangerous_head.{npz,json} and guardrails/data/dangerous_validation.csv.

Data:
- /work/shared/data/harmful_requests_train.csv (Do-Not-Answer, Wang et al. 2023): 938 harmful questions by risk area
  and type of harm. Which rows a creative-writing bot must refuse as *dangerous instructions* (`IN_SCOPE`): the
  Malicious Uses rows that ask how to do serious harm ("Assisting illegal activities": violence, terrorism, weapons
  trade, drugs and substance abuse, hacking and malware, illegitimate surveillance, financial crimes, sexual
  exploitation, animal cruelty), the Human-Chatbot "Self-Harm" rows (methods) and the Misinformation "Hazardous
  Activities" rows (bombs, poisons, drugs, disabling brakes). Those are positives (130 rows).
  Rows that are harmful but not instructions (`NEGATIVE_AREAS`: stereotypes and insults, adult content and graphic
  violence, rumours and propaganda, medical or legal advice, treating the bot as a human, questions about an
  organisation's or a person's private information) are negatives at a lower weight: the head must learn what is
  asked, not that a question sounds alarming; other rails (toxicity, misinformation) judge those. The rest
  (copyright, threats and intimidation, risky pranks, unsafe health practices, spam and disinformation campaigns,
  an organisation's cybersecurity weaknesses) are mixed or belong to other rails: neither trained on nor validated.
- Text this project wrote (`guardrails/training/dangerous_data.py`): requests for instructions for serious harm,
  plain and framed as fiction; outputs with a recipe's shape (steps, amounts, materials; written vague on purpose);
  harmless look-alikes (the same words: "kill a Python process", "a killer brownie"), writing prompts and sentences
  of dark fiction without a recipe, ordinary instructions with amounts and steps (baking, shell, photography).
- The bot's own stories (guardrails/data/generated_fiction.txt) as negatives, and ordinary prompts from the other
  shared files (`BENIGN_PROMPT_FILES`, benign rows only).

Split: 25% of the Do-Not-Answer rows (by text hash), 25% of the written harm tasks and look-alike tasks (by topic),
25% of the templates, 30% of written sentences and steps, and 25% of the bot's generations (whole) are held back
for validation; a written example whose task or template is held is validation. Thresholds (one per stage) are
chosen on out-of-fold predictions of the training part, folds by topic. Reproducible: fixed seeds, deterministic
torch, one thread for the head; embeddings cached under data/cache/ (gitignored).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.dangerous import (
    BOW_DIM,
    CATEGORY,
    CUE_NAMES,
    DEFAULT_HEAD_PATH,
    DangerousHead,
    DangerousRail,
    bow_features,
    cue_features,
    stage_windows,
)
from guardrails.encoder import ENCODER_ID, SentenceEncoder
from guardrails.normalize import normalize
from guardrails.training import dangerous_data as written
from guardrails.training.embedding_cache import CachingEncoder
from guardrails.training.generate_fiction import load_generated
from guardrails.verdict import Stage

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path("/work/shared/data/harmful_requests_train.csv")
SHARED = DEFAULT_DATA.parent
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
VALIDATION_CSV = REPO_ROOT / "guardrails" / "data" / "dangerous_validation.csv"
FICTION = REPO_ROOT / "guardrails" / "data" / "generated_fiction.txt"

HEAD_VERSION = "1.0"
SEED = 20261204
HELD_SHARE = 0.25
HELD_SENTENCE_SHARE = 0.3
HIDDEN = 64
EPOCHS = 25
BATCH = 128
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 5e-2
DROPOUT = 0.3
BOW_WEIGHT_DECAY = 1e-2
FOLDS = 5
OTHER_HARM_WEIGHT = 0.5
LOOKALIKE_WEIGHT = 1.5
"""Harmless look-alikes share templates and words with the harmful requests: they count a little more."""
GENERATED_WEIGHT = 1.0
THRESHOLD_GRID = np.round(np.concatenate([np.arange(0.2, 0.98, 0.01), [0.98, 0.985, 0.99, 0.993, 0.995, 0.997, 0.998, 0.999]]), 3)
MAX_BENIGN_FP = {"input": 0.05, "output": 0.03}
"""Per benign family, out-of-fold. Folds hold whole topics out, and a few adversarial look-alike topics ("take out
the trash", "kill someone in Call of Duty": every template of the topic at once) dominate the prompts' figure; at
3% the input threshold went to 0.99 and passed most requests scoring 0.95-0.98. The validation figures (held-out
topics and templates) are the ones to hold against the 3% target."""
MAX_GENERATED_FP = 0.01
"""Whole generated stories: at most this share blocked out-of-fold (the target is 2% on unseen ones)."""

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

ATTRIBUTION = {
    "Do-Not-Answer": "Wang et al. 2023, 'Do-Not-Answer: A Dataset for Evaluating Safeguards in LLMs' "
    "(LibrAI; copy in pmarruda/promptfoo 89d5c079), Apache-2.0",
    "deepset/prompt-injections": "https://huggingface.co/datasets/deepset/prompt-injections (train split, benign rows), Apache-2.0",
    "f/awesome-chatgpt-prompts": "https://github.com/f/awesome-chatgpt-prompts (2023-11), CC0-1.0",
    "rahulkolekardev/awesome-ai-prompts": "https://github.com/rahulkolekardev/awesome-ai-prompts (cfe79d8b), MIT",
    "TruthfulQA": "Lin et al., ACL 2022 (questions only; mirror benedictflorance/truthfulqa_experiments 6fdfd382), Apache-2.0",
}

BENIGN_FAMILIES = ("lookalike", "dark_fiction", "benign_instructions", "generated", "benign_prompts")
FAMILY_OF_SOURCE = {
    "do_not_answer:dangerous": "harmful_plain",
    "written:harm_plain": "harmful_plain",
    "written:harm_fiction": "harmful_fiction",
    "written:recipe_output": "recipe_output",
    "written:lookalike_request": "lookalike",
    "written:lookalike_fiction_request": "lookalike",
    "written:lookalike_question": "lookalike",
    "written:dark_request": "dark_fiction",
    "written:dark_sentence": "dark_fiction",
    "written:dark_passage": "dark_fiction",
    "written:benign_instructions": "benign_instructions",
    "generated:story": "generated",
    "generated:sentence": "generated",
    "do_not_answer:other_harm": "other_harm",
    "shared:benign_prompt": "benign_prompts",
}


@dataclass(slots=True)
class Doc:
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
    return int(hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest(), 16) % 1000 < share * 1000


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


def written_docs(rng: random.Random) -> tuple[list[Doc], list[Doc]]:
    train: list[Doc] = []
    validation: list[Doc] = []

    def put(doc: Doc, held: bool) -> None:
        (validation if held else train).append(doc)

    held_plain = _templates_held(written.PLAIN_TEMPLATES, "plain")
    held_fiction = _templates_held(written.FICTION_TEMPLATES, "fiction")
    for domain, tasks in written.HARM_TASKS.items():
        _, held_tasks = _split_list(tasks, HELD_SHARE, f"harm:{domain}")
        for task in tasks:
            for template in rng.sample(written.PLAIN_TEMPLATES, 6):
                held = task in held_tasks or template in held_plain
                put(Doc(template.format(t=task), "block", "input", "written:harm_plain", f"harm:{task}", (task,)), held)
            for template in rng.sample(written.FICTION_TEMPLATES, 5):
                held = task in held_tasks or template in held_fiction
                put(Doc(template.format(t=task), "block", "input", "written:harm_fiction", f"harm:{task}", (task,)), held)
    fiction_domains = ("computing", "filmmaking", "cooking", "everyday", "figurative")
    for domain, tasks in written.LOOKALIKE_TASKS.items():
        _, held_tasks = _split_list(tasks, HELD_SHARE, f"lookalike:{domain}")
        for task in tasks:
            for template in rng.sample(written.PLAIN_TEMPLATES, 10):
                held = task in held_tasks or template in held_plain
                doc = Doc(template.format(t=task), "allow", "input", "written:lookalike_request", f"look:{task}",
                          weight=LOOKALIKE_WEIGHT)  # fmt: skip
                put(doc, held)
            if domain in fiction_domains:
                for template in rng.sample(written.FICTION_TEMPLATES, 4):
                    held = task in held_tasks or template in held_fiction
                    doc = Doc(template.format(t=task), "allow", "input", "written:lookalike_fiction_request", f"look:{task}",
                              weight=LOOKALIKE_WEIGHT)  # fmt: skip
                    put(doc, held)
    for question in written.LOOKALIKE_QUESTIONS:
        held = _held(f"question:{question}", HELD_SENTENCE_SHARE)
        put(Doc(question, "allow", "input", "written:lookalike_question", f"question:{question}", weight=LOOKALIKE_WEIGHT), held)

    held_dark_templates = _templates_held(written.DARK_REQUEST_TEMPLATES, "dark")
    for theme, events in written.DARK_EVENTS.items():
        _, held_events = _split_list(events, HELD_SHARE, f"dark:{theme}")
        for event in events:
            for template in rng.sample(written.DARK_REQUEST_TEMPLATES, 4):
                held = event in held_events or template in held_dark_templates
                put(Doc(template.format(e=event), "allow", "input", "written:dark_request", f"dark:{event}"), held)
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
    return train, validation


def benign_prompt_docs(rng: random.Random) -> tuple[list[Doc], list[Doc]]:
    """Benign rows of the other shared files, at most `BENIGN_PROMPTS_PER_FILE` distinct prompts each, cut to
    `BENIGN_PROMPT_CHARS` at a space (a persona prompt's first paragraph says what it asks)."""
    train, validation = [], []
    for name, (column, benign) in BENIGN_PROMPT_FILES.items():
        path = SHARED / name
        if not path.exists():
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            texts = list(dict.fromkeys(row[column].strip() for row in csv.DictReader(handle) if benign(row) and row[column].strip()))
        for text in rng.sample(texts, min(BENIGN_PROMPTS_PER_FILE, len(texts))):
            if len(text) > BENIGN_PROMPT_CHARS:
                text = text[: text.rfind(" ", 0, BENIGN_PROMPT_CHARS)]
            doc = Doc(text, "allow", "input", "shared:benign_prompt", f"{name}:{text}", weight=BENIGN_PROMPT_WEIGHT)
            (validation if _held(f"{name}:{text}", HELD_SHARE) else train).append(doc)
    return train, validation


def generated_docs() -> tuple[list[Doc], list[Doc]]:
    """Training: each sentence of the trained generations; validation: each held generation whole."""
    train, validation = [], []
    for key, units in load_generated(FICTION):
        if _held(f"generated:{key}", HELD_SHARE):
            validation.append(Doc("\n".join(units), "allow", "output", "generated:story", f"generated:{key}"))
        else:
            train.extend(
                Doc(unit, "allow", "output", "generated:sentence", f"generated:{key}", weight=GENERATED_WEIGHT) for unit in units
            )
    return train, validation


@dataclass
class Split:
    train: list[Doc]
    validation: list[Doc]
    file_counts: Counter


def build_split(data: Path) -> Split:
    rng = random.Random(SEED)
    file_train, file_validation, counts = read_file_rows(data)
    written_train, written_validation = written_docs(rng)
    generated_train, generated_validation = generated_docs()
    prompts_train, prompts_validation = benign_prompt_docs(rng)
    train = file_train + written_train + generated_train + prompts_train
    validation = file_validation + written_validation + generated_validation + prompts_validation
    trained = {normalize(d.text).lower() for d in train}
    validation = [d for d in validation if normalize(d.text).lower() not in trained]
    return Split(train, validation, counts)


# ---------------------------------------------------------------------------------------------------------------
# Windows, labels, features
# ---------------------------------------------------------------------------------------------------------------
def labelled_windows(doc: Doc) -> list[tuple[str, int | None]]:
    """(normalised window, label or None: not trained on) for every window the rail scores on this doc."""
    out = []
    for window in stage_windows(doc.text, doc.stage):
        normalised = normalize(window)
        if not normalised:
            continue
        if doc.expected == "allow":
            label: int | None = 0
        elif not doc.positive_parts:
            label = 1
        elif any(part in window for part in doc.positive_parts):
            label = 1
        else:
            label = 0 if doc.stage == "output" else None
        out.append((normalised, label))
    return out


def features(encoder: CachingEncoder, texts: list[str]) -> np.ndarray:
    """[embedding, cue features, hashed words] per text."""
    if not texts:
        return np.zeros((0, encoder.dim + len(CUE_NAMES) + BOW_DIM), dtype=np.float32)
    cues = np.stack([cue_features(t) for t in texts])
    bows = np.stack([bow_features(t) for t in texts])
    return np.concatenate([encoder.encode(texts), cues, bows], axis=1).astype(np.float32)


def training_matrix(docs: list[Doc], encoder: CachingEncoder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    texts, ys, ws = [], [], []
    for doc in docs:
        for normalised, label in labelled_windows(doc):
            if label is not None:
                texts.append(normalised)
                ys.append(label)
                ws.append(doc.weight)
    return features(encoder, texts), np.array(ys, dtype=np.float32), np.array(ws, dtype=np.float32)


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = SEED) -> DangerousHead:
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    w = w.astype(np.float32).copy()
    for label in (0, 1):  # the classes carry the same total weight
        mask = y == label
        w[mask] *= 0.5 * w.sum() / max(w[mask].sum(), 1e-9)
    xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, w))
    dense = x.shape[1] - BOW_DIM
    model = torch.nn.Sequential(
        torch.nn.Linear(dense, HIDDEN), torch.nn.ReLU(), torch.nn.Dropout(DROPOUT), torch.nn.Linear(HIDDEN, 1)
    )
    words = torch.nn.Linear(BOW_DIM, 1, bias=False)
    torch.nn.init.zeros_(words.weight)
    optimiser = torch.optim.AdamW(
        [{"params": model.parameters()}, {"params": words.parameters(), "weight_decay": BOW_WEIGHT_DECAY}],
        lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
    )  # fmt: skip
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            batch = xt[idx]
            logits = model(batch[:, :dense])[:, 0] + words(batch[:, dense:])[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx], weight=wt[idx], reduction="sum")
            loss = loss / wt[idx].sum().clamp(min=1e-9)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    first, last = model[0], model[3]
    return DangerousHead(
        w1=first.weight.detach().numpy().T.copy(),
        b1=first.bias.detach().numpy().copy(),
        w2=last.weight.detach().numpy().T.copy(),
        b2=last.bias.detach().numpy().copy(),
        wb=words.weight.detach().numpy().reshape(-1).copy(),
    )


def doc_scores(head: DangerousHead, docs: list[Doc], encoder: CachingEncoder) -> np.ndarray:
    """The rail's score per doc (max over its windows), windows not trained on included."""
    per_doc = [[n for n, _ in labelled_windows(d)] for d in docs]
    flat = list(dict.fromkeys(n for ns in per_doc for n in ns))
    x = features(encoder, flat)
    dense = encoder.dim + len(CUE_NAMES)
    scored = head.probabilities(x[:, : encoder.dim], x[:, encoder.dim : dense], x[:, dense:])
    probs = dict(zip(flat, scored.tolist(), strict=True))
    return np.array([max((probs[n] for n in ns), default=0.0) for ns in per_doc])


def fold_of(key: str) -> int:
    return int(hashlib.sha256(f"fold:{key}".encode()).hexdigest(), 16) % FOLDS


def out_of_fold(docs: list[Doc], encoder: CachingEncoder) -> tuple[list[Doc], np.ndarray]:
    """Out-of-fold scores. Generated sentences are scored as whole generations (what the targets count)."""
    folds = np.array([fold_of(d.group) for d in docs])
    scored_docs: list[Doc] = []
    scores: list[float] = []
    for fold in range(FOLDS):
        held = folds == fold
        x, y, w = training_matrix([d for d, h in zip(docs, held, strict=True) if not h], encoder)
        head = fit_head(x, y, w, seed=SEED + fold)
        fold_docs = [d for d, h in zip(docs, held, strict=True) if h]
        stories: dict[str, list[str]] = defaultdict(list)
        others = []
        for d in fold_docs:
            if d.source == "generated:sentence":
                stories[d.group].append(d.text)
            else:
                others.append(d)
        others += [Doc("\n".join(units), "allow", "output", "generated:story", key) for key, units in stories.items()]
        scored_docs += others
        scores += doc_scores(head, others, encoder).tolist()
    return scored_docs, np.array(scores)


def tune_threshold(docs: list[Doc], scores: np.ndarray, stage: Stage) -> tuple[float, dict]:
    on_stage = np.array([d.stage == stage for d in docs])
    families = np.array([d.family for d in docs])
    harmful = on_stage & np.array([d.expected == "block" for d in docs])
    benign = {f: on_stage & (families == f) for f in BENIGN_FAMILIES if (on_stage & (families == f)).any()}
    rows = []
    for t in THRESHOLD_GRID:
        blocked = scores >= t
        fps = {f: float(blocked[mask].mean()) for f, mask in benign.items()}
        ok = all(v <= (MAX_GENERATED_FP if f == "generated" else MAX_BENIGN_FP[stage]) for f, v in fps.items())
        rows.append((float(t), float(blocked[harmful].mean()), fps, ok))
    feasible = [r for r in rows if r[3]] or [min(rows, key=lambda r: sum(r[2].values()))]
    best = max(r[1] for r in feasible)
    near = [r for r in feasible if r[1] >= best - 0.005]
    chosen = near[len(near) // 2]
    return chosen[0], {
        "threshold": chosen[0], "recall": round(chosen[1], 4), "harmful": int(harmful.sum()),
        "false_block_by_family": {f: round(v, 4) for f, v in chosen[2].items()},
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Validation through the rail
# ---------------------------------------------------------------------------------------------------------------
def evaluate(rail: DangerousRail, docs: list[Doc], batch: int = 64) -> dict:
    outcome: dict[int, bool] = {}
    for stage in ("input", "output"):
        idx = [i for i, d in enumerate(docs) if d.stage == stage]
        for start in range(0, len(idx), batch):
            part = idx[start : start + batch]
            verdicts = rail.check([docs[i].text for i in part], stage)  # type: ignore[arg-type]
            outcome.update({i: v.decision == "block" for i, v in zip(part, verdicts, strict=True)})
    blocked = [outcome[i] for i in range(len(docs))]
    by_family: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d, b in zip(docs, blocked, strict=True):
        for table, key in ((by_family, d.family), (by_source, d.source)):
            table[key][0] += int(b)
            table[key][1] += 1

    def rates(table: dict[str, list[int]]) -> dict:
        return {k: {"blocked": b, "rows": n, "share_blocked": round(b / n, 4)} for k, (b, n) in sorted(table.items())}

    return {"by_family": rates(by_family), "by_source": rates(by_source)}


def write_validation_csv(docs: list[Doc], path: Path) -> None:
    """`storyloom eval` reads text, expected and stage; family and source say what each row is. Do-Not-Answer rows
    that are harmful in other ways (other rails' business) are left out: their expected outcome is not this rail's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "expected", "stage", "family", "source"])
        for d in docs:
            if d.family != "other_harm":
                writer.writerow([d.text, d.expected, d.stage, d.family, d.source])


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def written_digest() -> str:
    module = Path(written.__file__)
    return hashlib.sha256(module.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD_PATH)
    parser.add_argument("--validation-csv", type=Path, default=VALIDATION_CSV)
    args = parser.parse_args(argv)

    import torch

    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    split = build_split(args.data)
    print(f"train {len(split.train)} docs, validation {len(split.validation)}; file rows {dict(split.file_counts)}", flush=True)
    encoder = CachingEncoder(SentenceEncoder(precision="float32"), "dangerous_embeddings", "v1")
    threads = torch.get_num_threads()
    try:
        x, y, w = training_matrix(split.train, encoder)
        print(f"windows: {len(y)} ({int(y.sum())} positive)", flush=True)
        torch.set_num_threads(1)  # the head is tiny; one thread keeps training bit-for-bit reproducible
        oof_docs, oof = out_of_fold(split.train, encoder)
        thresholds, oof_summary = {}, {}
        for stage in ("input", "output"):
            thresholds[stage], oof_summary[stage] = tune_threshold(oof_docs, oof, stage)  # type: ignore[arg-type]
        print(f"thresholds {thresholds} (out-of-fold: {json.dumps(oof_summary)})", flush=True)
        trained = fit_head(x, y, w)
        torch.set_num_threads(threads)
        # Shipped as float16: validation is measured on the weights as they will be read back.
        stored = {name: value.astype(np.float16) for name, value in trained.arrays().items()}
        read_back = {name: value.astype(np.float32) for name, value in stored.items()}
        head = DangerousHead(w1=read_back["w1"], b1=read_back["b1"], w2=read_back["w2"], b2=read_back["b2"],
                             wb=read_back["wb"], thresholds=thresholds, version=HEAD_VERSION, encoder_id=ENCODER_ID)  # fmt: skip
        rail = DangerousRail(encoder, head)  # type: ignore[arg-type]
        metrics = evaluate(rail, split.validation)
    finally:
        encoder.save()
    print(json.dumps(metrics["by_family"], indent=1), flush=True)
    print(json.dumps(metrics["by_source"], indent=1), flush=True)

    write_validation_csv(split.validation, args.validation_csv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **stored)
    meta = {
        "version": HEAD_VERSION,
        "model": f"MLP ({encoder.dim} + {len(CUE_NAMES)})-{HIDDEN}-1 (ReLU) over [sentence-window embedding, "
        f"cue features {list(CUE_NAMES)}], plus a linear term over {BOW_DIM} hashed word unigrams and bigrams, "
        "sigmoid; weights stored as float16; rail score = max over windows (prompts: sentences "
        "and neighbouring pairs; output: sentences)",
        "encoder": ENCODER_ID,
        "categories": [CATEGORY],
        "thresholds": thresholds,
        "thresholds_meaning": (
            "block when the text's score >= the threshold of its stage. Chosen on out-of-fold predictions of the "
            f"training part (folds by topic, grid {THRESHOLD_GRID[0]}-{THRESHOLD_GRID[-1]}): at most "
            f"{MAX_BENIGN_FP['input']:.0%} false blocks in each benign family of the stage and "
            f"{MAX_GENERATED_FP:.0%} of the bot's whole generations, then the most recall (middle of the ties). Ratings "
            "do not move them; a moderator may only lower them."
        ),
        "scope": {
            "do_not_answer_positives": list(IN_SCOPE),
            "do_not_answer_negatives": {area: f"all but {list(excluded)}" if excluded else "all"
                                        for area, excluded in NEGATIVE_AREAS.items()},
            "do_not_answer_unused": "the other Malicious Uses rows (copyright, threats and intimidation, risky pranks, "
            "unsafe health practices, defamation, cyberbullying, trolling, spam, disinformation) and Information "
            "Hazards' cybersecurity-vulnerability questions: mixed, or other rails' categories",
            "file_rows": dict(split.file_counts),
        },  # fmt: skip
        "caveat": (
            "Validation rows were never trained on nor used for the thresholds, but written validation rows come from "
            "the same hand (held-out tasks, templates and sentences of the same lists), so their numbers are "
            "optimistic for unseen wording. The Do-Not-Answer rows held back are the most independent figure."
        ),
        "training": {
            "command": "python -m guardrails.training.train_dangerous",
            "seed": SEED, "epochs": EPOCHS, "hidden": HIDDEN, "dropout": DROPOUT, "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY, "folds_for_threshold": FOLDS, "other_harm_weight": OTHER_HARM_WEIGHT,
            "docs": dict(sorted(Counter(d.source for d in split.train).items())),
            "windows": int(len(y)), "positive_windows": int(y.sum()),
        },  # fmt: skip
        "data": {
            "harmful_requests_train": {"file": args.data.name, "sha256": sha256_file(args.data)},
            "written_examples": {"module": "guardrails/training/dangerous_data.py", "sha256": written_digest()},
            "generated_fiction": {"file": "guardrails/data/generated_fiction.txt", "sha256": sha256_file(FICTION)},
            "benign_prompts": {name: {"sha256": sha256_file(SHARED / name), "column": column}
                               for name, (column, _) in BENIGN_PROMPT_FILES.items() if (SHARED / name).exists()},
            "validation": {"file": "guardrails/data/dangerous_validation.csv", "sha256": sha256_file(args.validation_csv),
                           "rows": sum(d.family != "other_harm" for d in split.validation)},
        },  # fmt: skip
        "metrics": {"validation_at_threshold": metrics, "out_of_fold_train": oof_summary},
        "metric_notes": (
            "Measured through the rail (normalise, windows, max). share_blocked per family: harmful_plain (Do-Not-Answer "
            "rows in scope and written plain requests), harmful_fiction (requests framed as stories, poems, role-play), "
            "recipe_output (outputs with harmful steps), lookalike (harmless questions and prompts with the same words), "
            "dark_fiction (writing prompts, sentences and passages depicting harm without a recipe), benign_instructions "
            "(outputs with amounts and steps for harmless things), generated (the bot's own held-out stories, whole), "
            "benign_prompts (benign rows of the other shared files: deepset questions, persona prompts, TruthfulQA "
            "questions), other_harm (Do-Not-Answer rows harmful in other ways: not this rail's category)."
        ),
        "attribution": ATTRIBUTION,
        "license_note": "Do-Not-Answer, deepset, TruthfulQA: Apache-2.0; awesome-chatgpt-prompts: CC0-1.0; "
        "awesome-ai-prompts: MIT. Written examples and generated fiction: part of this project.",
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
