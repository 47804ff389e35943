"""The core every front end drives: settings, database, recorder, engine, rails and the pipeline, started once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics

from bot.config import Settings
from bot.core.pipeline import Pipeline
from bot.engines.base import Engine
from guardrails.stack import RailStack
from storage.db import create_engine as create_db_engine
from storage import head_log, leases
from storage.db import mark_interrupted, upgrade
from storage.policies import add_misinfo_entry, misinfo_entries, remove_misinfo_entry
from storage.ratelimit import SharedRateLimiter
from storage.recorder import Recorder

if TYPE_CHECKING:
    from guardrails.claims.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 24 * 60 * 60


def load_rails(settings: Settings) -> RailStack:
    """The default rail stack (`guardrails.default_stack`) from the settings. Loads models; call off the loop."""
    from guardrails.defaults import default_stack
    from guardrails.modeling.detoxify import load_toxicity_backend
    from guardrails.modeling.encoder import SentenceEncoder
    from guardrails.rails.guard_model import GuardModelRail

    encoder = SentenceEncoder(precision=settings.encoder_precision, device=settings.encoder_device)
    backend, reason = load_toxicity_backend(
        settings.toxicity_backend,
        detoxify_checkpoint=settings.detoxify_checkpoint,
        detoxify_config_path=settings.detoxify_config_path,
        encoder=encoder,
    )
    log.info("toxicity backend: %s (%s)", backend.name, reason)
    # Optional (STORYLOOM_GUARD_MODEL): a served safety model judging beside the embedded rails on both stages.
    return default_stack(encoder, backend, guard_model=GuardModelRail.from_settings(settings))


def knowledge_base(rails: RailStack) -> KnowledgeBase | None:
    """The misinformation rail's knowledge base, where moderators' entries go; None without that rail."""
    from guardrails.rails.misinfo import MisinfoRail

    return next((rail.kb for rail in rails.output_rails if isinstance(rail, MisinfoRail)), None)


def guild_entry_id(row_id: int) -> str:
    return f"db-{row_id}"


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (models, modules, discord.py and SQLAlchemy state) out of the garbage
    collector's reach. Its full passes over those millions of objects stalled the event loop for 270-655 ms under
    load (`python -m bench loop`; 33-38 ms worst with the heap frozen). Called once by the process entry points, not
    by `Core.start`, which tests call many times in one process."""
    gc.collect()
    gc.freeze()


