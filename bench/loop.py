"""Event-loop lag, p50 and p99, while 64 requests are in flight through the pipeline.

The bot (Core, default rails, recorder on SQLite, the real discord.py client against the loopback fake Discord)
runs `--requests` `/write` commands at once, all admitted together (`max_concurrent_generations` = the count).
The engine is the `openai` engine streaming from the loopback fake OpenAI server (tests/fake_openai.py), which
runs on its own thread and event loop: its replies are ~600-character passages of the bot's own held-out
fiction, one word per token every `--token-delay-ms`, so the bot's loop does what it does in production
(read the stream, cut sentences, await the rails, edit, record) while the CPU is not taken by a local model.
The fake Discord shares the bot's loop (its work counts against the lag: pessimistic).

A ticker sleeps 5 ms at a time; lag is how late each wake-up is. Baseline in the same run: the same ticker on
the same connected bot with nothing in flight.

    python -m bench loop [--requests 64] [--token-delay-ms 20] [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import threading
import time

from bench.harness import percentile, table
from bench.loopback import running_bot
from bot.core.app import freeze_startup_heap

TICK_S = 0.005


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--token-delay-ms", type=float, default=20.0)
    parser.add_argument(
        "--no-gc-freeze", dest="gc_freeze", action="store_false",
        help="leave start-up's heap to the garbage collector (the entry points freeze it: freeze_startup_heap)",
    )  # fmt: skip


class ThreadedOpenAIServer:
    """The loopback fake OpenAI server on a thread of its own, so its work stays off the bot's loop."""

    def __init__(self, replies: list[str], token_delay_s: float) -> None:
        self._replies, self._delay = replies, token_delay_s
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self.base_url = ""

    def _run(self) -> None:
        from tests.fake_openai import FakeOpenAIServer

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = FakeOpenAIServer(token_delay_s=self._delay, scripted_replies=list(self._replies))
            await server.start()
            self.base_url = server.base_url
            self._ready.set()
            await self._stop.wait()
            await server.stop()

        asyncio.run(serve())

    def __enter__(self) -> ThreadedOpenAIServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lags.append((time.perf_counter() - started - TICK_S) * 1000)


async def _lag_during(work) -> tuple[list[float], object, float]:  # noqa: ANN001 - an awaitable
    """Lags while `work` runs, its result, and the share of that time the loop's own thread spent on the CPU."""
    stop, lags = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lags))
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        result = await work
    finally:
        stop.set()
        await ticker
    return lags, result, (time.thread_time() - cpu) / (time.perf_counter() - wall)


def _summary(lags: list[float]) -> dict:
    return {"p50_ms": statistics.median(lags), "p99_ms": percentile(lags, 0.99), "max_ms": max(lags), "ticks": len(lags)}


async def measure(args: argparse.Namespace) -> dict:
    from bench.rails import creative_outputs

    count = 8 if args.quick else args.requests
    replies = creative_outputs(count + 4)
    with ThreadedOpenAIServer(replies, args.token_delay_ms / 1000) as server:
        async with running_bot(
            "openai", engine_urls=[server.base_url], max_concurrent_generations=count, max_queued_requests=count
        ) as bot:
            for i in range(4):
                await bot.write(30_000 + i, "short")  # warm: rails' matrices, first commits
            if args.gc_freeze:
                freeze_startup_heap()  # as `storyloom run` does once the bot is ready
            idle, _, idle_cpu = await _lag_during(asyncio.sleep(1.0 if args.quick else 3.0))
            busy, done, busy_cpu = await _lag_during(asyncio.gather(*(bot.write(i, "short") for i in range(count))))
    wall = max(d.done_at for d in done) - min(d.dispatched_at for d in done)
    out = {
        "requests": count,
        "engine": "openai (loopback fake, own thread)",
        "token_delay_ms": args.token_delay_ms,
        "delivered": sum(d.delivered for d in done),
        "wall_s": wall,
        "busy": _summary(busy),
        "idle_baseline": _summary(idle),
        "loop_thread_cpu_share": busy_cpu,
        "loop_thread_cpu_share_idle": idle_cpu,
        "load_average_1m": os.getloadavg()[0],
        "gc_freeze": args.gc_freeze,
        "gc_collections": [stat["collections"] for stat in gc.get_stats()],
    }
    out["lag_p50_ms"], out["lag_p99_ms"] = out["busy"]["p50_ms"], out["busy"]["p99_ms"]
    return out


def report(results: dict) -> str:
    rows = [[name.replace("_", " "), r["p50_ms"], r["p99_ms"], r["max_ms"], r["ticks"]]
            for name, r in (("in flight", results["busy"]), ("idle (baseline)", results["idle_baseline"]))]  # fmt: skip
    return (
        f"event-loop lag with {results['requests']} requests in flight ({results['delivered']} delivered in "
        f"{results['wall_s']:.1f} s; engine {results['engine']})\n"
        + table(["", "p50 ms", "p99 ms", "max ms", "ticks"], rows)
        + f"\nthe loop's thread on the CPU {results['loop_thread_cpu_share']:.0%} of the time in flight "
        + f"({results['loop_thread_cpu_share_idle']:.0%} idle); 1-minute load average {results['load_average_1m']:.1f}"
    )


if __name__ == "__main__":  # `python -m bench.loop` is `python -m bench loop`
    import sys

    from bench.harness import main

    main("loop", sys.argv[1:])
