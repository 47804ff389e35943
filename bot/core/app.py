"""The core every front end drives: settings, database, recorder, engine, rails and the pipeline, started once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.core.pipeline import Pipeline
from bot.engines.base import Engine
from guardrails.stack import RailStack
from storage.db import create_engine as create_db_engine
from storage.db import mark_interrupted, upgrade
from storage.recorder import Recorder

log = logging.getLogger(__name__)


def load_rails(settings: Settings) -> RailStack:
    """The default rail stack. Loads models; call off the loop.

    Input: toxicity and prompt injection. Output: toxicity and fiction-aware misinformation.
    """
    from guardrails.encoder import SentenceEncoder
    from guardrails.injection import InjectionRail
    from guardrails.misinfo import KnowledgeBase, MisinfoRail
    from guardrails.toxicity import ToxicityRail, load_toxicity_backend

    encoder = SentenceEncoder()
    backend, reason = load_toxicity_backend(
        settings.toxicity_backend,
        detoxify_checkpoint=settings.detoxify_checkpoint,
        detoxify_config_path=settings.detoxify_config_path,
        encoder=encoder,
    )
    log.info("toxicity backend: %s (%s)", backend.name, reason)
    toxicity = ToxicityRail(backend)
    return RailStack(
        [toxicity.for_prompts(), InjectionRail(encoder)], [toxicity, MisinfoRail(encoder, KnowledgeBase.load())]
    )


@dataclass
class Core:
    settings: Settings
    database: AsyncEngine
    recorder: Recorder
    engine: Engine
    rails: RailStack
    pipeline: Pipeline
    owns_engine: bool = True
    owns_rails: bool = True
    """False for what the caller handed in (tests share one engine and one rail stack across a session)."""

    @classmethod
    async def start(
        cls, settings: Settings, *, engine: Engine | None = None, rails: RailStack | None = None
    ) -> Core:
        """Open the database (upgrading the schema), close what a previous run left open, load engine and rails.

        Tests pass an already started `engine` and `rails` so models load once per session.
        """
        database = create_db_engine(settings.effective_database_url)
        await upgrade(database)
        interrupted = await mark_interrupted(database)
        if interrupted:
            log.warning("marked %d requests from a previous run as interrupted", interrupted)
        recorder = Recorder(database)
        recorder.start()
        owns_engine, owns_rails = engine is None, rails is None
        if rails is None:
            rails = await asyncio.to_thread(load_rails, settings)
        if engine is None:
            from bot.engines import create_engine

            engine = create_engine(settings)
            await engine.start()
        pipeline = Pipeline(
            engine=engine,
            rails=rails,
            recorder=recorder,
            max_prompt_chars=settings.max_prompt_chars,
            rate_limit_per_minute=settings.rate_limit_per_minute,
            max_concurrent=settings.max_concurrent_generations,
            max_queued=settings.max_queued_requests,
            seed=settings.seed,
        )
        return cls(settings, database, recorder, engine, rails, pipeline, owns_engine=owns_engine, owns_rails=owns_rails)

    async def close(self) -> None:
        await self.recorder.close()
        if self.owns_engine:
            await self.engine.close()
        if self.owns_rails:
            await self.rails.close()
        await self.database.dispose()
