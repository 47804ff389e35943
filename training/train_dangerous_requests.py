"""Train the dangerous-requests model: `python -m training.train_dangerous_requests [--prepare-only | --fit-dir DIR]`.

Writes guardrails/models/dangerous_requests.{npz,json}: a tuned copy of the shared encoder with an attention head
(`guardrails.modeling.tuned_encoder`) that the dangerous-instructions rail reads on prompts, and on the output
sentences `train_dangerous`'s head screens in (`guardrails.rails.dangerous.OUTPUT_SCREEN`: a second pass over every
streamed sentence would cost the rails benchmark its target), where the head on the frozen encoder stopped gaining
(docs/dangerous-instructions.md). Same data, split, windows and labels as `training.train_dangerous`, and on the
training side the requests in free shapes of `training/dangerous_freeform.tsv` (`freeform_docs`).

Three steps, one command by default:
1. prepare: the split's windows as token ids, their labels, loss weights (classes balanced) and folds (by topic),
   and the encoder's starting weights -> `data/cache/dangerous_requests_fit.npz` (~30 MB; `--prepare-only` stops here);
2. fit: `training.tune_encoder` on it -> `data/cache/dangerous_requests_fit/` (all layers and a new head, 4 epochs,
   once on everything and once per fold). 171 s on one H100; 84.5 minutes on this project's 2 cores (stop 35's
   shipped fit, 27,739 windows, ran there): `python -m training.tune_encoder data/cache/dangerous_requests_fit.npz OUT_DIR`
   on a GPU machine, then `--fit-dir OUT_DIR` here (run again after an interruption, it goes on from its last fit);
3. finish: a threshold per stage from the out-of-fold probabilities by `train_dangerous`'s rule with the issue's
   limit (each benign family of the stage at most 3% blocked, bare premises 2%, the bot's stories 1%, then the most
   recall; the output screen is left out there: it only ever unblocks, and its cost in recall is measured on
   validation), validation through the whole rail, the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from guardrails.modeling.dangerous import STAGES, DangerousHead
from guardrails.modeling.encoder import ENCODER_ID, SentenceEncoder
from guardrails.modeling.tuned_encoder import LAYER_PREFIX, TunedEncoder
from guardrails.paths import MODELS_DIR
from guardrails.rails.dangerous import OUTPUT_SCREEN, DangerousRail
from training import loop, tune_encoder
from training.dangerous_split import DATA_FILE, Doc, build_split
from training.paths import EMBEDDING_CACHE, head_arguments
from training.train_dangerous import (
    FOLDS,
    THRESHOLD_GRID,
    VALIDATION_CSV,
    evaluate,
    scored_windows,
    trained_windows,
    tune_threshold,
    written_digest,
)

FREEFORM_TRAIN = Path(__file__).with_name("dangerous_freeform.tsv")
NEAR_VALIDATION = 0.9
"""A written free-shape request this close (cosine, the shared encoder) to a validation prompt is not trained on: the
validation's freeform requests stay never-seen phrasing."""
MODEL_PATH = MODELS_DIR / "dangerous_requests.npz"
FIT_INPUT = EMBEDDING_CACHE / "dangerous_requests_fit.npz"
FIT_DIR = EMBEDDING_CACHE / "dangerous_requests_fit"
VERSION = "1.1"
MAX_FALSE_BLOCKS = 0.03
"""Out of fold, in each benign family of either stage (bare premises 2%, the bot's stories 1%): the issue's own target.
The head on frozen states is held to 5% on prompts (`train_dangerous.MAX_BENIGN_FP`: at 3% it lost most of its
recall); this model keeps most of its recall at 3%, and at 5% it blocked 5.0% of the validation's never-seen harmless
requests (docs/dangerous-instructions.md)."""
GRID = np.union1d(THRESHOLD_GRID, [0.9993, 0.9995, 0.9997, 0.9999, 0.99993, 0.99995, 0.99997, 0.99999])
"""A tuned encoder's probabilities crowd near 1: the heads' grid, with finer steps above 0.999 and 0.9999."""


