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
"""

from __future__ import annotations

import argparse
import json
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
    started = time.perf_counter()
    encoder, head = tuner.fit(everything, SEED)
    validation = tuner.score(encoder, head, tuner.validation, np.arange(len(tuner.validation) if not args.rows else min(args.rows, len(tuner.validation))))
    for i, layer in enumerate(encoder.encoder.layer):
        np.savez(args.out_dir / f"layer_{i}.npz", **{name: v.detach().cpu().numpy().astype(np.float16) for name, v in layer.state_dict().items()})
    arrays = head.cpu().arrays()
    print(f"trained on {len(everything)} windows in {time.perf_counter() - started:.0f}s on {args.device}", flush=True)
    oof = np.full(len(tuner.train), np.nan, np.float32)
    for fold in range(settings.folds):
        held = everything[tuner.folds[everything] % settings.folds == fold]
        kept = everything[tuner.folds[everything] % settings.folds != fold]
        fold_encoder, fold_head = tuner.fit(kept, SEED + 1 + fold)
        oof[held] = tuner.score(fold_encoder, fold_head, tuner.train, held)
        print(f"fold {fold}: {len(held)} windows held, {time.perf_counter() - started:.0f}s", flush=True)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    meta = {"settings": asdict(settings), "seed": SEED, "device": device_name, "seconds": round(time.perf_counter() - started)}
    np.savez(args.out_dir / "fit.npz", oof=oof, validation=validation, meta=json.dumps(meta), **arrays)
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
