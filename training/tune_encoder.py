"""Fine-tune a copy of the shared encoder with an attention head: `python -m training.tune_encoder FIT_INPUT OUT_DIR`.

The fit step of a rail that reads its own tuned encoder (`guardrails.modeling.tuned_encoder`; the first is the
dangerous-requests model, `training.train_dangerous_requests`). Its input is one .npz that the rail's `prepare` step
writes: the training windows as token ids with labels, loss weights and folds, the validation windows, and the
encoder's starting weights (vocabulary cut to the tokens the windows use, float16, the configuration beside them).
So this step needs torch, transformers and numpy and nothing of this project's own dependencies: it runs the same
on a GPU machine that has only those (minutes) as on the CPU (hours).

It trains every transformer layer and a new head together (the embeddings stay the shared encoder's, so only the
layers are stored), once on every training window and once per fold without that fold's windows, and writes:
- `OUT_DIR/fit.npz`: the head's arrays, each training window's out-of-fold probability (`oof`), each validation
  window's probability (`validation`, to compare with the same model's scores on the CPU);
- `OUT_DIR/layer_<i>.npz`: layer i's weights, float16 (one file a layer: ~3.5 MB each for MiniLM).
Reproducible from the seed on the same kind of device (GPU kernels and CPU kernels round differently).

Each of the six fits is written to OUT_DIR as it ends (`everything.npz` beside the layers, `fold_<k>.npz`), and the
same command run again goes on from the first fit not written: on two cores the six take longer than a working
session (about 85 minutes quiet, hours beside other work), and every fit has its own seed, so a fit resumed gives the
same files as one run straight through. A stage written from another fit input, seed or settings is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training import loop

SEED = 20261205
BASE_PREFIX = "w."
"""The starting encoder's arrays in the fit input, by state-dict name."""


@dataclass(frozen=True, slots=True)
class TuneSettings:
    epochs: int = 4
    batch: int = 64
    encoder_learning_rate: float = 4e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    """The share of steps over which both learning rates rise from zero; after it they fall linearly to zero."""
    hidden: int = 64
    dropout: float = 0.1
    folds: int = 5
    """Out-of-fold probabilities for the threshold rule: 5 folds (10, as the heads on frozen states use, would
    double a run for thresholds that move by a grid step)."""


