"""`python -m bench.encoder_training [--rows N] [--batch B] [--epoch-rows N]`: how fast the shared encoder fine-tunes.

What bounds the toxicity head is a frozen encoder (docs/guardrail-judgement.md); this says what fine-tuning
all-MiniLM-L6-v2 itself would cost here. It trains the encoder with a throwaway three-output head on sentences of
`guardrails/data/toxicity_validation.csv` (forward, backward, AdamW step), in float32 and under bfloat16 autocast,
and measures plain inference on the same sentences in the same process as the baseline. Prints sentences per
second for each, the training/inference ratio, and the minutes one epoch of `--epoch-rows` rows would take
(default: the toxicity head's training rows).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from guardrails.modeling.encoder import default_encoder_path

SENTENCES = Path(__file__).resolve().parent.parent / "guardrails" / "data" / "toxicity_validation.csv"
TOXICITY_TRAINING_ROWS = 37_056


def sentences(count: int) -> list[str]:
    with SENTENCES.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if len(row["text"]) < 400]
    return texts[:count]


def per_second(texts: list[str], batch: int, step) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        step(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512, help="sentences per measurement")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epoch-rows", type=int, default=TOXICITY_TRAINING_ROWS)
    args = parser.parse_args(argv)

    path = default_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    head = torch.nn.Linear(model.config.hidden_size, 3)
    optimiser = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=2e-5)
    texts = sentences(args.rows)

    def batch_of(chunk: list[str]):
        return tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")

    def infer(chunk: list[str], bf16: bool) -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(**batch_of(chunk))

    def train(chunk: list[str], bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pooled = model(**batch_of(chunk)).last_hidden_state.mean(1)
            loss = head(pooled).float().pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    print(f"{len(texts)} sentences, batches of {args.batch}, {torch.get_num_threads()} threads")
    for name, bf16 in (("float32", False), ("bfloat16", True)):
        model.eval()
        inferred = per_second(texts, args.batch, lambda chunk: infer(chunk, bf16))
        model.train()
        trained = per_second(texts, args.batch, lambda chunk: train(chunk, bf16))
        minutes = args.epoch_rows / trained / 60
        print(
            f"{name:9s} inference {inferred:6.0f}/s  training {trained:5.0f}/s  ratio {trained / inferred:.3f}  "
            f"one epoch of {args.epoch_rows:,} rows {minutes:.1f} min"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
