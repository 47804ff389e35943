"""The whole pipeline in front of an engine as fast as a GPU: delivered ÷ offered tokens/s and the host's CPU per token.

The engine is a loopback OpenAI-compatible server in a process of its own (so it takes neither the bot's GIL
nor its loop) that streams every request at `--tokens-per-s` (default 80, a vLLM stream on a GPU), one SSE
event per token as vLLM sends them, tokens of realistic size (a word, or 3–4 characters of a longer one, with
punctuation on its own) cut from the bot's held-out fiction, story-length replies (`--length`, default
`medium`: 320 tokens, ~1,300 characters). Nothing in it depends on this machine's speed but its pacing.

The bot is the real one (bench/loopback.py): `/write` slash commands through discord.py against the loopback
fake Discord, the default rails (their model on the shared encoder, off the loop), the batched recorder on a
fresh SQLite file. At each level (`--levels`, default 16, 64, 256) that many requests go in at once.

Baseline in the same run: the same server streamed straight to `--levels` plain readers through the same
`openai` engine client, every delta read: what the engine offers. The figures per level:

- ratio: delivered tokens/s (output tokens of delivered requests over first dispatch → last write on the fake
  Discord) over the baseline's tokens/s; also against the nominal rate (requests × tokens/s);
- CPU ms per delivered token, by thread: the loop's thread (pipeline, engine client, delivery, the fake
  Discord, which shares the loop: pessimistic), the database driver's thread (recording), and the rest (the
  rails' model: executor and torch threads), which `cpu_ms_per_token` leaves out;
- event-loop lag p50/p99 (a 5 ms ticker), and the process's peak resident memory.

With `--profile` (default on), the 64 level runs once more under cProfile; the loop thread's time is split by
stage (rails, chunking, engine client, delivery, recording, event loop) in proportion to the profile.

    python -m bench gpu_sim [--levels 16,64,256] [--tokens-per-s 80] [--length medium] [--no-profile]
                            [--quick] [--json] [--save]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import pstats
import re
import resource
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import percentile, table
from bench.loopback import Bot, engine_request, output_tokens, raw_stream, running_bot

TICK_S = 0.005
_TOKEN = re.compile(r"\s*[A-Za-z']+|\s*\d+|\s*[^\sA-Za-z\d']|\s+")


# -- the engine: a loopback OpenAI-compatible server in its own process -----------------------------------------


def story_tokens(text: str) -> list[str]:
    """Tokens of about the size a BPE tokenizer gives English (~4 characters): a word with its leading space,
    a long word cut into 3–4 character pieces, punctuation alone."""
    tokens: list[str] = []
    for piece in _TOKEN.findall(text):
        while len(piece) > 6:
            cut = 4 if piece[0] == " " else 3
            tokens.append(piece[:cut])
            piece = piece[cut:]
        tokens.append(piece)
    return tokens


def _serve(port_out: multiprocessing.connection.Connection, tokens_per_s: float) -> None:  # the child process
    from aiohttp import web

    from bench.rails import creative_outputs

    passages = [story_tokens(text + "\n\n") for text in creative_outputs(500)]
    served = {"next": 0}
    model = "sim/gpu"

    def reply(max_tokens: int) -> list[str]:
        tokens: list[str] = []
        while len(tokens) < max_tokens:  # the next passages in turn: sentences the encoder has not seen lately
            tokens += passages[served["next"] % len(passages)]
            served["next"] += 1
        return tokens[:max_tokens]

    def event(payload: dict) -> bytes:
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "sim"}]})

    async def health(request: web.Request) -> web.Response:
        return web.Response()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        tokens = reply(int(body.get("max_tokens") or 320))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        head = {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        await response.write(event({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))
        started, sent = time.monotonic(), 0
        while sent < len(tokens):
            due = min(len(tokens), int((time.monotonic() - started) * tokens_per_s) + 1)
            out = b""
            for index in range(sent, due):  # one event per token, as vLLM streams; late ones go in one write
                finish = "length" if index == len(tokens) - 1 else None
                out += event({**head, "choices": [{"index": 0, "delta": {"content": tokens[index]}, "finish_reason": finish}]})
            sent = due
            await response.write(out)
            if sent < len(tokens):
                await asyncio.sleep(max(0.0, started + sent / tokens_per_s - time.monotonic()))
        usage = {"prompt_tokens": 60, "completion_tokens": len(tokens), "total_tokens": 60 + len(tokens)}
        await response.write(event({**head, "choices": [], "usage": usage}) + b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/v1/models", models)
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def gpu_engine(tokens_per_s: float) -> Iterator[str]:
    """The simulated GPU engine's base URL while it runs in its own process."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_serve, args=(send, tokens_per_s), name="gpu-sim-engine", daemon=True)
    process.start()
    try:
        if not receive.poll(60):
            raise SystemExit("the simulated engine did not start")
        yield f"http://127.0.0.1:{receive.recv()}/v1"
    finally:
        process.terminate()
        process.join(10)


