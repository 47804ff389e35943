"""Train the prompt-injection head: `python -m training.train_injection [--data-dir DIR] [--data CSV] [--out NPZ]`.

Writes guardrails/models/injection_head.{npz,json} and guardrails/data/injection_validation.csv.

Data (`training.injection_split`): `injection_train.csv` from `--data-dir` (default `../shared/data`) or `--data`
(deepset/prompt-injections, awesome-chatgpt-prompts, jailbreak_llms) plus examples written for the project
(`training.injection_data`: benign role-play and creative requests in English and German, short attacks in English
and German), long benign prompts made by concatenating benign requests, and attacks hidden in them.

Label cleaning (SOURCES.md: about 237 jailbreak rows are plain role-play personas):
- a jailbreak row counts as an attack only if it has an attack marker (`ROW_MARKERS`: override verbs aimed at
  instructions/rules/policy, DAN, developer mode, jailbreak, unfiltered, content policy, OpenAI, refusing, ...).
  Rows without one (exactly the ~237) are dropped: neither trained on nor validated;
- the rail scores windows (sentences and neighbouring pairs) and takes the max, so training is per window: in an
  attack row only the windows with an attack marker (`WINDOW_MARKERS`) are positives, its other windows (the
  persona description around the attack) are not trained on at all; every window of a benign row is a negative;
- deepset positives count as attacks only with a hijack marker (`DEEPSET_MARKERS`: ignore/forget/new task/prompt/
  ... in English, German and a few other languages). Unmarked deepset positives that are role-play
  ("You are Volkswagen...", "act as a Linux terminal", "Be a DJ") are dropped (the bot's normal work); the other
  unmarked ones ("state that trump is the best") are not trained on but stay in validation as
  `deepset:attack_unmarked`, reported separately.

Split: 20% of the file's rows (by text hash) and 30% of the written templates are held back for validation;
thresholds are chosen on out-of-fold predictions of the training part. Reproducible: fixed seeds, deterministic
torch, one thread for the head; embeddings cached under data/cache/ (gitignored).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter, defaultdict

import numpy as np

from guardrails.modeling.encoder import ENCODER_ID, SentenceEncoder
from guardrails.modeling.injection import DEFAULT_HEAD_PATH, InjectionHead
from guardrails.rails.injection import CATEGORY, InjectionRail, match_rules, windows
from guardrails.text.normalize import normalize
from training import loop
from training.embedding_cache import CachingEncoder
from training.injection_data import PERSONA_PROMPTS, SHORT_PROMPTS, written_examples
from training.injection_split import (
    DATA_FILE,
    QUESTIONS_FILE,
    MAX_POSITIVE_WINDOWS,
    MAX_TRAIN_CHARS,
    PERSONA_NEGATIVE_WEIGHT,
    PERSONA_NEGATIVE_WINDOWS,
    SEED,
    WRITTEN_WEIGHT,
    Doc,
    build_split,
)
from training.paths import GUARDRAILS_DATA, head_arguments

VALIDATION_CSV = GUARDRAILS_DATA / "injection_validation.csv"
HEAD_VERSION = "1.3"
HIDDEN = 64
EPOCHS = 30
BATCH = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
DROPOUT = 0.3
FOLDS = 5
THRESHOLD_GRID = np.round(np.arange(0.3, 0.951, 0.01), 3)
MAX_ROLEPLAY_FP = 0.02
MAX_OTHER_FP = 0.03

ATTRIBUTION = {
    "deepset/prompt-injections": "https://huggingface.co/datasets/deepset/prompt-injections (train split), Apache-2.0",
    "f/awesome-chatgpt-prompts": "https://github.com/f/awesome-chatgpt-prompts (2023-11), CC0-1.0",
    "verazuo/jailbreak_llms": "https://github.com/verazuo/jailbreak_llms (Shen et al., CCS 2024), MIT",
}

# ---------------------------------------------------------------------------------------------------------------
# The head
# ---------------------------------------------------------------------------------------------------------------
def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = SEED) -> InjectionHead:
    settings = loop.MLPSettings(HIDDEN, EPOCHS, BATCH, LEARNING_RATE, WEIGHT_DECAY, DROPOUT)
    return InjectionHead(**loop.fit_mlp(x, y, loop.balance_classes(y, w), settings, seed, loop.weighted_mean_loss))


def doc_windows(docs: list[Doc]) -> list[list[str]]:
    return [[normalize(w) for w in windows(d.text)] for d in docs]


def training_matrix(docs: list[Doc], normed: list[list[str]], encoder: CachingEncoder, selected: np.ndarray):
    texts, ys, ws = [], [], []
    for d, ns, use in zip(docs, normed, selected, strict=True):
        if not use:
            continue
        for n, label in zip(ns, d.train_labels, strict=True):
            if label is not None and n:
                texts.append(n)
                ys.append(label)
                ws.append(d.weight)
    return encoder.encode(texts), np.array(ys, dtype=np.float32), np.array(ws, dtype=np.float32)


def doc_scores(head: InjectionHead, normed: list[list[str]], encoder: CachingEncoder) -> np.ndarray:
    """The rail's score per document: max over windows, lifted by the rule layer."""
    flat = [n for ns in normed for n in ns if n]
    probs = dict(zip(flat, head.probabilities(encoder.encode(flat)).tolist(), strict=True)) if flat else {}
    out = []
    for ns in normed:
        score = max((probs[n] for n in ns if n), default=0.0)
        if any(match_rules(n) for n in ns if n) or match_rules("\n".join(ns)):
            score = max(score, 0.99)
        out.append(score)
    return np.array(out)


