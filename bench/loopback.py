"""The bot as members meet it, for benchmarks: the real Core and discord.py client against the loopback fake Discord.

`running_bot` starts a Core (engine, default rails, batched recorder on a fresh SQLite file) and a real
`StoryloomBot` logged in to `tests.fakediscord.FakeDiscord` on 127.0.0.1; `/write` goes in as a slash command
and comes back as the deferred reply's edits over real HTTP, exactly as on Discord. The fake runs on the same
event loop as the bot, so its own work (parsing, checking every write) is counted against the bot: the
figures are, if anything, pessimistic.

Engines: `transformers` (the shipped SmolLM2 on this machine), `vllm` (only where `import vllm` works), or
`openai` against a base URL (the loopback fake OpenAI server, for loop-lag runs that must leave the CPU to the
loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core import prompts
from bot.core.admission import clean_prompt
from bot.core.app import Core, load_rails
from bot.core.streaming import render
from bot.core.request import WriteJob
from bot.engines.base import ChatMessages, Delta, Engine, SamplingParams, Usage

REPO = Path(__file__).resolve().parents[1]
MODEL_CACHE = REPO / "data" / "models"
"""Where the shipped model is converted once; `STORYLOOM_MODEL_CACHE_DIR` points elsewhere (the tests' cache)."""
REQUEST_ID = re.compile(r"request `([0-9a-f]{32})`")
SEED = 7
TOPICS = [
    "a lighthouse keeper who collects storms",
    "a dragon who bakes bread for a mountain village",
    "the last train of the night",
    "a robot learning to paint",
    "two rival chess players stranded on an island",
    "a library that rearranges itself",
    "a cat who runs a small post office",
    "a city where it never stops snowing",
    "a clockmaker who can repair time",
    "a ghost afraid of people",
    "a violin found in an attic",
    "a river that flows backwards once a year",
    "an astronaut's first day back on Earth",
    "a garden that grows memories",
    "a fox who wants to be a detective",
    "a ship made of paper",
]


def topic(index: int) -> str:
    return TOPICS[index % len(TOPICS)] + ("" if index < len(TOPICS) else f" (part {index // len(TOPICS) + 1})")


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def bench_settings(data_dir: Path, engine: str, **overrides: Any) -> Settings:
    """Product defaults, except: a fixed seed (both sides write the same text), no per-member rate limit (three
    fake members send everything), no metrics port, and the shipped model from data/models."""
    if engine == "vllm" and not vllm_installed():
        raise SystemExit("vLLM is not installed here (`import vllm` fails); run with --engine transformers")
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        engine=engine,
        model_cache_dir=Settings().model_cache_dir or MODEL_CACHE,
        seed=SEED,
        rate_limit_per_minute=100_000,  # the most a setting allows (bot/config.py)
        metrics_port=0,
    )
    values.update(overrides)
    return Settings(**values)


def write_job(index: int, length: str) -> WriteJob:
    return WriteJob(command="write", kind="story", prompt=topic(index), length=length)


def engine_request(index: int, length: str) -> tuple[ChatMessages, SamplingParams]:
    """What the pipeline sends the engine for `/write story about <topic(index)>`: same messages, same params."""
    job = write_job(index, length)
    messages = render(job, clean_prompt(job.prompt))
    return messages, prompts.sampling_for("story", length, SEED)