# -- measuring ----------------------------------------------------------------------------------------------------


def _thread_cpu_s(native_id: int) -> float:
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_thread() -> dict[str, dict[int, float]]:
    """CPU seconds so far by thread: the loop's (main) thread, the database drivers' threads, and everything else
    in the process (the rails' model in executor threads and torch's own threads, under one key)."""
    from aiosqlite.core import _connection_worker_thread

    loop = time.thread_time()
    drivers = [t for t in threading.enumerate() if getattr(t, "_target", None) is _connection_worker_thread]
    database = {t.native_id: _thread_cpu_s(t.native_id) for t in drivers if t.native_id is not None}
    return {"loop": {0: loop}, "recording_db_thread": database, "process": {0: time.process_time()}}


def cpu_spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds between two `cpu_by_thread` readings (a driver thread started in between counts from zero)."""
    spent = {name: sum(value - before[name].get(tid, 0.0) for tid, value in after[name].items()) for name in after}
    spent["model_and_other"] = spent.pop("process") - spent["loop"] - spent["recording_db_thread"]
    return spent


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lags.append((time.perf_counter() - started - TICK_S) * 1000)


async def _pipeline(bot: Bot, indices: list[int], length: str) -> dict:
    stop, lags = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lags))
    before = cpu_by_thread()
    try:
        done = await asyncio.gather(*(bot.write(i, length) for i in indices))
    finally:
        stop.set()
        await ticker
    after = cpu_by_thread()
    delivered = [d for d in done if d.delivered and d.request_id]
    tokens = await output_tokens(bot.core, [d.request_id for d in delivered])
    wall = max(d.done_at for d in done) - min(d.dispatched_at for d in done)
    cpu = {name: seconds * 1000 / max(tokens, 1) for name, seconds in cpu_spent(before, after).items()}
    return {
        "tokens_per_s": tokens / wall, "tokens": tokens, "delivered": len(delivered), "requests": len(done),
        "wall_s": wall, "cpu_ms_per_token": cpu["loop"] + cpu["recording_db_thread"],
        "cpu_ms_per_token_by_thread": cpu, "lag_p50_ms": percentile(lags, 0.5), "lag_p99_ms": percentile(lags, 0.99),
    }  # fmt: skip


async def _engine(bot: Bot, indices: list[int], length: str) -> dict:
    before = time.process_time()
    started = time.monotonic()
    usages = await asyncio.gather(
        *(raw_stream(bot.engine, *engine_request(i, length), f"raw-{i}-{time.monotonic_ns()}") for i in indices)
    )
    wall = time.monotonic() - started
    tokens = sum(u.output_tokens for u in usages if u is not None)
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "cpu_ms_per_token": (time.process_time() - before) * 1000 / max(tokens, 1)}


STAGES = (  # (stage, path fragments of the profiled functions' files), first match wins
    ("chunking", ("SentenceChunker",)),
    ("rails (loop side)", ("/guardrails/",)),
    ("recording", ("/storage/", "/sqlalchemy/", "/aiosqlite/")),
    ("engine client (stream read)", ("/bot/engines/", "/httpx/", "/httpcore/", "/h11/", "/anyio/", "/json/", "json.decoder")),
    ("delivery (discord.py, HTTP)", ("/bot/discord/", "/discord/", "/aiohttp/", "/yarl/", "/multidict/")),
    ("fake Discord (same loop)", ("/tests/fakediscord/",)),
    ("pipeline", ("/bot/core/", "/bot/")),
    ("event loop", ("/asyncio/", "selectors", "epoll", "socket", "_contextvars", "Handle")),
)


def stage_shares(profile: cProfile.Profile) -> tuple[dict[str, float], list[list]]:
    """Each stage's share of the profiled loop thread's time (own time of its functions) and the top functions."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        stage = next((stage for stage, marks in STAGES if any(mark in where for mark in marks)), "other")
        if name in ("feed", "_next_cut", "rest") and filename.endswith("bot/core/streaming.py"):
            stage = "chunking"
        totals[stage] = totals.get(stage, 0.0) + tottime
        rows.append([f"{Path(filename).name}:{line}:{name}", tottime, cumtime, stage])
    whole = sum(totals.values()) or 1.0
    rows.sort(key=lambda row: row[1], reverse=True)
    return {stage: value / whole for stage, value in sorted(totals.items(), key=lambda kv: -kv[1])}, rows[:15]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(args: argparse.Namespace) -> dict:
    from bot.core.app import freeze_startup_heap

    levels = [2, 4] if args.quick else [int(level) for level in args.levels.split(",")]
    length = "short" if args.quick else args.length
    results: dict = {"tokens_per_s_per_stream": args.tokens_per_s, "length": length, "levels": {}}
    biggest = max(levels)
    with gpu_engine(args.tokens_per_s) as url:
        async with running_bot(
            "openai", engine_urls=[url], max_concurrent_generations=biggest, max_queued_requests=biggest,
            encoder_device=args.encoder_device,
        ) as bot:  # fmt: skip
            for i in range(4):
                await bot.write(40_000 + i, length)  # warm: rails' matrices, first commits
            freeze_startup_heap()  # as `storyloom run` does once the bot is ready
            next_index = 0
            for level in levels:
                indices = list(range(next_index, next_index + level))
                next_index += level
                pipeline = await _pipeline(bot, indices, length)
                engine = await _engine(bot, indices, length)
                nominal = level * args.tokens_per_s
                out = {"pipeline": pipeline, "engine": engine, "ratio": pipeline["tokens_per_s"] / engine["tokens_per_s"],
                       "ratio_to_nominal": pipeline["tokens_per_s"] / nominal, "nominal_tokens_per_s": nominal}  # fmt: skip
                results["levels"][str(level)] = out
                results[f"ratio_c{level}"] = out["ratio"]
                results[f"cpu_ms_per_token_c{level}"] = pipeline["cpu_ms_per_token"]
                results[f"lag_p99_ms_c{level}"] = pipeline["lag_p99_ms"]
            profiled = 64 if 64 in levels else levels[0]
            if args.profile:
                indices = list(range(next_index, next_index + profiled))
                profile = cProfile.Profile(time.thread_time)  # the loop thread's CPU, not the wall (idle epoll)
                profile.enable()
                await asyncio.gather(*(bot.write(i, length) for i in indices))
                profile.disable()
                shares, top = stage_shares(profile)
                loop_ms = results["levels"][str(profiled)]["pipeline"]["cpu_ms_per_token_by_thread"]["loop"]
                results["profile"] = {"level": profiled, "loop_ms_per_token_by_stage": {k: v * loop_ms for k, v in shares.items()},
                                      "top_functions": top}  # fmt: skip
    from guardrails.modeling.encoder import resolve_device

    results["encoder_device"] = f"{args.encoder_device} ({resolve_device(args.encoder_device)})"
    results["peak_rss_mib"] = _peak_rss_mib()
    results["load_average_1m"] = os.getloadavg()[0]
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--levels", default="16,64,256", help="concurrent requests per level, comma-separated")
    parser.add_argument("--tokens-per-s", type=float, default=80.0, help="each stream's rate (a GPU's vLLM stream)")
    parser.add_argument("--length", choices=["short", "medium", "long"], default="medium")
    parser.add_argument("--encoder-device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile pass")