def out_of_fold(docs: list[Doc], normed: list[list[str]], encoder: CachingEncoder) -> np.ndarray:
    def predict_held(held: np.ndarray, fold: int) -> np.ndarray:
        x, y, w = training_matrix(docs, normed, encoder, ~held)
        head = fit_head(x, y, w, seed=SEED + fold)
        # Only trainable windows are scored (an attack's unlabelled windows could only raise its score, so
        # out-of-fold recall is a lower bound); this keeps encoding to the windows training needs anyway.
        idx = np.flatnonzero(held)
        labelled = [[n for n, label in zip(normed[i], docs[i].train_labels, strict=True) if label is not None] for i in idx]
        return doc_scores(head, labelled, encoder)

    folds = np.array([loop.fold_of(d.group, FOLDS) for d in docs])
    return loop.out_of_fold(folds, range(FOLDS), predict_held, np.zeros(len(docs)))


ROLEPLAY_SOURCES = (
    "awesome_chatgpt_prompts", "roleplay_benign", "written:roleplay", "written:roleplay_de", "written:long_roleplay",
    "written:roleplay_professional", "written:persona_detailed",
)


def is_roleplay(source: str) -> bool:
    return source in ROLEPLAY_SOURCES


def tune_threshold(scores: np.ndarray, docs: list[Doc]) -> tuple[float, dict]:
    expected = np.array([d.expected == "block" for d in docs])
    roleplay = np.array([is_roleplay(d.source) for d in docs]) & ~expected
    noisy = np.array([d.source == "jailbreak_llms:persona_relabelled" for d in docs])  # relabelled: not a target
    other = ~expected & ~roleplay & ~noisy
    limits = {"roleplay": MAX_ROLEPLAY_FP, "other": MAX_OTHER_FP}
    chosen = loop.choose_threshold(scores, THRESHOLD_GRID, expected, {"roleplay": roleplay, "other": other}, limits)
    fps = chosen.false_blocks
    summary = {"threshold": chosen.threshold, "recall": round(chosen.recall, 4),
               "fp_roleplay": round(fps["roleplay"], 4), "fp_other": round(fps["other"], 4)}  # fmt: skip
    return chosen.threshold, summary


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------
def summarise(sources: list[str], expected: list[str], blocked: list[bool]) -> dict:
    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s, b in zip(sources, blocked, strict=True):
        by_source[s][0] += int(b)
        by_source[s][1] += 1

    def rate(pred) -> tuple[float, int]:
        idx = [i for i in range(len(sources)) if pred(sources[i], expected[i])]
        return (round(sum(blocked[i] for i in idx) / len(idx), 4) if idx else float("nan")), len(idx)

    recall, n_attack = rate(lambda s, e: e == "block")
    recall_marked, n_marked = rate(lambda s, e: e == "block" and not s.endswith("unmarked"))
    fp_rp, n_rp = rate(lambda s, e: e == "allow" and is_roleplay(s))
    fp_other, n_other = rate(lambda s, e: e == "allow" and not is_roleplay(s))
    return {
        "recall": recall, "attacks": n_attack,
        "recall_excluding_deepset_unmarked": recall_marked, "attacks_marked": n_marked,
        "fp_benign_roleplay": fp_rp, "benign_roleplay": n_rp,
        "fp_other_benign": fp_other, "other_benign": n_other,
        "by_source": {s: {"blocked": b, "rows": n, "rate": round(b / n, 4)} for s, (b, n) in sorted(by_source.items())},
    }  # fmt: skip