class FirstTokenClock(Engine):
    """Wraps an engine and notes, per request, when its first text delta came out and when the deltas first made
    a whole chunk as the pipeline cuts them (monotonic seconds), with the deltas that took."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.first_token_at: dict[str, float] = {}
        self.first_chunk_at: dict[str, float] = {}
        self.deltas_to_first_chunk: dict[str, int] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def stream(self, messages: ChatMessages, params: SamplingParams, request_id: str) -> AsyncIterator[Any]:
        from bot.core.streaming import SentenceChunker

        chunker, deltas = SentenceChunker(), 0
        stream = self.inner.stream(messages, params, request_id)
        try:
            async for event in stream:
                if isinstance(event, Delta) and event.text and request_id not in self.first_chunk_at:
                    now = time.monotonic()
                    self.first_token_at.setdefault(request_id, now)
                    deltas += 1
                    if chunker.feed(event.text):
                        self.first_chunk_at[request_id] = now
                        self.deltas_to_first_chunk[request_id] = deltas
                yield event
        finally:
            await stream.aclose()


@dataclass
class Delivered:
    request_id: str | None
    dispatched_at: float
    done_at: float
    first_text_at: float | None
    """When the first edit with text (not the deferred placeholder) reached the fake Discord."""
    delivered: bool


@dataclass
class Bot:
    core: Core
    fake: Any
    engine: Engine

    async def write(self, index: int, length: str, timeout: float = 600.0) -> Delivered:
        """One `/write` from a fake member, until the final message (or a refusal) is on the fake Discord."""
        fake = self.fake
        member = (fake.alice, fake.owner, fake.mod)[index % 3]
        record = await fake.slash(
            "write", {"kind": "story", "about": topic(index), "length": length}, user=member, channel=fake.general
        )

        def finished(r: Any) -> bool:
            final = r.original is not None and "AI-generated" in r.original.content and not r.original.content.endswith("▌")
            return final or any(m.ephemeral for m in r.followups)

        await record.wait_for(finished, timeout=timeout)
        texts = [w for w in record.writes if w.action == "edit" and w.content.strip()]
        last = max(w.at for w in record.writes)
        match = REQUEST_ID.search(record.original.content if record.original is not None else "")
        if match is None:
            match = next((REQUEST_ID.search(m.content) for m in record.followups if REQUEST_ID.search(m.content)), None)
        delivered = record.original is not None and "AI-generated" in record.original.content
        return Delivered(
            match.group(1) if match else None,
            record.dispatched_at,
            last,
            texts[0].at if texts else None,
            delivered,
        )


@contextlib.asynccontextmanager
async def running_bot(engine_name: str, *, engine: Engine | None = None, **overrides: Any) -> AsyncIterator[Bot]:
    """A started engine (unless handed one), rails, Core on a fresh SQLite file, and the bot on the fake Discord."""
    from bot.discord.bot import StoryloomBot
    from bot.engines import create_engine
    from tests.fakediscord import FAST_CLIENT_OPTIONS, FakeDiscord, pointed_at

    with tempfile.TemporaryDirectory(prefix="storyloom-bench-") as directory:
        settings = bench_settings(Path(directory), engine_name, **overrides)
        own_engine = engine is None
        if engine is None:
            engine = create_engine(settings)
            await engine.start()
        rails = await asyncio.to_thread(load_rails, settings)
        core = await Core.start(settings, engine=engine, rails=rails)
        fake = FakeDiscord()
        await fake.start()
        try:
            with pointed_at(fake):
                bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
                async with fake.run_bot(bot):
                    yield Bot(core, fake, engine)
        finally:
            await core.close()
            await rails.close()
            await fake.close()
            if own_engine:
                await engine.close()


async def output_tokens(core: Core, request_ids: list[str]) -> int:
    """Output tokens the engine wrote for these requests, from their generation records."""
    from sqlalchemy import func, select

    from storage.models import Generation

    await core.recorder.flush()
    async with core.database.connect() as connection:
        total = await connection.scalar(
            select(func.coalesce(func.sum(Generation.output_tokens), 0)).where(Generation.request_id.in_(request_ids))
        )
    return int(total or 0)


async def raw_stream(engine: Engine, messages: ChatMessages, params: SamplingParams, request_id: str) -> Usage | None:
    """The baseline: stream one request straight from the engine, reading every delta, nothing else."""
    usage = None
    async for event in engine.stream(messages, params, request_id):
        if isinstance(event, Usage):
            usage = event
    return usage