def report(results: dict) -> str:
    rows = []
    for level, r in results["levels"].items():
        p, e = r["pipeline"], r["engine"]
        by = p["cpu_ms_per_token_by_thread"]
        rows.append([level, p["tokens_per_s"], e["tokens_per_s"], r["ratio"], r["ratio_to_nominal"],
                     f"{p['delivered']}/{p['requests']}", by["loop"], by["recording_db_thread"], by["model_and_other"],
                     e["cpu_ms_per_token"], p["lag_p99_ms"]])  # fmt: skip
    text = (
        f"pipeline in front of a simulated GPU engine ({results['tokens_per_s_per_stream']:.0f} tokens/s per stream, "
        f"{results['length']}), own process; encoder on {results.get('encoder_device')}\n"
        + table(["concurrent", "pipeline tok/s", "engine tok/s", "ratio", "to nominal", "delivered", "loop ms/tok",
                 "db ms/tok", "model ms/tok", "baseline ms/tok", "lag p99 ms"], rows)  # fmt: skip
        + f"\npeak RSS {results['peak_rss_mib']:.0f} MiB; 1-minute load average {results['load_average_1m']:.1f}"
    )
    if "profile" in results:
        prof = results["profile"]
        stages = ", ".join(f"{k} {v:.3f}" for k, v in prof["loop_ms_per_token_by_stage"].items())
        text += f"\nloop-thread CPU ms per token by stage at {prof['level']} concurrent (cProfile shares): {stages}\n"
        text += table(["function", "own s", "cumulative s", "stage"], prof["top_functions"])
    return text


if __name__ == "__main__":  # `python -m bench.gpu_sim` is `python -m bench gpu_sim`
    import sys

    from bench.harness import main

    main("gpu_sim", sys.argv[1:])
