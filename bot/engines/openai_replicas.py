"""The `openai` engine's replicas: which to try in what order, cool-off after a failure, and `/health` polling.

Requests go round-robin per request. A replica that fails is marked down for a short cool-off and tried last (only
if every other fails); one that fails its `/health` check is skipped the same way until it answers again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

# The engine's own log name: what an operator follows for one engine, replicas included.
logger = logging.getLogger("bot.engines.openai_engine")

HEALTH_TIMEOUT_S = 3.0
ERROR_DETAIL_MAX_CHARS = 200


class ReplicaFailure(Exception):
    """A replica could not serve: try the next one if no token was streamed yet."""


@dataclass(slots=True)
class Replica:
    """One OpenAI-compatible server, and what the engine knows of its state."""

    base_url: str
    label: str
    """The URL without credentials or query: safe for logs and error messages."""
    down_until: float = 0.0
    """`time.monotonic()` until which the replica is skipped while others are up."""
    accepts_extras: bool = True
    """False once the replica rejected a vLLM-only field: it can serve new requests but not continue one."""
    healthy: bool = True
    """False while its last `/health` check failed."""

    def is_up(self, now: float) -> bool:
        return self.healthy and self.down_until <= now

    @property
    def health_url(self) -> str:
        """vLLM serves `/health` beside `/v1`, at the server's root."""
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        return f"{root}/health"


class ReplicaPool:
    """The replicas of one engine: their rotation, their cool-offs and their health, checked in the background."""

    def __init__(
        self,
        base_urls: Sequence[str],
        client: httpx.AsyncClient,
        *,
        cooloff_s: float,
        health_interval_s: float,
        redact: Callable[[str], str],
    ) -> None:
        """`redact`: removes the API key from text that came from elsewhere, before it is logged."""
        self.replicas = [Replica(url.rstrip("/"), display_url(url.rstrip("/"))) for url in base_urls]
        self._client = client
        self._round_robin = itertools.count()
        self._cooloff_s = cooloff_s
        self._health_interval_s = health_interval_s
        self._health_task: asyncio.Task[None] | None = None
        self._redact = redact

    def watch_health(self) -> None:
        """Check each replica's `/health` every `health_interval_s` (0: never) from now on, until `close`."""
        if self._health_interval_s > 0 and self._health_task is None:
            self._health_task = asyncio.create_task(self._watch_health(), name="engine-health")

    async def close(self) -> None:
        task, self._health_task = self._health_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            await asyncio.gather(*(self._check_health(replica) for replica in self.replicas))

    async def _check_health(self, replica: Replica) -> None:
        try:
            response = await self._client.get(replica.health_url, timeout=min(HEALTH_TIMEOUT_S, self._health_interval_s * 2))
            reason = None if response.status_code == 200 else f"/health answered HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = f"/health: {self.reason(exc)}"
        if reason is None and not replica.healthy:
            logger.info("engine replica %s is healthy again", replica.label)
        elif reason is not None and replica.healthy:
            logger.warning("engine replica %s is down until its health check passes: %s", replica.label, reason)
        replica.healthy = reason is None

    def in_order(self) -> list[Replica]:
        """This request's rotation of the replicas, those in cool-off last (tried only if all others fail)."""
        start = next(self._round_robin) % len(self.replicas)
        rotated = self.replicas[start:] + self.replicas[:start]
        now = time.monotonic()
        return [replica for replica in rotated if replica.is_up(now)] + [
            replica for replica in rotated if not replica.is_up(now)
        ]

    def fail_over(
        self, replica: Replica, exc: Exception, failovers: list[dict[str, Any]], shown_chars: int = 0
    ) -> None:
        """Mark `replica` down after `exc`, and note it in this request's `failovers`."""
        reason = self.reason(exc)
        self.mark_down(replica, reason)
        failover: dict[str, Any] = {"replica": replica.label, "error": reason}
        if shown_chars:
            failover["shown_chars"] = shown_chars  # text had been shown: the next replica continues it
        failovers.append(failover)

    def mark_down(self, replica: Replica, reason: str) -> None:
        """Skip `replica` for the cool-off, while others are up (logged once as it goes down)."""
        now = time.monotonic()
        if replica.is_up(now):
            logger.warning("engine replica %s is down for %.0f s: %s", replica.label, self._cooloff_s, reason)
        replica.down_until = now + self._cooloff_s

    def reason(self, exc: Exception) -> str:
        """Why a replica failed, in words safe to log (no API key)."""
        return self._redact(describe(exc))


def display_url(url: str) -> str:
    """The URL without user, password and query string."""
    parts = urlsplit(url)
    host_and_port = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host_and_port, parts.path, "", ""))


def describe(exc: Exception) -> str:
    """A short reason for logs and errors: httpx messages carry no headers, but keep them brief anyway."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        message = str(exc)[:ERROR_DETAIL_MAX_CHARS]
        return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return str(exc)


def error_message(error: str | dict[str, Any]) -> str:
    """The message of an OpenAI/vLLM error body (`{"error": {"message": ...}}` or `{"message": ...}`)."""
    body: Any = error
    if isinstance(error, str):
        try:
            body = json.loads(error)
        except ValueError:
            return error[:ERROR_DETAIL_MAX_CHARS]
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message", inner)
        if message:
            return str(message)[:ERROR_DETAIL_MAX_CHARS]
    return str(error)[:ERROR_DETAIL_MAX_CHARS]