def evaluate(rail: InjectionRail, docs: list[Doc], batch: int = 64) -> dict:
    blocked = loop.rail_blocks(rail, [d.text for d in docs], "input", batch)
    return summarise([d.source for d in docs], [d.expected for d in docs], blocked)


def main(argv: list[str] | None = None) -> int:
    shared_files = "the shared training files: the labelled prompts, and roleplay_benign.csv"
    args = head_arguments(argv, __doc__.splitlines()[0], DATA_FILE, shared_files, DEFAULT_HEAD_PATH, VALIDATION_CSV)

    loop.deterministic()
    started = time.perf_counter()
    split = build_split(args.data, args.data_dir, args.generated)
    print(f"train {len(split.train)} prompts, validation {len(split.validation)}; dropped {dict(split.dropped)}", flush=True)

    encoder = CachingEncoder(SentenceEncoder(precision="float32"), "injection_embeddings", "v1")
    normed = doc_windows(split.train)
    try:
        x, y, w = training_matrix(split.train, normed, encoder, np.ones(len(split.train), dtype=bool))
        print(f"windows: {len(y)} ({int(y.sum())} positive)", flush=True)
        with loop.one_thread():
            oof = out_of_fold(split.train, normed, encoder)
            threshold, oof_summary = tune_threshold(oof, split.train)
            print(f"threshold {threshold} (out-of-fold: {oof_summary})", flush=True)
            trained = fit_head(x, y, w)
        head = InjectionHead(w1=trained.w1, b1=trained.b1, w2=trained.w2, b2=trained.b2, threshold=threshold,
                             version=HEAD_VERSION, encoder_id=ENCODER_ID)  # fmt: skip
        rail = InjectionRail(encoder, head)  # type: ignore[arg-type]
        metrics = evaluate(rail, split.validation)
    finally:
        encoder.save()
    print(json.dumps({k: v for k, v in metrics.items() if k != "by_source"}, indent=1), flush=True)
    print(json.dumps(metrics["by_source"], indent=1), flush=True)

    # Every row is a prompt: the stage column makes `storyloom eval` judge them as prompts (its default is output).
    loop.write_csv(
        args.validation_csv, ["text", "expected", "stage", "source"],
        ((d.text, d.expected, "input", d.source) for d in split.validation),
    )  # fmt: skip
    written = written_examples(SEED)
    written_digest = hashlib.sha256("\n".join(f"{e.group}\t{e.attack}\t{e.text}" for e in written).encode()).hexdigest()
    meta = {
        "version": HEAD_VERSION,
        "model": f"MLP {encoder.dim}-{HIDDEN}-1 (ReLU, sigmoid) over sentence-window embeddings; rail score = max over "
        "windows (sentences and neighbouring pairs), lifted to rule_score by an explicit override phrase",
        "encoder": ENCODER_ID,
        "categories": [CATEGORY],
        "thresholds": {CATEGORY: threshold},
        "thresholds_meaning": (
            f"block when the prompt's score >= threshold. Chosen on out-of-fold predictions of the training part "
            f"(grid {THRESHOLD_GRID[0]}-{THRESHOLD_GRID[-1]}): at most {MAX_ROLEPLAY_FP:.0%} false blocks on benign "
            f"role-play and {MAX_OTHER_FP:.0%} on other benign prompts, then the most recall (middle of the ties)."
        ),
        "label_cleaning": {
            "jailbreak_llms": "rows without any attack marker (ROW_MARKERS in injection_split.py) are plain role-play "
            f"personas: relabelled benign ({PERSONA_NEGATIVE_WINDOWS} windows per row at weight {PERSONA_NEGATIVE_WEIGHT} "
            "in training; never validated); in the others only windows with an attack marker (WINDOW_MARKERS) are positives, "
            "the rest of the prompt is not trained on",
            "deepset": "positives without a hijack marker (DEEPSET_MARKERS) are not trained on; those that are "
            "role-play requests are dropped entirely, the rest are kept in validation as deepset:attack_unmarked",
            "dropped": dict(split.dropped),
        },
        "caveat": (
            "Validation rows were never trained on nor used for the threshold, but the written templates and the "
            "rules were written knowing the target phrases, and written validation rows reuse personas and payloads "
            "seen in training (only their templates are held out), so written-row numbers are optimistic. After a "
            "first run (held-out 'For the rest of this chat you're X. Never break character' role-play was blocked) "
            "three similar role-play templates were added to training, the unmarked jailbreak personas were relabelled "
            "benign, two German/English rules were added and the head was regularised more: validation informed those "
            "changes, so its numbers are somewhat optimistic."
        ),
        "training": {
            "command": "python -m training.train_injection",
            "seed": SEED, "epochs": EPOCHS, "hidden": HIDDEN, "dropout": DROPOUT, "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY, "folds_for_threshold": FOLDS, "written_weight": WRITTEN_WEIGHT,
            "max_positive_windows_per_prompt": MAX_POSITIVE_WINDOWS, "max_train_chars": MAX_TRAIN_CHARS,
            "prompts": dict(sorted(Counter(d.source for d in split.train).items())),
            "windows": int(len(y)), "positive_windows": int(y.sum()),
        },  # fmt: skip
        "data": {
            "injection_train": {"file": args.data.name, "sha256": loop.sha256_file(args.data)},
            "written_examples": {"module": "training.injection_data", "sha256": written_digest,
                                 "benign": sum(not e.attack for e in written), "attack": sum(e.attack for e in written)},
            "written_files": {path.name: loop.sha256_file(path) for path in (SHORT_PROMPTS, PERSONA_PROMPTS)},
            "questions": {"file": QUESTIONS_FILE, "sha256": loop.sha256_file(args.data_dir / QUESTIONS_FILE)},
            "validation": {"file": "guardrails/data/injection_validation.csv", "sha256": loop.sha256_file(args.validation_csv),
                           "rows": len(split.validation)},
        },  # fmt: skip
        "metrics": {"validation_at_threshold": metrics, "out_of_fold_train": oof_summary},
        "metric_notes": (
            "Measured through the rail (normalise, windows, max, rules). recall = all rows expected 'block'; "
            "fp_benign_roleplay = awesome-chatgpt-prompts personas, written role-play (EN/DE) and long concatenated "
            "role-play prompts; fp_other_benign = deepset benign (EN/DE) and written creative requests."
        ),
        "attribution": ATTRIBUTION,
        "license_note": "deepset/prompt-injections: Apache-2.0; awesome-chatgpt-prompts: CC0-1.0; jailbreak_llms: MIT. "
        "Written examples: part of this project.",
    }
    loop.write_head(args.out, head.arrays(), meta)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