def prepare(
    train: list[Doc], trained: tuple[list[str], np.ndarray, np.ndarray, np.ndarray], validation: list[str],
    encoder: SentenceEncoder, out: Path,
) -> None:  # fmt: skip
    """Write the fit input (see `training.tune_encoder`): `trained` is `trained_windows(train)`, `validation` the
    validation split's `scored_windows`."""
    from transformers import AutoModel

    texts, labels, weights, doc_of = trained
    folds = np.array([loop.fold_of(f"fold:{train[i].group}", FOLDS) for i in doc_of], np.int8)
    train_ids, validation_ids = encoder.token_ids(texts), encoder.token_ids(validation)
    # Only the embedding rows the windows use travel (embeddings are not tuned): 12,000 of 30,522.
    used = sorted({t for row in train_ids + validation_ids for t in row})
    cut = {token: i for i, token in enumerate(used)}
    base = AutoModel.from_pretrained(encoder.path).state_dict()
    base["embeddings.word_embeddings.weight"] = base["embeddings.word_embeddings.weight"][used]
    config = json.loads((encoder.path / "config.json").read_text()) | {"vocab_size": len(used)}
    train_flat, train_lengths = tune_encoder.flatten([[cut[t] for t in row] for row in train_ids])
    validation_flat, validation_lengths = tune_encoder.flatten([[cut[t] for t in row] for row in validation_ids])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, config=json.dumps(config), train_ids=train_flat, train_lengths=train_lengths,
        train_y=labels, train_w=loop.balance_classes(labels, weights), train_fold=folds,
        validation_ids=validation_flat, validation_lengths=validation_lengths,
        **{tune_encoder.BASE_PREFIX + name: value.numpy().astype(np.float16 if value.ndim == 2 else np.float32)
           for name, value in base.items() if not name.endswith("position_ids")},
    )  # fmt: skip
    print(f"{out}: {len(texts)} training windows ({int(labels.sum())} positive), {len(validation)} validation windows, "
          f"{len(used)} tokens of the vocabulary", flush=True)  # fmt: skip


