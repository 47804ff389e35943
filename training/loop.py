"""The training loop every head shares: fit a small MLP, score out of fold, choose a threshold, measure through the
rail, write the results. Each `train_*` script brings its data, its settings and its head class.

Reproducible by construction: fixed seeds, deterministic torch, one thread while the head trains (see `one_thread`).
The order of random draws here (model weights, then the bag-of-words term, then batches and dropout) is the one the
committed heads were trained with: changing it changes every head.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

Loss = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""(logits, targets, weights) of one batch -> the scalar to minimise."""

RECALL_TIE = 0.005
"""Thresholds whose recall is within this of the best are ties; `choose_threshold` takes the middle one."""


@dataclass(frozen=True, slots=True)
class MLPSettings:
    """One hidden layer (ReLU, dropout) and AdamW: the shape and optimiser of every head (for an attention head,
    `hidden` is its per-token layer; `words` applies to MLPs only, `token_dropout` to attention heads)."""

    hidden: int
    epochs: int
    batch: int
    learning_rate: float
    weight_decay: float
    dropout: float
    words: int = 0
    """Trailing input columns that are hashed words: a linear term of their own (no bias, starts at zero)."""
    words_weight_decay: float = 0.0
    token_dropout: float = 0.0
    """Attention heads: the share of tokens hidden from each training row ([CLS] stays), so that no single word
    decides (a held-out "bleed a radiator" scored 1.0 on "bleed" alone without it)."""


# ---------------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------------
def balance_classes(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rescale a binary task's weights so that positives and negatives carry the same total weight."""
    w = w.astype(np.float32).copy()
    for label in (0, 1):
        mask = y == label
        w[mask] *= 0.5 * w.sum() / max(w[mask].sum(), 1e-9)
    return w


def weighted_mean_loss(weights: torch.Tensor) -> Loss:
    """Binary cross-entropy averaged over the batch by weight."""
    import torch

    def loss(logits: torch.Tensor, targets: torch.Tensor, batch_weights: torch.Tensor) -> torch.Tensor:
        total = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, weight=batch_weights, reduction="sum")
        return total / batch_weights.sum().clamp(min=1e-9)

    return loss


def per_category_loss(weights: torch.Tensor) -> Loss:
    """Several categories: each one's loss is normalised by its total weight over the whole training set, so a rare
    category (few labelled rows) is not drowned by a common one."""
    import torch

    per_category = weights.sum(0).clamp(min=1.0)
    rows, categories = weights.shape

    def loss(logits: torch.Tensor, targets: torch.Tensor, batch_weights: torch.Tensor) -> torch.Tensor:
        each = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, weight=batch_weights, reduction="none")
        return (each.sum(0) / per_category * rows / len(logits)).sum() / categories

    return loss


