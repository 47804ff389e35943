"""Train the embedded toxicity head: `python -m training.train_toxicity [--data-dir DIR] [--data CSV] [--out NPZ] [--last-layer]`.

Writes guardrails/models/toxicity_head.{npz,json} and guardrails/data/toxicity_validation.csv.

Data and split: `training.toxicity_split` (the tweets are read from `--data`, default `toxicity_train.csv` in
`--data-dir`, default `../shared/data`). Thresholds are tuned on out-of-fold predictions of the training part,
never on the validation split, and the validation metrics are measured through the real rail (normalise, split
into sentences, worst sentence decides).

The head reads the encoder's token states (an attention head, `guardrails.modeling.heads.attention_probabilities`).
With `--last-layer` (the shipped head 3.1: docs/guardrail-judgement.md, "stop 29") each head is then tuned together
with its own copy of the encoder's last layer (`training.loop.tune_top_layer`, `guardrails.modeling.top_layer`), and
the head as it was before the tuning is kept beside it: the two probabilities are averaged, out of fold as at run time.
Reproducible: fixed seeds, deterministic torch, one thread for the head, torch's default threads for the layer
(the same figures need the same number of threads). Token states are cached under data/cache/ (gitignored,
~600 MB; as much again for the states entering the last layer), keyed by the encoder's weights; the first run
encodes ~35k texts (about 1.5 minutes on two cores); the ten out-of-fold heads and the final one take about 7
minutes, 30 with `--last-layer`. The out-of-fold probabilities are kept under data/cache/ too, keyed by the
training rows and settings: a rerun on the same rows (another threshold rule) fits only the final head.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.modeling.encoder import ENCODER_ID, SentenceEncoder
from guardrails.modeling.top_layer import TopLayer, layer_arrays
from guardrails.modeling.toxicity import DEFAULT_HEAD_PATH, EmbeddedToxicityBackend, ToxicityHead
from guardrails.rails.toxicity import ToxicityRail
from training import loop
from training.embedding_cache import CachingTokenEncoder
from training.generate_fiction import load_generated
from training.paths import EMBEDDING_CACHE, GUARDRAILS_DATA, head_arguments
from training.toxicity_split import (
    DATA_FILE,
    FRESH_TSV,
    GENERATED_VALIDATION_SHARE,
    GENERATED_WEIGHT,
    HATE_POSITIVE_WEIGHT,
    NEUTRAL_TRAIN_PER_SOURCE,
    NEUTRAL_WEIGHT,
    OBFUSCATED_WEIGHT,
    OFFENSIVE_AS_NOT_HATE_WEIGHT,
    SEED,
    WRITTEN_WEIGHT,
    Row,
    fresh_examples,
    load_davidson,
    load_neutral,
    neutral_files,
    split_data,
    validation_records,
    written_examples,
)

VALIDATION_CSV = GUARDRAILS_DATA / "toxicity_validation.csv"
HEAD_VERSION = "2.0"
LAST_LAYER_VERSION = "3.1"
HEAD_CATEGORIES = ("toxicity", "identity_attack", "threat")
HIDDEN = 64
EPOCHS = 20
BATCH = 128
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
DROPOUT = 0.4
FOLDS = 10
LAYER = loop.LayerSettings(epochs=3, batch=BATCH, layer_learning_rate=1e-4, head_learning_rate=5e-4, weight_decay=WEIGHT_DECAY)
"""The last layer's tuning after the head's 20 epochs on frozen states (the head's dropout and batch stay)."""

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
THRESHOLD_GRID = np.round(np.r_[np.arange(0.25, 0.9751, 0.025), 0.985, 0.99], 3)
"""Below 0.25 a threshold sits in the head's noise on text unlike its training data (a lone "one" once scored
identity_attack 0.17), however good it looks on held-out folds. The attention head is sure of itself: most of its
scores sit near 0 or 1, hence the finer steps at the top."""

ATTRIBUTION = (
    "Trained in part on the hate speech and offensive language data of Davidson, Warmsley, Macy and Weber, "
    '"Automated Hate Speech Detection and the Problem of Offensive Language", ICWSM 2017 '
    "(https://github.com/t-davidson/hate-speech-and-offensive-language, commit cb50f7e9, MIT License)."
)


# ---------------------------------------------------------------------------------------------------------------
# The head
# ---------------------------------------------------------------------------------------------------------------
HEAD_SETTINGS = loop.MLPSettings(HIDDEN, EPOCHS, BATCH, LEARNING_RATE, WEIGHT_DECAY, DROPOUT)


@dataclass(frozen=True)
class TrainingRows:
    """The training part as the heads read it: the encoder's token states (`frozen`), with `--last-layer` the states
    entering its last layer (`entering`), labels and loss weights."""

    frozen: list[np.ndarray]
    entering: list[np.ndarray] | None
    y: np.ndarray
    w: np.ndarray

    def take(self, mask: np.ndarray) -> TrainingRows:
        idx = np.flatnonzero(mask)
        entering = None if self.entering is None else [self.entering[i] for i in idx]
        return TrainingRows([self.frozen[i] for i in idx], entering, self.y[idx], self.w[idx])


def fit_head(encoder: CachingTokenEncoder, rows: TrainingRows, seed: int = SEED) -> ToxicityHead:
    """The head on the encoder's frozen states; with `rows.entering`, then tuned together with a copy of the
    encoder's last layer."""
    with loop.one_thread():
        arrays = loop.fit_token_head(rows.frozen, rows.y, rows.w, HEAD_SETTINGS, seed, loop.per_category_loss)
    if rows.entering is None:
        return ToxicityHead(HEAD_CATEGORIES, arrays)
    layer, tuned = loop.tune_top_layer(
        encoder.top_layer(), arrays, rows.entering, rows.y, rows.w, HEAD_SETTINGS, LAYER, seed, loop.per_category_loss
    )
    return ToxicityHead(HEAD_CATEGORIES, tuned, layer=layer_arrays(layer), frozen=arrays)


def predict(encoder: CachingTokenEncoder, head: ToxicityHead, rows: TrainingRows) -> np.ndarray:
    if rows.entering is None:
        return head.probabilities(rows.frozen)
    return head.probabilities(TopLayer.load(encoder, head.layer).states(rows.entering), rows.frozen)


def out_of_fold(encoder: CachingTokenEncoder, rows: TrainingRows, keys: list[str]) -> np.ndarray:
    def predict_held(held: np.ndarray, fold: int) -> np.ndarray:
        return predict(encoder, fit_head(encoder, rows.take(~held), seed=SEED + fold), rows.take(held))

    folds = np.array([loop.fold_of(k, FOLDS) for k in keys])
    return loop.out_of_fold(folds, range(FOLDS), predict_held, np.zeros_like(rows.y, dtype=np.float32))


def oof_cache_path(rows: list[Row], encoder: CachingTokenEncoder, last_layer: bool) -> Path:
    """Where the out-of-fold probabilities of exactly these training rows and settings are kept: they are most of a
    run's time (ten heads; with `--last-layer` ten tuned layers, ~90 minutes on two cores), and with them a threshold
    rule can be tried in seconds (`tune_thresholds(np.load(path)["oof"], split.train)`)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row.text}\t{row.labels}\t{row.weights}\t{row.fold_key}\n".encode())
    settings = (FOLDS, SEED, HEAD_SETTINGS, LAYER if last_layer else None, encoder.path.name)
    digest.update(repr(settings).encode())
    return EMBEDDING_CACHE / f"toxicity_oof_{digest.hexdigest()[:16]}.npz"


def cached_out_of_fold(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            print(f"out-of-fold probabilities from {path}", flush=True)
            return stored["oof"]
    oof = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, oof=oof)
    return oof


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
def evaluate(rail: ToxicityRail, records: list[tuple[str, str, str]], batch: int = 256) -> dict:
    """Precision, recall and false-block rates of the rail's decisions on (text, expected, source) records."""
    return summarise(records, loop.rail_blocks(rail, [text for text, _, _ in records], "input", batch))


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


def main(argv: list[str] | None = None) -> int:
    shared_files = "the shared training files: the tweets, and injection_train.csv and misinfo_truthfulqa_train.csv for neutral text"
    switches = {"--last-layer": "also tune a copy of the encoder's last layer with each head, averaged with the untuned head (head 3.1, the shipped one)"}
    args = head_arguments(argv, __doc__.splitlines()[0], DATA_FILE, shared_files, DEFAULT_HEAD_PATH, VALIDATION_CSV, switches)

    loop.deterministic()
    started = time.perf_counter()
    davidson = load_davidson(args.data)
    written = written_examples()
    generated = load_generated(args.generated)
    fresh = fresh_examples()
    split = split_data(davidson, written, generated, load_neutral(args.data_dir), fresh)
    records = validation_records(split)
    print(f"tweets {len(davidson)}, written {len(written)}; train {len(split.train)}, validation {len(records)}", flush=True)

    encoder = CachingTokenEncoder(SentenceEncoder(precision="float32"), "toxicity", "v3")
    texts = [row.text for row in split.train]
    try:
        frozen = encoder.encode_tokens(texts)
        entering = encoder.encode_top_inputs(texts) if args.last_layer else None
    finally:
        encoder.save()
    y = np.array([row.labels for row in split.train], dtype=np.float32)
    w = np.array([row.weights for row in split.train], dtype=np.float32)
    rows = TrainingRows(frozen, entering, y, w)

    oof_path = oof_cache_path(split.train, encoder, args.last_layer)
    oof = cached_out_of_fold(oof_path, lambda: out_of_fold(encoder, rows, [row.fold_key for row in split.train]))
    thresholds, oof_summary = tune_thresholds(oof, split.train)
    print(f"thresholds {thresholds} (out-of-fold: {oof_summary})", flush=True)
    trained = fit_head(encoder, rows)

    version = LAST_LAYER_VERSION if args.last_layer else HEAD_VERSION
    head = ToxicityHead(trained.categories, trained.weights, thresholds, version, ENCODER_ID, trained.layer, trained.frozen)
    rail = ToxicityRail(EmbeddedToxicityBackend(encoder, head))  # type: ignore[arg-type]
    try:
        metrics = evaluate(rail, records)
    finally:
        encoder.save()
    print(json.dumps({k: v for k, v in metrics.items() if k != "by_source"}, indent=1), flush=True)

    loop.write_csv(args.validation_csv, ["text", "expected", "source"], records)
    written_digest = hashlib.sha256("\n".join(f"{e.group}\t{e.text}" for e in written).encode()).hexdigest()
    meta = {
        "version": version,
        "model": (
            f"an attention head over token states: ReLU {encoder.dim}-{HIDDEN} per token, per category softmax "
            f"attention pooling and the mean, {2 * HIDDEN}-{len(HEAD_CATEGORIES)} sigmoid outputs"
            + (
                "; on the states of a tuned copy of the encoder's last layer (float16), trained with it, and its "
                "probabilities averaged with those of the head it was tuned from on the encoder's own states (`frozen.`)"
                if args.last_layer else ""
            )
        ),
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
            "command": "python -m training.train_toxicity" + (" --last-layer" if args.last_layer else ""),
            "seed": SEED,
            "epochs": EPOCHS,
            "batch": BATCH,
            "hidden": HIDDEN,
            "dropout": DROPOUT,
            "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY,
            "folds_for_thresholds": FOLDS,
            **({"last_layer": {
                "epochs": LAYER.epochs,
                "layer_learning_rate": LAYER.layer_learning_rate,
                "head_learning_rate": LAYER.head_learning_rate,
                "schedule": "linear decay to zero, after the head's epochs on frozen states",
                "torch_threads": __import__("torch").get_num_threads(),
            }} if args.last_layer else {}),  # fmt: skip
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
            "davidson": {"file": args.data.name, "sha256": loop.sha256_file(args.data), "rows_after_dedup": len(davidson)},
            "written_examples": {
                "module": "training.benign_fiction + training.targeted",
                "sha256": written_digest,
                "benign": sum(not e.abusive for e in written),
                "abuse": sum(e.abusive for e in written),
            },
            "fresh_lines": {
                "file": "training/toxicity_fresh.tsv",
                "sha256": loop.sha256_file(FRESH_TSV),
                "benign": sum(not e.abusive for e in fresh),
                "abuse": sum(e.abusive for e in fresh),
            },
            "generated_fiction": {
                "file": "guardrails/data/generated_fiction.txt",
                "sha256": loop.sha256_file(args.generated),
                "generations": len(generated),
                "units": sum(len(u) for _, u in generated),
                "script": "python -m training.generate_fiction",
                "held_out_share_of_generations": GENERATED_VALIDATION_SHARE,
            },
            "neutral": {
                "files": {p.name: loop.sha256_file(p) for p in neutral_files(args.data_dir)},
                "use": "benign (label 0) prompts of injection_train.csv split into sentences; TruthfulQA questions "
                "and true answers; held out by prompt/question, sampled per source",
                "train_per_source": NEUTRAL_TRAIN_PER_SOURCE,
            },
            "validation": {
                "file": "guardrails/data/toxicity_validation.csv",
                "sha256": loop.sha256_file(args.validation_csv),
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
    loop.write_head(args.out, head.arrays(), meta, ascii_json=True)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
