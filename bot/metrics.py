"""Prometheus metrics, and the small HTTP server for `/metrics`, `/health` and `/ready`.

The pipeline calls the hooks below at named points. They only touch counters, gauges and histograms (no awaits,
no I/O), so they never slow a request. The metrics live in this module's own registry, so one process may start
several cores (tests) without registering anything twice.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.engines.base import Usage
    from guardrails.rail import Verdict

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

REQUESTS = Counter(
    "storyloom_requests", "Requests that ended, by command and outcome status.", ("command", "status"), registry=REGISTRY
)
REQUEST_SECONDS = Histogram(
    "storyloom_request_duration_seconds", "From a request's arrival to its outcome.", ("command",),
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
QUEUE_WAIT_SECONDS = Histogram(
    "storyloom_queue_wait_seconds", "Time an admitted request waited for a generation slot.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
FIRST_TOKEN_SECONDS = Histogram(
    "storyloom_time_to_first_token_seconds", "Engine time to the first token, per generation attempt.",
    ("engine",), buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
GENERATION_SECONDS = Histogram(
    "storyloom_generation_duration_seconds", "Engine time for a whole generation attempt.",
    ("engine",), buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
QUEUE_DEPTH = Gauge("storyloom_queue_depth", "Requests waiting for a generation slot.", registry=REGISTRY)
IN_FLIGHT = Gauge("storyloom_generations_in_flight", "Requests holding a generation slot.", registry=REGISTRY)
OUTPUT_TOKENS = Counter("storyloom_output_tokens", "Tokens the engine wrote.", ("engine",), registry=REGISTRY)
PROMPT_TOKENS = Counter("storyloom_prompt_tokens", "Prompt tokens sent to the engine.", ("engine",), registry=REGISTRY)
VERDICTS = Counter(
    "storyloom_verdicts", "Guardrail verdicts by stage, rail and decision.", ("stage", "rail", "decision"),
    registry=REGISTRY,
)  # fmt: skip
UNREAD_LANGUAGE = Counter(
    "storyloom_unread_language",
    "Texts in a language some rail of their stage cannot read, by stage, main language found and decision "
    "(block: refused, flag: held, pass: allowed by policy).",
    ("stage", "language", "decision"),
    registry=REGISTRY,
)
ENGINE_ERRORS = Counter("storyloom_engine_errors", "Requests the engine could not serve.", ("engine",), registry=REGISTRY)
SHUTTING_DOWN = Gauge("storyloom_shutting_down", "1 while the process drains before it stops.", registry=REGISTRY)


# -- hooks the pipeline calls ------------------------------------------------------------------------------


def request_ended(command: str, status: str, seconds: float) -> None:
    REQUESTS.labels(command, status).inc()
    REQUEST_SECONDS.labels(command).observe(seconds)


def queue_changed(waiting: int, running: int) -> None:
    QUEUE_DEPTH.set(waiting)
    IN_FLIGHT.set(running)


def queue_waited(seconds: float) -> None:
    QUEUE_WAIT_SECONDS.observe(seconds)


def generation_finished(engine: str, usage: Usage) -> None:
    OUTPUT_TOKENS.labels(engine).inc(usage.output_tokens)
    PROMPT_TOKENS.labels(engine).inc(usage.prompt_tokens)
    if usage.time_to_first_token_s is not None:
        FIRST_TOKEN_SECONDS.labels(engine).observe(usage.time_to_first_token_s)
    GENERATION_SECONDS.labels(engine).observe(usage.total_time_s)


def verdicts_recorded(verdicts: Iterable[Verdict]) -> None:
    for verdict in verdicts:
        VERDICTS.labels(verdict.stage, verdict.rail, verdict.decision).inc()
        if verdict.rail == "language" and verdict.category is not None:  # a text no rail of its stage reads
            language = next((key.removeprefix("language.") for key in verdict.scores), "und")
            UNREAD_LANGUAGE.labels(verdict.stage, language, verdict.decision).inc()


def engine_error(engine: str) -> None:
    ENGINE_ERRORS.labels(engine).inc()


def shutting_down(value: bool) -> None:
    SHUTTING_DOWN.set(1 if value else 0)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


# -- the server ---------------------------------------------------------------------------------------------

Check = Callable[[], Awaitable[bool] | bool]
CHECK_TIMEOUT_S = 2.0


class MetricsServer:
    """`GET /metrics` (Prometheus text), `/health` (the loop answers), `/ready` (every check passes, else 503).

    `checks` maps a name to a callable returning (or awaiting to) a bool; it may change while the server runs.
    `port=0` here binds an ephemeral port (tests); the settings' 0 means no server and never gets here.
    """

    def __init__(self, host: str, port: int, checks: dict[str, Check] | None = None) -> None:
        self.host = host
        self.port = port
        self.checks: dict[str, Check] = checks if checks is not None else {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]
        log.info("metrics on %s/metrics", self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _health(self, request: web.Request) -> web.Response:
        # Answering at all is the proof: the process runs and its event loop is not blocked.
        return web.json_response({"status": "ok"})

    async def _ready(self, request: web.Request) -> web.Response:
        results = {name: await _passes(check) for name, check in list(self.checks.items())}
        ready = all(results.values())
        return web.json_response({"ready": ready, "checks": results}, status=200 if ready else 503)


async def _passes(check: Check) -> bool:
    try:
        result = check()
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, CHECK_TIMEOUT_S)
        return bool(result)
    except Exception:
        log.debug("readiness check failed", exc_info=True)
        return False