def fit_mlp(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, settings: MLPSettings, seed: int, loss: Callable[[Any], Loss]
) -> dict[str, np.ndarray]:
    """Train the head on (x, y, w) and return its arrays: w1, b1, w2, b2 (and wb with `settings.words`).

    `y` is (rows,) for one category or (rows, categories); `loss` builds the batch loss from all the weights."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, w))
    dense = x.shape[1] - settings.words
    outputs = y.shape[1] if y.ndim == 2 else 1
    model = torch.nn.Sequential(
        torch.nn.Linear(dense, settings.hidden), torch.nn.ReLU(), torch.nn.Dropout(settings.dropout),
        torch.nn.Linear(settings.hidden, outputs),
    )  # fmt: skip
    groups: list[dict] = [{"params": model.parameters()}]
    words = None
    if settings.words:
        words = torch.nn.Linear(settings.words, 1, bias=False)
        torch.nn.init.zeros_(words.weight)
        groups.append({"params": words.parameters(), "weight_decay": settings.words_weight_decay})
    optimiser = torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    batch_loss = loss(wt)
    model.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), settings.batch):
            idx = order[start : start + settings.batch]
            rows = xt[idx]
            if words is not None:
                logits = model(rows[:, :dense])[:, 0] + words(rows[:, dense:])[:, 0]
            else:
                logits = model(rows) if y.ndim == 2 else model(rows)[:, 0]
            value = batch_loss(logits, yt[idx], wt[idx])
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
    model.eval()
    first, last = model[0], model[3]
    arrays = {
        "w1": first.weight.detach().numpy().T.copy(),
        "b1": first.bias.detach().numpy().copy(),
        "w2": last.weight.detach().numpy().T.copy(),
        "b2": last.bias.detach().numpy().copy(),
    }
    if words is not None:
        arrays["wb"] = words.weight.detach().numpy().reshape(-1).copy()
    return arrays


def token_attention_head(dim: int, settings: MLPSettings, outputs: int, extra: int = 0) -> torch.nn.Module:
    """The torch twin of `attention_probabilities`: same arrays, same computation (dropout only in training). With
    `extra` > 0 it also takes (rows, extra) features through a linear term of their own (`extra_w`: no bias, starts
    at zero)."""
    import torch

    class TokenAttentionHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(dim, settings.hidden)
            self.att = torch.nn.Linear(settings.hidden, outputs)
            self.out = torch.nn.Linear(2 * settings.hidden, outputs)
            self.dropout = torch.nn.Dropout(settings.dropout)
            self.extra = torch.nn.Linear(extra, outputs, bias=False) if extra else None
            if self.extra is not None:
                torch.nn.init.zeros_(self.extra.weight)

        def forward(self, h: torch.Tensor, mask: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
            z = self.dropout(torch.relu(self.proj(h)))
            attention = torch.softmax(self.att(z).masked_fill(~mask[..., None], float("-inf")), dim=1)
            pooled = torch.einsum("blc,blk->bck", attention, z)
            mean = (z * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            hidden = z.shape[-1]
            logits = (pooled * self.out.weight[None, :, :hidden]).sum(-1) + mean @ self.out.weight[:, hidden:].T + self.out.bias
            if self.extra is not None and features is not None:
                logits = logits + self.extra(features)
            return logits

        def arrays(self) -> dict[str, np.ndarray]:
            def numpy(t: torch.Tensor) -> np.ndarray:
                return t.detach().numpy().copy()

            arrays = {
                "proj_w": numpy(self.proj.weight.T), "proj_b": numpy(self.proj.bias),
                "att_w": numpy(self.att.weight.T), "att_b": numpy(self.att.bias),
                "out_w": numpy(self.out.weight), "out_b": numpy(self.out.bias),
            }  # fmt: skip
            if self.extra is not None:
                arrays["extra_w"] = numpy(self.extra.weight)
            return arrays

        def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
            """Start from a trained head's arrays (the inverse of `arrays`)."""
            named = {
                "proj.weight": arrays["proj_w"].T, "proj.bias": arrays["proj_b"], "att.weight": arrays["att_w"].T,
                "att.bias": arrays["att_b"], "out.weight": arrays["out_w"], "out.bias": arrays["out_b"],
            }  # fmt: skip
            if self.extra is not None:
                named["extra.weight"] = arrays["extra_w"]
            self.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)) for name, value in named.items()})

    return TokenAttentionHead()


