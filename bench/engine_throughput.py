"""Output tokens/s of the transformers engine at 1, 8 and 16 concurrent requests, against batched `model.generate`.

Both sides run in this process on the same prepared model, dtype and prompts, greedy with the bot's default
repetition penalty and up to 128 new tokens per prompt; tokens count up to each row's EOS. The engine side is
concurrent streams (continuous batching); the baseline is one left-padded `generate` call per concurrency level.
Each figure is the best of `--repeat` runs, taken in turns, since CPU time on a shared machine varies a lot.

    python -m bench.engine_throughput [--model smollm2] [--cache-dir data/models] [--dtype auto] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import torch

from bench.loopback import TOPICS
from bot.config import Settings
from bot.engines.base import SamplingParams
from bot.engines.transformers_engine import TransformersEngine

CONCURRENCY = (1, 8, 16)
NEW_TOKENS = 128
PARAMS = SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0, repetition_penalty=1.1)


def conversation(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long story about {topic}."}]


async def engine_tokens_per_s(engine: TransformersEngine, concurrency: int) -> tuple[float, int]:
    started = time.perf_counter()
    results = await asyncio.gather(
        *(engine.complete(conversation(topic), PARAMS, f"bench-{i}") for i, topic in enumerate(TOPICS[:concurrency]))
    )
    elapsed = time.perf_counter() - started
    tokens = sum(usage.output_tokens for _, usage in results)
    return tokens / elapsed, tokens


def generate_tokens_per_s(model, tokenizer, concurrency: int) -> tuple[float, int]:
    texts = [
        tokenizer.apply_chat_template(conversation(topic), tokenize=False, add_generation_prompt=True)
        for topic in TOPICS[:concurrency]
    ]
    tokenizer.padding_side = "left"
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            repetition_penalty=PARAMS.repetition_penalty,
            pad_token_id=tokenizer.pad_token_id,
        )
    elapsed = time.perf_counter() - started
    # Rows that stopped early are padded after their EOS: count up to and including the EOS, as the engine does.
    eos = tokenizer.eos_token_id
    rows = output[:, inputs["input_ids"].shape[1] :].tolist()
    tokens = sum(row.index(eos) + 1 if eos in row else len(row) for row in rows)
    return tokens / elapsed, tokens


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = Settings()
    parser.add_argument("--model", default=settings.model)
    parser.add_argument("--cache-dir", type=Path, default=settings.effective_model_cache_dir)
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float32"], default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    engine = TransformersEngine(args.model, args.cache_dir, max_batch_size=max(CONCURRENCY), dtype=args.dtype)
    await engine.start()
    assert engine.model_dir is not None
    dtype = engine.torch_dtype
    tokenizer = AutoTokenizer.from_pretrained(engine.model_dir)
    baseline = AutoModelForCausalLM.from_pretrained(engine.model_dir, dtype=dtype).eval()
    print(f"model {engine.model_dir} in {dtype}, {torch.get_num_threads()} threads, {NEW_TOKENS} new tokens max")

    # Warm both up so that neither pays for first-call kernel set-up.
    await engine_tokens_per_s(engine, 2)
    generate_tokens_per_s(baseline, tokenizer, 2)

    print(f"{'concurrent':>10} {'engine tok/s':>13} {'generate tok/s':>15} {'ratio':>6}   tokens (engine/generate)")
    try:
        for concurrency in CONCURRENCY:
            engine_runs, generate_runs = [], []
            for _ in range(args.repeat):
                engine_runs.append(await engine_tokens_per_s(engine, concurrency))
                generate_runs.append(generate_tokens_per_s(baseline, tokenizer, concurrency))
            engine_rate, engine_tokens = max(engine_runs)
            generate_rate, generate_tokens = max(generate_runs)
            print(
                f"{concurrency:>10} {engine_rate:>13.1f} {generate_rate:>15.1f} {engine_rate / generate_rate:>6.2f}"
                f"   {engine_tokens}/{generate_tokens}"
            )
        print(f"engine stats: {engine.stats}")
    finally:
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