@dataclass
class Core:
    """The assembled application every front end drives: settings, database, recorder, engine, rails, pipeline."""

    settings: Settings
    database: AsyncEngine
    recorder: Recorder
    engine: Engine
    rails: RailStack
    pipeline: Pipeline
    owns_engine: bool = True
    owns_rails: bool = True
    """False for what the caller handed in (tests share one engine and one rail stack across a session)."""
    _entry_ids: set[str] = field(default_factory=set, init=False)
    """Knowledge-base entries this core put in from its database; a shared stack must not keep them after close."""
    _retention: asyncio.Task[None] | None = field(default=None, init=False)
    """With `retention_days` set: erases old requests' content at start, then daily (storage/erasure.py)."""
    engine_started: bool = field(default=True, init=False)
    """False once the engine is being closed (a `/ready` check)."""
    readiness: dict[str, metrics.Check] = field(default_factory=dict, init=False)
    """What `/ready` asks: the database and the engine here; the Discord bot adds its gateway."""
    metrics_server: metrics.MetricsServer | None = field(default=None, init=False)
    shared_rate_limiter: SharedRateLimiter = field(init=False)
    """Members' rate over every process on this database (Discord requests: bot/core/server_settings.py)."""
    _closed: bool = field(default=False, init=False)
    lease: leases.Lease | None = field(default=None, init=False)
    """This process's own lease (storage/leases.py): what tells the others sharing the database it is alive."""
    _lease_task: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    async def start(
        cls, settings: Settings, *, engine: Engine | None = None, rails: RailStack | None = None
    ) -> Core:
        """Open the database (upgrading the schema), close what a previous run left open, load engine and rails.

        Tests pass an already started `engine` and `rails` so models load once per session.
        """
        database = create_db_engine(settings.effective_database_url)
        if settings.chain_head_log is not None:
            head_log.attach(database, settings.chain_head_log)
        await upgrade(database)
        lease = await leases.acquire(database, settings.effective_instance)
        interrupted = await mark_interrupted(database, settings.effective_instance, lease)
        if interrupted:
            log.warning("marked %d requests from a previous run as interrupted", interrupted)
        recorder = Recorder(database, instance=settings.effective_instance, lease_id=lease.id)
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
            max_attempts=settings.max_attempts,
            shaped=settings.shaped_writing,
        )
        core = cls(settings, database, recorder, engine, rails, pipeline, owns_engine=owns_engine, owns_rails=owns_rails)
        core.lease = lease
        core._lease_task = asyncio.create_task(core._keep_lease(), name="instance-lease")
        core.shared_rate_limiter = SharedRateLimiter(database)
        core.readiness.update(
            database=core.database_reachable,
            engine=lambda: core.engine_started,
            records=lambda: core.recorder.healthy,  # False while the database refuses writes (storage/recorder.py)
        )
        metrics.shutting_down(False)
        await core._load_guild_entries()
        if settings.retention_days is not None:
            core._retention = asyncio.create_task(core._prune_daily(settings.retention_days), name="retention")
        if settings.metrics_port:
            core.metrics_server = metrics.MetricsServer(settings.metrics_host, settings.metrics_port, core.readiness)
            try:
                await core.metrics_server.start()
            except OSError as error:  # the port is taken (another Storyloom on this machine?): serve without metrics
                core.metrics_server = None
                log.warning(
                    "metrics: cannot listen on %s:%s (%s); going on without /metrics, /health and /ready "
                    "(set STORYLOOM_METRICS_PORT to a free port, or 0 for none)",
                    settings.metrics_host, settings.metrics_port, error.strerror or error,
                )  # fmt: skip
            except BaseException:
                await core.close()
                raise
        return core

    # -- health and shutdown ---------------------------------------------------------------------------------

    async def database_reachable(self) -> bool:
        async with self.database.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def drain(self, grace_s: float | None = None) -> int:
        """Stop taking requests (`/ready` answers 503), let open ones finish within the grace, interrupt the rest."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        metrics.shutting_down(True)
        self.readiness["accepting"] = lambda: False
        log.info("shutting down: waiting up to %.0f s for %d open requests", grace, self.pipeline.open_requests)
        return await self.pipeline.drain(grace)

    # -- instance lease ------------------------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        """Renew this process's lease, and close what same-named processes that died since left open."""
        assert self.lease is not None
        while True:
            await asyncio.sleep(leases.RENEW_S)
            try:
                await leases.renew(self.database, self.lease)
                closed = await mark_interrupted(self.database, self.lease.instance, self.lease, at_start=False)
                if closed:
                    log.warning("marked %d requests of a process that stopped as interrupted", closed)
            except Exception:  # the next pass tries again; the lease lives TTL_S, eight passes
                log.exception("could not renew this process's instance lease")

    # -- retention -------------------------------------------------------------------------------------------

    async def _prune_daily(self, days: int) -> None:
        from storage.erasure import prune_older_than

        while True:
            try:
                result = await prune_older_than(self.database, days)
                if result.erased:
                    log.info("retention: erased %d requests older than %d days", result.requests, days)
            except Exception:  # a failed pass is retried tomorrow; the bot keeps serving
                log.exception("retention pass failed")
            await asyncio.sleep(RETENTION_INTERVAL_S)

    # -- moderators' knowledge-base entries ----------------------------------------------------------------

    async def _load_guild_entries(self) -> None:
        kb = knowledge_base(self.rails)
        if kb is None:
            return
        rows = await misinfo_entries(self.database)
        for row in rows:
            kb.add(row.claim, row.correction, row.guild_id, entry_id=guild_entry_id(row.id))
            self._entry_ids.add(guild_entry_id(row.id))
        if rows:
            log.info("loaded %d moderators' misinformation entries", len(rows))

    async def add_misinfo_entry(self, *, guild_id: int, claim: str, correction: str, user_id: int) -> int:
        kb = knowledge_base(self.rails)
        if kb is None:
            raise LookupError("the misinformation rail is not in this stack")
        row_id = await add_misinfo_entry(
            self.database, guild_id=guild_id, claim=claim, correction=correction, user_id=user_id
        )
        kb.add(claim, correction, guild_id, entry_id=guild_entry_id(row_id))
        self._entry_ids.add(guild_entry_id(row_id))
        return row_id

    async def remove_misinfo_entry(self, *, guild_id: int, row_id: int, user_id: int) -> bool:
        removed = await remove_misinfo_entry(self.database, guild_id=guild_id, entry_id=row_id, user_id=user_id)
        kb = knowledge_base(self.rails)
        if removed and kb is not None:
            kb.remove(guild_entry_id(row_id))
            self._entry_ids.discard(guild_entry_id(row_id))
        return removed

    async def close(self) -> None:
        """Flush the recorder, close the engine, the rails, the metrics server and the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.pipeline.draining = True
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
        await self.recorder.close()
        self.engine_started = False
        if self.owns_engine:
            await self.engine.close()
        if self.owns_rails:
            await self.rails.close()
        else:
            kb = knowledge_base(self.rails)
            for entry_id in self._entry_ids if kb is not None else ():
                kb.remove(entry_id)
        if self.metrics_server is not None:
            await self.metrics_server.close()
            self.metrics_server = None
        if self.lease is not None:  # after the recorder: what this process took is written (and closed) by now
            with contextlib.suppress(Exception):  # a database gone: the lease lapses after its TTL instead
                await leases.release(self.database, self.lease)
        await self.database.dispose()