def padded(states: Sequence[np.ndarray], idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """`guardrails.modeling.heads.pad_states` as torch tensors."""
    import torch

    # Imported here: `training.tune_encoder` runs this module on a GPU machine that has torch but not the
    # guardrails package's own dependencies (importing any guardrails module imports them all).
    from guardrails.modeling.heads import pad_states

    h, mask = pad_states(states, idx)
    return torch.from_numpy(h), torch.from_numpy(mask)


LENGTH_BUCKET = 50
"""Batches per bucket: rows are shuffled, then sorted by length within runs of this many batches, so a batch pads
to similar lengths but still mixes sources."""


def length_batches(lengths: np.ndarray, batch: int, generator: torch.Generator) -> list[np.ndarray]:
    """One epoch's batches of row indices in training order (see LENGTH_BUCKET)."""
    import torch

    order = torch.randperm(len(lengths), generator=generator).numpy()
    batches = []
    bucket = batch * LENGTH_BUCKET
    for start in range(0, len(order), bucket):
        run = order[start : start + bucket]
        run = run[np.argsort(lengths[run], kind="stable")]
        batches += [run[i : i + batch] for i in range(0, len(run), batch)]
    return [batches[b] for b in torch.randperm(len(batches), generator=generator).tolist()]


def fit_token_head(
    states: Sequence[np.ndarray],
    y: np.ndarray,
    w: np.ndarray,
    settings: MLPSettings,
    seed: int,
    loss: Callable[[Any], Loss],
    extra: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Train an attention head on per-row token states (and per-row `extra` features, weight decay
    `settings.words_weight_decay`) and return its arrays (see `token_attention_head`)."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    outputs = y.shape[1] if y.ndim == 2 else 1
    model = token_attention_head(states[0].shape[1], settings, outputs, 0 if extra is None else extra.shape[1])
    groups: list[dict] = [{"params": [p for name, p in model.named_parameters() if not name.startswith("extra.")]}]
    if model.extra is not None:
        groups.append({"params": model.extra.parameters(), "weight_decay": settings.words_weight_decay})
    optimiser = torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    features = None if extra is None else torch.from_numpy(extra.astype(np.float32))
    yt, wt = torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w.astype(np.float32))
    batch_loss = loss(wt)
    lengths = np.array([len(s) for s in states])
    model.train()
    for _ in range(settings.epochs):
        for idx in length_batches(lengths, settings.batch, generator):
            h, mask = padded(states, idx)
            if settings.token_dropout:
                hidden = torch.rand(mask.shape, generator=generator) < settings.token_dropout
                hidden[:, 0] = False
                mask = mask & ~hidden
            logits = model(h, mask, None if features is None else features[idx])
            value = batch_loss(logits if y.ndim == 2 else logits[:, 0], yt[idx], wt[idx])
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
    model.eval()
    return model.arrays()


@dataclass(frozen=True, slots=True)
class LayerSettings:
    """Tuning a copy of the encoder's last layer together with a head that was first trained on the frozen states:
    a few epochs, the layer at a far smaller learning rate than the head, both decaying linearly to zero."""

    epochs: int
    batch: int
    layer_learning_rate: float
    head_learning_rate: float
    weight_decay: float


def tune_top_layer(
    layer: torch.nn.Module,
    head_arrays: dict[str, np.ndarray],
    entering: Sequence[np.ndarray],
    y: np.ndarray,
    w: np.ndarray,
    head_settings: MLPSettings,
    settings: LayerSettings,
    seed: int,
    loss: Callable[[Any], Loss],
) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    """Train `layer` (tuned in place) and an attention head of `head_settings`' shape started from `head_arrays` on
    the states entering the layer; return the layer and the head's new arrays. Torch's own threads: a layer is ~70x
    a head's work. (Tried and left out, 2026-12-05: hiding 10% of the tokens, as the dangerous head trains.)"""
    import torch

    from guardrails.modeling.top_layer import run_layer

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    outputs = y.shape[1] if y.ndim == 2 else 1
    head = token_attention_head(entering[0].shape[1], head_settings, outputs)
    head.load_arrays(head_arrays)
    optimiser = torch.optim.AdamW(
        [{"params": layer.parameters(), "lr": settings.layer_learning_rate}, {"params": head.parameters(), "lr": settings.head_learning_rate}],
        weight_decay=settings.weight_decay,
    )
    starting = [group["lr"] for group in optimiser.param_groups]
    yt, wt = torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w.astype(np.float32))
    batch_loss = loss(wt)
    lengths = np.array([len(s) for s in entering])
    steps = settings.epochs * -(-len(entering) // settings.batch)
    step = 0
    layer.train()
    head.train()
    for _ in range(settings.epochs):
        for idx in length_batches(lengths, settings.batch, generator):
            for group, rate in zip(optimiser.param_groups, starting, strict=True):
                group["lr"] = rate * (1 - step / steps)
            h, mask = padded(entering, idx)
            logits = head(run_layer(layer, h, mask), mask)
            value = batch_loss(logits if y.ndim == 2 else logits[:, 0], yt[idx], wt[idx])
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            step += 1
    layer.eval()
    head.eval()
    return layer, head.arrays()


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread while a head trains: the head is tiny, and one thread keeps it bit-for-bit reproducible."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def deterministic() -> None:
    import torch

    torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------------------------------------------------------
# Splits and folds
# ---------------------------------------------------------------------------------------------------------------
def in_share(seed: int, key: str, share: float) -> bool:
    """Whether `key` falls in the first `share` of the hash space (per mille): a split that never moves a key when
    others are added or removed."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest(), 16) % 1000 < share * 1000


def fold_of(key: str, folds: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % folds


def fold_masks(fold_ids: np.ndarray, folds: Iterable[Any]) -> Iterator[tuple[int, np.ndarray]]:
    """(index, held-out mask) per fold, in the order given."""
    for index, fold in enumerate(folds):
        yield index, fold_ids == fold


def out_of_fold(
    fold_ids: np.ndarray, folds: Iterable[Any], predict_held: Callable[[np.ndarray, int], np.ndarray], out: np.ndarray
) -> np.ndarray:
    """Fill `out` with predictions for each fold's rows made by a head that never saw them:
    `predict_held(held mask, fold index)` trains on the other rows and scores the held ones."""
    for index, held in fold_masks(fold_ids, folds):
        out[held] = predict_held(held, index)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """A threshold with the recall and the false-block rate per benign family it gives."""

    threshold: float
    recall: float
    false_blocks: dict[str, float]


def choose_threshold(
    scores: np.ndarray, grid: Sequence[float], positive: np.ndarray, benign: dict[str, np.ndarray], limits: dict[str, float]
) -> ThresholdChoice:
    """Among the thresholds that keep every benign family's false blocks within its limit (or, when none does, the
    one with the fewest false blocks in total), the most recall, taking the middle of the near-ties."""
    rows = []
    for t in grid:
        blocked = scores >= t
        fps = {name: float(blocked[mask].mean()) for name, mask in benign.items()}
        rows.append(ThresholdChoice(float(t), float(blocked[positive].mean()), fps))
    feasible = [r for r in rows if all(v <= limits[name] for name, v in r.false_blocks.items())]
    feasible = feasible or [min(rows, key=lambda r: sum(r.false_blocks.values()))]
    best = max(r.recall for r in feasible)
    near = [r for r in feasible if r.recall >= best - RECALL_TIE]
    return near[len(near) // 2]


# ---------------------------------------------------------------------------------------------------------------
# Measuring and writing
# ---------------------------------------------------------------------------------------------------------------
def rail_blocks(rail: Any, texts: Sequence[str], stage: str = "input", batch: int = 64) -> list[bool]:
    """The rail's decision on each text (True: blocked), checked in batches as the pipeline would."""
    blocked: list[bool] = []
    for start in range(0, len(texts), batch):
        blocked.extend(v.decision == "block" for v in rail.check(list(texts[start : start + batch]), stage))
    return blocked


def distinct_column(path: Path, column: str, keep: Callable[[dict[str, str]], bool] = lambda row: True) -> list[str]:
    """The distinct non-empty values of `column` in the CSV file at `path`, stripped, in file order, of the rows
    `keep` accepts."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(dict.fromkeys(row[column].strip() for row in csv.DictReader(handle) if keep(row) and row[column].strip()))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_head(out: Path, arrays: dict[str, np.ndarray], meta: dict, *, ascii_json: bool = False) -> None:
    """The head's arrays to `out` (.npz) and its metadata beside it (.json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=ascii_json) + "\n")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