def sequences(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Token id rows stored flat (`flat`, `lengths`) -> one int64 array per row."""
    ends = np.cumsum(lengths)
    return [flat[end - n : end].astype(np.int64) for end, n in zip(ends, lengths, strict=True)]


def flatten(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `sequences` (int32 ids)."""
    return np.array([t for row in rows for t in row], np.int32), np.array([len(row) for row in rows], np.int32)


class Tuner:
    def __init__(self, fit_input: Path, settings: TuneSettings, device: str) -> None:
        import torch
        from transformers import BertConfig

        data = np.load(fit_input)
        self.settings = settings
        self.device = device
        self.config = BertConfig(**json.loads(str(data["config"])))
        self.base = {name[len(BASE_PREFIX) :]: torch.from_numpy(data[name].astype(np.float32)) for name in data.files if name.startswith(BASE_PREFIX)}
        self.train = sequences(data["train_ids"], data["train_lengths"])
        self.y, self.w, self.folds = data["train_y"].astype(np.float32), data["train_w"].astype(np.float32), data["train_fold"]
        self.validation = sequences(data["validation_ids"], data["validation_lengths"])

    def model(self, seed: int):
        import torch
        from transformers import BertModel

        torch.manual_seed(seed)
        encoder = BertModel(self.config, add_pooling_layer=False)
        loaded = encoder.load_state_dict(self.base, strict=False)
        missing = [name for name in loaded.missing_keys if not name.endswith("position_ids")]
        if missing:
            raise ValueError(f"the fit input lacks encoder weights: {missing[:5]}")
        encoder.embeddings.requires_grad_(False)
        settings = loop.MLPSettings(self.settings.hidden, self.settings.epochs, self.settings.batch,
                                    self.settings.head_learning_rate, self.settings.weight_decay, self.settings.dropout)  # fmt: skip
        head = loop.token_attention_head(self.config.hidden_size, settings, 1)
        return encoder.to(self.device), head.to(self.device)

    def batch(self, rows: list[np.ndarray], idx):
        import torch

        longest = max(len(rows[i]) for i in idx)
        ids = np.zeros((len(idx), longest), np.int64)
        mask = np.zeros((len(idx), longest), bool)
        for r, i in enumerate(idx):
            ids[r, : len(rows[i])] = rows[i]
            mask[r, : len(rows[i])] = True
        return torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device)

    def states(self, encoder, ids, mask):
        import torch

        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.device == "cuda"):
            return encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state.float()

    def fit(self, rows: np.ndarray, seed: int):
        import torch

        s = self.settings
        encoder, head = self.model(seed)
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.AdamW(
            [{"params": [p for p in encoder.parameters() if p.requires_grad], "lr": s.encoder_learning_rate},
             {"params": head.parameters(), "lr": s.head_learning_rate}], weight_decay=s.weight_decay)  # fmt: skip
        starting = [group["lr"] for group in optimiser.param_groups]
        lengths = np.array([len(self.train[i]) for i in rows])
        steps = s.epochs * -(-len(rows) // s.batch)
        step = 0
        encoder.train()
        head.train()
        for _ in range(s.epochs):
            for batch in loop.length_batches(lengths, s.batch, generator):
                idx = rows[batch]
                done = step / steps
                scale = min(1.0, done / s.warmup) * (1 - done) if s.warmup else 1 - done
                for group, rate in zip(optimiser.param_groups, starting, strict=True):
                    group["lr"] = rate * scale
                ids, mask = self.batch(self.train, idx)
                logits = head(self.states(encoder, ids, mask), mask)[:, 0]
                y = torch.from_numpy(self.y[idx]).to(self.device)
                w = torch.from_numpy(self.w[idx]).to(self.device)
                value = (torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).sum() / w.sum()
                optimiser.zero_grad(set_to_none=True)
                value.backward()
                optimiser.step()
                step += 1
        return encoder.eval(), head.eval()

    def score(self, encoder, head, rows: list[np.ndarray], idx: np.ndarray, batch: int = 256) -> np.ndarray:
        import torch

        out = np.zeros(len(idx), np.float32)
        order = np.argsort([len(rows[i]) for i in idx], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                part = order[start : start + batch]
                ids, mask = self.batch(rows, idx[part])
                out[part] = torch.sigmoid(head(self.states(encoder, ids, mask), mask)[:, 0]).cpu().numpy()
        return out


class Stages:
    """The fits of one run already written to its OUT_DIR, each stamped with what it was fitted from."""

    def __init__(self, out_dir: Path, stamp: str) -> None:
        self.out_dir, self.stamp = out_dir, stamp
        self.resumed: list[str] = []

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        path = self.out_dir / f"{name}.npz"
        if not path.exists():
            return None
        with np.load(path) as stage:
            if str(stage["stamp"]) != self.stamp:
                raise SystemExit(f"{path} was fitted from another input, seed or settings: remove it or choose another OUT_DIR")
            self.resumed.append(name)
            return {key: stage[key] for key in stage.files if key != "stamp"}

    def save(self, name: str, **arrays: np.ndarray) -> None:
        """Written whole or not at all: an interrupted write leaves no stage to resume from."""
        partial = self.out_dir / f".{name}.partial.npz"
        np.savez(partial, stamp=self.stamp, **arrays)
        os.replace(partial, self.out_dir / f"{name}.npz")


def stamp(fit_input: Path, settings: TuneSettings, rows: int) -> str:
    """What a fit depends on: the input's bytes, the settings, the seed and a smoke run's row count."""
    digest = hashlib.sha256()
    with fit_input.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(json.dumps({"settings": asdict(settings), "seed": SEED, "rows": rows}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit_input", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rows", type=int, default=0, help="a smoke run: train on and score the first N windows only")
    args = parser.parse_args(argv)
    settings = TuneSettings()
    tuner = Tuner(args.fit_input, settings, args.device)
    everything = np.arange(len(tuner.train) if not args.rows else min(args.rows, len(tuner.train)))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stages = Stages(args.out_dir, stamp(args.fit_input, settings, args.rows))
    seconds = 0.0
    fitted = stages.load("everything")
    if fitted is None:
        started = time.perf_counter()
        encoder, head = tuner.fit(everything, SEED)
        shown = np.arange(len(tuner.validation) if not args.rows else min(args.rows, len(tuner.validation)))
        validation = tuner.score(encoder, head, tuner.validation, shown)
        for i, layer in enumerate(encoder.encoder.layer):
            np.savez(args.out_dir / f"layer_{i}.npz", **{name: v.detach().cpu().numpy().astype(np.float16) for name, v in layer.state_dict().items()})
        fitted = {**head.cpu().arrays(), "validation": validation, "seconds": np.float64(time.perf_counter() - started)}
        stages.save("everything", **fitted)
        print(f"trained on {len(everything)} windows in {float(fitted['seconds']):.0f}s on {args.device}", flush=True)
    seconds += float(fitted.pop("seconds"))
    oof = np.full(len(tuner.train), np.nan, np.float32)
    for fold in range(settings.folds):
        held = everything[tuner.folds[everything] % settings.folds == fold]
        scored = stages.load(f"fold_{fold}")
        if scored is None:
            started = time.perf_counter()
            kept = everything[tuner.folds[everything] % settings.folds != fold]
            fold_encoder, fold_head = tuner.fit(kept, SEED + 1 + fold)
            scored = {"oof": tuner.score(fold_encoder, fold_head, tuner.train, held), "seconds": np.float64(time.perf_counter() - started)}
            stages.save(f"fold_{fold}", **scored)
            print(f"fold {fold}: {len(held)} windows held, {float(scored['seconds']):.0f}s", flush=True)
        oof[held] = scored["oof"]
        seconds += float(scored["seconds"])
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    meta = {"settings": asdict(settings), "seed": SEED, "device": device_name, "seconds": round(seconds), "resumed": stages.resumed}
    np.savez(args.out_dir / "fit.npz", oof=oof, meta=json.dumps(meta), **fitted)
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