def freeform_rows(path: Path = FREEFORM_TRAIN) -> list[list[str]]:
    """The file's rows as their fields (label, topic, text[, the asking sentences]); comments and blank lines left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def freeform_docs(validation: list[Doc], encoder: SentenceEncoder, path: Path = FREEFORM_TRAIN) -> tuple[list[Doc], int]:
    """Requests in free shapes written for this model alone (`dangerous_freeform.tsv`: label, topic, text, and for a
    harmful request of several sentences the one(s) that ask, joined by " || "; stop 35), harmful and harmless ones
    that share their words, in the families the validation's freeform rows are counted in; folds by topic. The head on
    frozen states does not read them (its split, and `dangerous_head.npz`, are as they were). Returns the docs and how
    many were left out as near a validation prompt (`NEAR_VALIDATION`)."""
    docs = []
    for label, topic, text, *parts in freeform_rows(path):
        harmful = label == "harmful"
        asks = tuple(p.strip() for p in parts[0].split(" || ") if p.strip()) if parts and harmful else ()
        source = "written:freeform_harmful" if harmful else "written:freeform_benign"
        docs.append(Doc(text, "block" if harmful else "allow", "input", source, f"freeform_train:{topic}", asks))
    prompts = list(dict.fromkeys(d.text for d in validation if d.stage == "input"))
    nearest = (encoder.encode([d.text for d in docs]) @ encoder.encode(prompts).T).max(axis=1)
    kept = [doc for doc, near in zip(docs, nearest.tolist(), strict=True) if near < NEAR_VALIDATION]
    return kept, len(docs) - len(kept)


def read_fit(fit_dir: Path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict]:
    """(the model's arrays as stored, out-of-fold window probabilities, validation window probabilities, fit meta)."""
    with np.load(fit_dir / "fit.npz") as fit:
        arrays = {name: fit[name].astype(np.float32) for name in ("proj_w", "proj_b", "att_w", "att_b", "out_w", "out_b")}
        oof, validation, meta = fit["oof"], fit["validation"], json.loads(str(fit["meta"]))
    for path in sorted(fit_dir.glob("layer_*.npz"), key=lambda p: int(p.stem.split("_")[1])):
        with np.load(path) as layer:
            arrays |= {f"{LAYER_PREFIX}{path.stem.split('_')[1]}.{name}": layer[name].astype(np.float16) for name in layer.files}
    return arrays, oof, validation, meta


def out_of_fold_docs(docs: list[Doc], window_oof: np.ndarray, doc_of: np.ndarray) -> tuple[list[Doc], np.ndarray]:
    """Per doc that has training windows, its highest window's out-of-fold probability (the rail's max); the bot's
    generated sentences as whole stories (what the targets count, as `train_dangerous.out_of_fold` scores them)."""
    per_doc = np.full(len(docs), -1.0)
    np.maximum.at(per_doc, doc_of, window_oof)
    kept: list[Doc] = []
    scores: list[float] = []
    stories: dict[str, float] = {}
    for doc, score in zip(docs, per_doc.tolist(), strict=True):
        if score < 0:
            continue
        if doc.source == "generated:sentence":
            stories[doc.group] = max(score, stories.get(doc.group, 0.0))
        else:
            kept.append(doc)
            scores.append(score)
    kept += [Doc("", "allow", "output", "generated:story", group) for group in stories]
    return kept, np.array(scores + list(stories.values()))


def arguments(argv: list[str] | None) -> argparse.Namespace:
    fit = argparse.ArgumentParser(add_help=False)
    fit.add_argument("--fit-dir", type=Path, default=None)
    known, rest = fit.parse_known_args(argv)
    switches = {"--prepare-only": "write the fit input and stop (to fit it on a GPU machine); "
                "--fit-dir DIR: finish from DIR, a fit made elsewhere"}  # fmt: skip
    args = head_arguments(rest, __doc__.splitlines()[0], DATA_FILE, "the shared training files", MODEL_PATH, VALIDATION_CSV, switches)
    args.fit_dir = known.fit_dir
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    fit_dir = args.fit_dir or FIT_DIR
    started = time.perf_counter()
    split = build_split(args.data, args.data_dir, args.generated)
    encoder = SentenceEncoder(precision="float32")
    freeform, near = freeform_docs(split.validation, encoder)
    print(f"{len(freeform)} free-shape requests written for this model ({near} left out: near a validation prompt)", flush=True)
    train = split.train + freeform
    trained, validation = trained_windows(train), scored_windows(split.validation)
    if not args.fit_dir:
        prepare(train, trained, validation, encoder, FIT_INPUT)
        if args.prepare_only:
            return 0
        tune_encoder.main([str(FIT_INPUT), str(fit_dir)])
    arrays, window_oof, gpu_validation, fit_meta = read_fit(fit_dir)
    *_, doc_of = trained
    oof_docs, oof = out_of_fold_docs(train, window_oof, doc_of)
    thresholds, oof_summary = {}, {}
    for stage in STAGES:
        thresholds[stage], oof_summary[stage] = tune_threshold(oof_docs, oof, stage, MAX_FALSE_BLOCKS, GRID)
        print(f"{stage} threshold {thresholds[stage]} (out of fold: {json.dumps(oof_summary[stage])})", flush=True)

    meta = {"version": VERSION, "encoder": ENCODER_ID, "thresholds": thresholds}
    loop.write_head(args.out, arrays, meta)
    requests = TunedEncoder.load(encoder, args.out)
    cpu_validation = requests.probabilities(validation)
    rail = DangerousRail(encoder, DangerousHead.load(), requests=requests)
    metrics = evaluate(rail, split.validation)
    print(json.dumps(metrics["by_family"], indent=1), flush=True)
    meta |= {
        "model": "all-MiniLM-L6-v2 with every transformer layer tuned (embeddings the shared encoder's, not stored; "
        f"layers float16) and an attention head over its token states ({encoder.dim}-64 ReLU per token, softmax "
        "attention pool and mean pool -> 1), sigmoid; rail score on a prompt = max over its windows (sentences and "
        "neighbouring pairs); on output = max over the sentences the head (dangerous_head.npz) scores at or above "
        "output_screen",
        "output_screen": OUTPUT_SCREEN,
        "threshold_meaning": "block a prompt or an output when its score on that stage >= the stage's threshold. Chosen "
        f"on out-of-fold probabilities of the training part ({fit_meta['settings']['folds']} folds by topic) by "
        f"training.train_dangerous's rule: at most {MAX_FALSE_BLOCKS:.0%} false blocks in each benign family of the "
        f"stage (bare premises 2%, the bot's whole stories 1%), then the most recall; grid {GRID[0]}-{GRID[-1]}. A "
        "moderator may only lower them.",
        "training": {
            "command": "python -m training.train_dangerous_requests (fit: python -m training.tune_encoder)",
            "fit": fit_meta,
            "cpu_against_fit_device": {
                "validation_windows": len(validation),
                "max_abs_difference": round(float(np.max(np.abs(cpu_validation - gpu_validation))), 4),
                "mean_abs_difference": round(float(np.mean(np.abs(cpu_validation - gpu_validation))), 5),
            },
        },
        "data": {
            "harmful_requests_train": {"file": args.data.name, "sha256": loop.sha256_file(args.data)},
            "written_examples": {"module": "training/dangerous_data.py", "sha256": written_digest()},
            "freeform_requests": {"file": "training/dangerous_freeform.tsv", "sha256": loop.sha256_file(FREEFORM_TRAIN),
                                  "trained": len(freeform), "left_out_near_validation": near},
            "generated_fiction": {"file": "guardrails/data/generated_fiction.txt", "sha256": loop.sha256_file(args.generated)},
            "validation": {"file": "guardrails/data/dangerous_validation.csv", "sha256": loop.sha256_file(args.validation_csv)},
            "split": "training.train_dangerous's (the same rows, windows and labels as dangerous_head.npz), and the "
            "free-shape requests of freeform_requests on the training side",
        },
        "metrics": {"validation_at_threshold": metrics, "out_of_fold_train": oof_summary},
        "metric_notes": "Measured through the whole dangerous rail (this model on prompts and on the output sentences "
        "dangerous_head.npz screens in; on prompts about the asker's own life either model blocks); families as in "
        "dangerous_head.json.",
    }  # fmt: skip
    loop.write_head(args.out, arrays, meta)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
