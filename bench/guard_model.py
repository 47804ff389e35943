"""The guard-model rail's own cost: a batch of texts judged by a served guard model, concurrently vs one at a time.

No model runs here: the loopback fake OpenAI server (tests/fake_openai.py, on its own thread and event loop)
answers each `/v1/completions` request as Llama Guard 3 or ShieldGemma would, after `--model-ms` (what a GPU
takes for one short prefill, made up: set it to your server's). What is measured is the rail's part (rendering,
HTTP, parsing, the thread pool) and what concurrency buys. Baseline in the same run: the same batch with one
request in flight at a time (`STORYLOOM_GUARD_MODEL_CONCURRENCY=1`).

    python -m bench guard_model [--texts 64] [--model-ms 20] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import threading
import time

from bench.harness import table

MODEL = "meta-llama/Llama-Guard-3-8B"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", type=int, default=64, help="texts per batch (the rails' micro-batch holds 64)")
    parser.add_argument("--model-ms", type=float, default=20.0, help="the fake model's time per request")
    parser.add_argument("--repeats", type=int, default=5)


def _answer(prompt: str) -> tuple[str, dict[str, float]]:
    if "Human Question:" in prompt or "Chatbot Response:" in prompt:
        return "No", {"No": math.log(0.97), "Yes": math.log(0.03)}
    return "safe", {"safe": math.log(0.98), "unsafe": math.log(0.02)}


class ThreadedGuardServer:
    """The fake server on a thread of its own, so its work stays off the measured thread."""

    def __init__(self, model_ms: float) -> None:
        self._model_s = model_ms / 1000
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="fake-guard", daemon=True)
        self.base_url = ""

    def _run(self) -> None:
        from tests.fake_openai import FakeOpenAIServer

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = FakeOpenAIServer(model_id=MODEL, completion_rule=_answer, hang_s=self._model_s)
            await server.start()
            self.base_url = server.base_url
            self._ready.set()
            await self._stop.wait()
            await server.stop()

        asyncio.run(serve())

    def __enter__(self) -> ThreadedGuardServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _time_batches(base_url: str, fmt: str, texts: list[str], concurrency: int, repeats: int) -> dict:
    from guardrails.modeling.guard_clients import OpenAIGuardClient
    from guardrails.rails.guard_model import GuardModelRail

    client = OpenAIGuardClient([base_url], MODEL, concurrency=concurrency)
    rail = GuardModelRail(client, MODEL, format=fmt)  # type: ignore[arg-type]
    try:
        rail.check(texts[:2], "output")  # connections opened, threads started
        batch, single = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            verdicts = rail.check(texts, "output")
            batch.append(time.perf_counter() - started)
            assert all(verdict.decision == "pass" for verdict in verdicts), verdicts[0]
            started = time.perf_counter()
            rail.check(texts[:1], "output")
            single.append(time.perf_counter() - started)
    finally:
        rail.close()
    seconds = statistics.median(batch)
    return {"batch_ms": seconds * 1000, "texts_per_s": len(texts) / seconds, "one_text_ms": statistics.median(single) * 1000}


async def measure(args: argparse.Namespace) -> dict:
    count = 8 if args.quick else args.texts
    repeats = 1 if args.quick else args.repeats
    texts = [f"The keeper climbed the stairs at dusk and trimmed the wick, night {n}." for n in range(count)]
    results: dict = {"texts": count, "model_ms": args.model_ms, "formats": {}}
    with ThreadedGuardServer(args.model_ms) as server:
        for fmt in ("llamaguard3", "shieldgemma"):
            concurrent = await asyncio.to_thread(_time_batches, server.base_url, fmt, texts, 16, repeats)
            sequential = await asyncio.to_thread(_time_batches, server.base_url, fmt, texts, 1, repeats)
            results["formats"][fmt] = {"concurrent": concurrent, "sequential": sequential,
                                       "speedup": sequential["batch_ms"] / concurrent["batch_ms"]}  # fmt: skip
    results["llamaguard3_texts_per_s"] = results["formats"]["llamaguard3"]["concurrent"]["texts_per_s"]
    results["llamaguard3_speedup"] = results["formats"]["llamaguard3"]["speedup"]
    return results


def report(results: dict) -> str:
    rows = []
    for fmt, figures in results["formats"].items():
        for mode in ("concurrent", "sequential"):
            measured = figures[mode]
            rows.append([fmt, "16 in flight" if mode == "concurrent" else "1 in flight (baseline)",
                         measured["batch_ms"], measured["texts_per_s"], measured["one_text_ms"]])  # fmt: skip
    head = f"{results['texts']} texts per batch, fake model {results['model_ms']:g} ms per request\n"
    return head + table(["format", "requests", "batch ms", "texts/s", "one text ms"], rows)
