"""Train the dangerous-instructions head: `python -m training.train_dangerous [--data-dir DIR] [--data CSV] [--out NPZ]`.

Writes guardrails/models/dangerous_head.{npz,json} and guardrails/data/dangerous_validation.csv.

Data:
- `harmful_requests_train.csv` from `--data-dir` (default `../shared/data`) or `--data` (Do-Not-Answer, Wang et al.
  2023): 938 harmful questions by risk area and type of harm. Which rows a creative-writing bot must refuse as
  *dangerous instructions* (`IN_SCOPE`): the Malicious Uses rows that ask how to do serious harm ("Assisting illegal
  activities": violence, terrorism, weapons trade, drugs and substance abuse, hacking and malware, illegitimate
  surveillance, financial crimes, sexual exploitation, animal cruelty), the Human-Chatbot "Self-Harm" rows (methods)
  and the Misinformation "Hazardous Activities" rows (bombs, poisons, drugs, disabling brakes). Those are positives
  (130 rows). Rows that are harmful but not instructions (`NEGATIVE_AREAS`: stereotypes and insults, adult content
  and graphic violence, rumours and propaganda, medical or legal advice, treating the bot as a human, questions
  about an organisation's or a person's private information) are negatives at a lower weight: the head must learn
  what is asked, not that a question sounds alarming; other rails (toxicity, misinformation) judge those. The rest
  (copyright, threats and intimidation, risky pranks, unsafe health practices, spam and disinformation campaigns, an
  organisation's cybersecurity weaknesses) are mixed or belong to other rails: neither trained on nor validated.
- Text this project wrote (`training/dangerous_data.py`): 1,084 harm tasks in 18 domains in 108 plain and 76
  fiction request templates; 1,449 harmless look-alike tasks (the same words or objects: "kill a Python process",
  "a killer brownie", "bleed a radiator") and 305 ordinary tasks in the same templates; whole requests in free
  shapes, harmful and harmless (intent then a question, "continue this", personas, code, one-liners); bare story
  premises (what `/write ... about:` sends the input rails: "a witch brewing poison for the king"); outputs
  with a recipe's shape (steps, amounts, materials; written vague on purpose); writing prompts and sentences of
  dark fiction without a recipe; ordinary instructions with amounts and steps (baking, shell, photography).
  `FREEFORM_*` requests are validation only: free phrasing the templates never produced.
- The bot's own stories (guardrails/data/generated_fiction.txt) as negatives, and ordinary prompts from the other
  shared files (`BENIGN_PROMPT_FILES` in `--data-dir`, benign rows only).

The split is built in `training.dangerous_split`.

Split: 25% of the Do-Not-Answer rows (by text hash), 25% of the written harm, look-alike and ordinary tasks (by
topic), 25% of the templates, 30% of written sentences, steps and whole requests, 25% of the bot's generations
(whole) and every freeform request are held back for validation; a written example whose task or template is held is validation. Thresholds (one per stage) are
chosen on out-of-fold predictions of the training part, folds by topic. Reproducible: fixed seeds, deterministic
torch, one thread for the head; embeddings cached under data/cache/ (gitignored).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.modeling.dangerous import (
    BOW_DIM,
    CUE_NAMES,
    DEFAULT_HEAD_PATH,
    DangerousHead,
    bow_features,
    cue_features,
)
from guardrails.modeling.encoder import ENCODER_ID, SentenceEncoder
from guardrails.rail import Stage
from guardrails.rails.dangerous import CATEGORY, DangerousRail, stage_windows
from guardrails.text.normalize import normalize
from training import dangerous_data as written
from training import loop
from training.dangerous_split import (
    BENIGN_PROMPT_FILES,
    DATA_FILE,
    IN_SCOPE,
    NEGATIVE_AREAS,
    OTHER_HARM_WEIGHT,
    SEED,
    Doc,
    build_split,
)
from training.embedding_cache import CachingTokenEncoder
from training.paths import GUARDRAILS_DATA, head_arguments

VALIDATION_CSV = GUARDRAILS_DATA / "dangerous_validation.csv"
HEAD_VERSION = "2.0"
HIDDEN = 64
EPOCHS = 25
BATCH = 128
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 5e-2
DROPOUT = 0.4
TOKEN_DROPOUT = 0.15
EXTRA_WEIGHT_DECAY = 1e-2
FOLDS = 10
THRESHOLD_GRID = np.round(np.concatenate([np.arange(0.2, 0.98, 0.01), [0.98, 0.985, 0.99, 0.993, 0.995, 0.997, 0.998, 0.999]]), 3)
MAX_BENIGN_FP = {"input": 0.05, "output": 0.03}
"""Per benign family, out-of-fold. Folds hold whole topics out, and a few adversarial look-alike topics ("take out
the trash", "kill someone in Call of Duty": every template of the topic at once) dominate the prompts' figure; at
3% the input threshold went to 0.99 and passed most requests scoring 0.95-0.98. The validation figures (held-out
topics and templates) are the ones to hold against the 3% target."""
MAX_OWN_WORK_FP = {"generated": 0.01, "premise": 0.02}
"""The bot's own work, out of fold: its whole generated stories (the target is 2% on unseen ones) and bare story
premises, what members type after "/write story about:" ("a witch brewing poison for the king")."""

ATTRIBUTION = {
    "Do-Not-Answer": "Wang et al. 2023, 'Do-Not-Answer: A Dataset for Evaluating Safeguards in LLMs' "
    "(LibrAI; copy in pmarruda/promptfoo 89d5c079), Apache-2.0",
    "deepset/prompt-injections": "https://huggingface.co/datasets/deepset/prompt-injections (train split, benign rows), Apache-2.0",
    "f/awesome-chatgpt-prompts": "https://github.com/f/awesome-chatgpt-prompts (2023-11), CC0-1.0",
    "rahulkolekardev/awesome-ai-prompts": "https://github.com/rahulkolekardev/awesome-ai-prompts (cfe79d8b), MIT",
    "TruthfulQA": "Lin et al., ACL 2022 (questions only; mirror benedictflorance/truthfulqa_experiments 6fdfd382), Apache-2.0",
}

BENIGN_FAMILIES = (
    "lookalike", "ordinary_request", "benign_whole", "premise", "dark_fiction", "benign_instructions", "generated",
    "benign_prompts",
)

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


@dataclass
class Windows:
    """Training rows: each window's token states and [cue features, hashed words], its label and weight."""

    states: list[np.ndarray]
    extra: np.ndarray
    y: np.ndarray
    w: np.ndarray


def extra_features(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(cue features, hashed words) per text, as the rail computes them."""
    cues = np.stack([cue_features(t) for t in texts]).astype(np.float32)
    bows = np.stack([bow_features(t) for t in texts]).astype(np.float32)
    return cues, bows


def trained_windows(docs: list[Doc]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The windows trained on (label known), and per window its label, loss weight and doc index."""
    texts, ys, ws, doc_of = [], [], [], []
    for i, doc in enumerate(docs):
        for normalised, label in labelled_windows(doc):
            if label is not None:
                texts.append(normalised)
                ys.append(label)
                ws.append(doc.weight)
                doc_of.append(i)
    return texts, np.array(ys, dtype=np.float32), np.array(ws, dtype=np.float32), np.array(doc_of, dtype=np.int32)


def scored_windows(docs: list[Doc]) -> list[str]:
    """Every window the rail scores on `docs` (not trained on included), once each, in order."""
    return list(dict.fromkeys(n for d in docs for n, _ in labelled_windows(d)))


def training_windows(docs: list[Doc], encoder: CachingTokenEncoder) -> Windows:
    texts, ys, ws, _ = trained_windows(docs)
    extra = np.concatenate(extra_features(texts), axis=1)
    return Windows(encoder.encode_tokens(texts), extra, ys, ws)


def fit_head(rows: Windows, seed: int = SEED) -> DangerousHead:
    settings = loop.MLPSettings(
        HIDDEN, EPOCHS, BATCH, LEARNING_RATE, WEIGHT_DECAY, DROPOUT, words_weight_decay=EXTRA_WEIGHT_DECAY, token_dropout=TOKEN_DROPOUT
    )
    weights = loop.balance_classes(rows.y, rows.w)
    return DangerousHead(loop.fit_token_head(rows.states, rows.y, weights, settings, seed, loop.weighted_mean_loss, rows.extra))


def doc_scores(head: DangerousHead, docs: list[Doc], encoder: CachingTokenEncoder) -> np.ndarray:
    """The rail's score per doc (max over its windows), windows not trained on included."""
    per_doc = [[n for n, _ in labelled_windows(d)] for d in docs]
    flat = list(dict.fromkeys(n for ns in per_doc for n in ns))
    scored = head.probabilities(encoder.encode_tokens(flat), *extra_features(flat)) if flat else np.zeros(0)
    probs = dict(zip(flat, scored.tolist(), strict=True))
    return np.array([max((probs[n] for n in ns), default=0.0) for ns in per_doc])


def out_of_fold(docs: list[Doc], encoder: CachingTokenEncoder) -> tuple[list[Doc], np.ndarray]:
    """Out-of-fold scores. Generated sentences are scored as whole generations (what the targets count)."""
    folds = np.array([loop.fold_of(f"fold:{d.group}", FOLDS) for d in docs])
    scored_docs: list[Doc] = []
    scores: list[float] = []
    for fold, held in loop.fold_masks(folds, range(FOLDS)):
        head = fit_head(training_windows([d for d, h in zip(docs, held, strict=True) if not h], encoder), seed=SEED + fold)
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


def tune_threshold(
    docs: list[Doc], scores: np.ndarray, stage: Stage, benign_limit: float | None = None, grid: np.ndarray = THRESHOLD_GRID
) -> tuple[float, dict]:
    """The rule: each benign family of the stage within its limit (`MAX_OWN_WORK_FP`, else `benign_limit` or
    `MAX_BENIGN_FP`), then the most recall."""
    on_stage = np.array([d.stage == stage for d in docs])
    families = np.array([d.family for d in docs])
    harmful = on_stage & np.array([d.expected == "block" for d in docs])
    benign = {f: on_stage & (families == f) for f in BENIGN_FAMILIES if (on_stage & (families == f)).any()}
    limits = {f: MAX_OWN_WORK_FP.get(f, benign_limit or MAX_BENIGN_FP[stage]) for f in benign}
    chosen = loop.choose_threshold(scores, grid, harmful, benign, limits)
    return chosen.threshold, {
        "threshold": chosen.threshold, "recall": round(chosen.recall, 4), "harmful": int(harmful.sum()),
        "false_block_by_family": {f: round(v, 4) for f, v in chosen.false_blocks.items()},
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Validation through the rail
# ---------------------------------------------------------------------------------------------------------------
def evaluate(rail: DangerousRail, docs: list[Doc], batch: int = 64) -> dict:
    outcome: dict[int, bool] = {}
    for stage in ("input", "output"):
        idx = [i for i, d in enumerate(docs) if d.stage == stage]
        outcome.update(zip(idx, loop.rail_blocks(rail, [docs[i].text for i in idx], stage, batch), strict=True))
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


def validation_rows(docs: list[Doc]) -> list[tuple[str, str, str, str, str]]:
    """`storyloom eval` reads text, expected and stage; family and source say what each row is. Do-Not-Answer rows
    that are harmful in other ways (other rails' business) are left out: their expected outcome is not this rail's."""
    return [(d.text, d.expected, d.stage, d.family, d.source) for d in docs if d.family != "other_harm"]


def written_digest() -> str:
    return loop.sha256_file(Path(written.__file__))


def main(argv: list[str] | None = None) -> int:
    shared_files = "the shared training files: the Do-Not-Answer rows and the files of BENIGN_PROMPT_FILES"
    args = head_arguments(argv, __doc__.splitlines()[0], DATA_FILE, shared_files, DEFAULT_HEAD_PATH, VALIDATION_CSV)

    loop.deterministic()
    started = time.perf_counter()
    split = build_split(args.data, args.data_dir, args.generated)
    print(f"train {len(split.train)} docs, validation {len(split.validation)}; file rows {dict(split.file_counts)}", flush=True)
    encoder = CachingTokenEncoder(SentenceEncoder(precision="float32"), "dangerous", "v2")
    try:
        rows = training_windows(split.train, encoder)
        print(f"windows: {len(rows.y)} ({int(rows.y.sum())} positive)", flush=True)
        with loop.one_thread():
            oof_docs, oof = out_of_fold(split.train, encoder)
            thresholds, oof_summary = {}, {}
            for stage in ("input", "output"):
                thresholds[stage], oof_summary[stage] = tune_threshold(oof_docs, oof, stage)  # type: ignore[arg-type]
            print(f"thresholds {thresholds} (out-of-fold: {json.dumps(oof_summary)})", flush=True)
            trained = fit_head(rows)
        # Shipped as float16: validation is measured on the weights as they will be read back.
        stored = {name: value.astype(np.float16) for name, value in trained.arrays().items()}
        read_back = {name: value.astype(np.float32) for name, value in stored.items()}
        head = DangerousHead(read_back, thresholds=thresholds, version=HEAD_VERSION, encoder_id=ENCODER_ID)
        rail = DangerousRail(encoder, head, requests=False)  # type: ignore[arg-type]
        metrics = evaluate(rail, split.validation)
    finally:
        encoder.save()
    print(json.dumps(metrics["by_family"], indent=1), flush=True)
    print(json.dumps(metrics["by_source"], indent=1), flush=True)

    loop.write_csv(args.validation_csv, ["text", "expected", "stage", "family", "source"], validation_rows(split.validation))
    meta = {
        "version": HEAD_VERSION,
        "model": f"attention head over the window's token states ({encoder.dim}-{HIDDEN} ReLU per token, softmax "
        f"attention pool and mean pool -> 1), plus a linear term over cue features {list(CUE_NAMES)} and {BOW_DIM} "
        "hashed word unigrams and bigrams, sigmoid; weights stored as float16; rail score = max over windows (prompts: sentences "
        "and neighbouring pairs; output: sentences)",
        "encoder": ENCODER_ID,
        "categories": [CATEGORY],
        "thresholds": thresholds,
        "thresholds_meaning": (
            "block when the text's score >= the threshold of its stage. Chosen on out-of-fold predictions of the "
            f"training part (folds by topic, grid {THRESHOLD_GRID[0]}-{THRESHOLD_GRID[-1]}): at most "
            f"{MAX_BENIGN_FP['input']:.0%} false blocks in each benign family of the stage and "
            f"{MAX_OWN_WORK_FP['generated']:.0%} of the bot's whole generations and {MAX_OWN_WORK_FP['premise']:.0%} of bare "
            "story premises, then the most recall (middle of the ties). Ratings "
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
            "command": "python -m training.train_dangerous",
            "seed": SEED, "epochs": EPOCHS, "hidden": HIDDEN, "dropout": DROPOUT, "token_dropout": TOKEN_DROPOUT, "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY, "folds_for_threshold": FOLDS, "other_harm_weight": OTHER_HARM_WEIGHT,
            "docs": dict(sorted(Counter(d.source for d in split.train).items())),
            "windows": int(len(rows.y)), "positive_windows": int(rows.y.sum()),
        },  # fmt: skip
        "data": {
            "harmful_requests_train": {"file": args.data.name, "sha256": loop.sha256_file(args.data)},
            "written_examples": {"module": "training/dangerous_data.py", "sha256": written_digest()},
            "generated_fiction": {"file": "guardrails/data/generated_fiction.txt", "sha256": loop.sha256_file(args.generated)},
            "benign_prompts": {name: {"sha256": loop.sha256_file(args.data_dir / name), "column": column}
                               for name, (column, _) in BENIGN_PROMPT_FILES.items()},
            "validation": {"file": "guardrails/data/dangerous_validation.csv", "sha256": loop.sha256_file(args.validation_csv),
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
            "questions), other_harm (Do-Not-Answer rows harmful in other ways: not this rail's category), "
            "ordinary_request (everyday tasks in the request templates), premise (bare story premises, as typed after "
            "/write ... about:), harmful_whole / benign_whole (whole requests in free shapes, 30% held), "
            "harmful_freeform / benign_freeform (requests written apart from every list and template: validation only)."
        ),
        "attribution": ATTRIBUTION,
        "license_note": "Do-Not-Answer, deepset, TruthfulQA: Apache-2.0; awesome-chatgpt-prompts: CC0-1.0; "
        "awesome-ai-prompts: MIT. Written examples and generated fiction: part of this project.",
    }
    loop.write_head(args.out, stored, meta)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
