"""The `openai` engine: streams chat completions from vLLM's OpenAI server, or any OpenAI-compatible server.

Requests go to one or more replicas (`engine_urls`), round-robin per request. A replica that fails before the
first token (connection refused, timeout, HTTP 5xx, a dropped stream) is marked down for a short cool-off and
the request moves on to the next replica, invisibly to the user. Each replica's `/health` is also polled in the
background: one that fails it is skipped until it answers again (it is still tried last, if every other fails).

A replica that fails *after* text was streamed does not lose the request either: the next replica is asked to
continue the same text (vLLM's `continue_final_message`, with the text so far as a final assistant message), so the
member sees one piece that goes on where it stopped. A replica that cannot continue (a server without the vLLM
extensions) is skipped for that. Every replica a request went through is in `Usage.extra["replicas"]`, which the
pipeline records with the generation.

`repetition_penalty` is a vLLM extension. It is sent only when it is not 1.0; a server that answers 400 naming
it (the OpenAI API does) gets the request again without it, and that replica is not sent it again.

Closing the stream (``aclose()``) closes the HTTP response, which is how vLLM learns to abort the request.
The API key travels only in the Authorization header: it is never logged nor put in an error message.

The replicas' rotation, cool-offs and health checks: `bot.engines.openai_replicas`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from bot.engines.base import (
    ChatMessages,
    Delta,
    Engine,
    EngineError,
    FinishReason,
    SamplingParams,
    StreamEvent,
    Usage,
    continues_reply,
)
from bot.engines.openai_replicas import Replica, ReplicaFailure, ReplicaPool, error_message

if TYPE_CHECKING:
    from bot.config import Settings

logger = logging.getLogger(__name__)

# The configured model names that are not served under that name: the shipped GGUF's alias. Local paths also
# count (see `_needs_discovery`); the name actually served is read from `GET /models`.
LOCAL_MODEL_ALIASES = frozenset({"smollm2"})
PROBE_TIMEOUT_S = 5.0
# Status codes that say "this replica cannot serve now", not "this request is wrong": worth another replica.
FAILOVER_STATUSES = frozenset({408, 429})
FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "abort": "cancelled"}


class OpenAIEngine(Engine):
    """Streams from OpenAI-compatible replicas with round-robin and failover before the first token."""

    name = "openai"

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        *,
        api_key: SecretStr | str | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 60.0,
        cooloff_s: float = 15.0,
        max_connections: int = 128,
        health_interval_s: float = 10.0,
    ) -> None:
        """`base_urls` end in `/v1` (e.g. `http://gpu-1:8000/v1`); `read_timeout_s` bounds the wait for each chunk,
        the first one included (so it must cover queueing and prefill under load). `health_interval_s`: how often
        each replica's `/health` is checked once started (0: never)."""
        if not base_urls:
            raise ValueError("the openai engine needs at least one base URL (STORYLOOM_ENGINE_URLS)")
        self.model_id = model
        self._configured_model = model
        self._model_resolved = not _needs_discovery(model)
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._api_key = secret or None
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        # One shared client: keep-alive connections to every replica. Each streaming request holds a connection
        # for its whole reply, so the pool must exceed the bot's concurrent generations.
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._replicas = ReplicaPool(
            base_urls, self._client, cooloff_s=cooloff_s, health_interval_s=health_interval_s, redact=self._redact
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEngine:
        return cls(
            settings.engine_urls,
            settings.model,
            api_key=settings.engine_api_key,
            health_interval_s=settings.engine_health_interval_s,
            # Every generation in flight holds a connection; health checks and model probes need some too. Found
            # by `python -m bench gpu_sim` at 256 concurrent: a pool of 128 failed requests and marked a healthy
            # replica down (its /health check timed out waiting for a connection).
            max_connections=max(128, settings.max_concurrent_generations + 8 * len(settings.engine_urls)),
        )

    async def start(self) -> None:
        """Probe every replica's `GET /models` at once; log which are up and mark the others down. Never fails.
        Then check each replica's `/health` every `health_interval_s` in the background."""
        await asyncio.gather(*(self._probe(replica) for replica in self._replicas.replicas))
        self._replicas.watch_health()

    async def _probe(self, replica: Replica) -> None:
        try:
            served = await self._served_models(replica, timeout=PROBE_TIMEOUT_S)
        except (httpx.HTTPError, ReplicaFailure) as exc:
            self._replicas.mark_down(replica, self._replicas.reason(exc))
            return
        logger.info("engine replica %s is up, serving %s", replica.label, ", ".join(served))
        if not self._model_resolved:
            self._resolve_model(served)

    async def close(self) -> None:
        await self._replicas.close()
        await self._client.aclose()

    async def stream(
        self, messages: ChatMessages, params: SamplingParams, request_id: str
    ) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        payload: dict[str, Any] = {
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            payload["seed"] = params.seed
        if params.stop:
            payload["stop"] = list(params.stop)
        extras = {"repetition_penalty": params.repetition_penalty} if params.repetition_penalty != 1.0 else {}
        if continues_reply(messages):  # a reply begun by the caller (vLLM's extension): the model goes on with it
            extras |= {"continue_final_message": True, "add_generation_prompt": False}
        failovers: list[dict[str, Any]] = []
        shown = ""  # text already streamed to the caller, by replicas that then failed
        tokens_before = 0  # their output tokens (one per streamed chunk, as vLLM sends them)
        first_token_at: float | None = None
        for replica in self._replicas.in_order():
            if shown and not replica.accepts_extras:
                failovers.append({"replica": replica.label, "error": "cannot continue a reply (no vLLM extensions)"})
                continue
            body = payload if not shown else _continuation(payload, messages, shown, params.max_tokens - tokens_before)
            try:
                response = await self._open_stream(replica, body, extras, request_id)
            except (httpx.TransportError, ReplicaFailure) as exc:
                self._replicas.fail_over(replica, exc, failovers)
                continue
            except EngineError as exc:
                if not shown:
                    raise
                failovers.append({"replica": replica.label, "error": f"cannot continue the reply: {exc}"})
                continue
            text_chunks = 0
            usage: dict[str, Any] | None = None
            finish_reason: FinishReason = "stop"
            try:
                async for chunk in _sse_chunks(response):
                    if chunk.get("error"):
                        raise ReplicaFailure(f"stream error: {error_message(chunk)}")
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        if choice.get("finish_reason"):
                            finish_reason = FINISH_REASONS.get(choice["finish_reason"], "stop")
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            if first_token_at is None:
                                first_token_at = time.perf_counter()
                            text_chunks += 1
                            shown += text
                            yield Delta(text)
            except (httpx.TransportError, ReplicaFailure) as exc:
                self._replicas.fail_over(replica, exc, failovers, shown_chars=len(shown))
                tokens_before += text_chunks
                if tokens_before >= params.max_tokens:  # it died on its last token: nothing is left to write
                    yield self._usage(None, failovers, None, tokens_before, "length", started, first_token_at)
                    return
                continue
            finally:
                await response.aclose()
            replica.down_until = 0.0
            output_tokens = tokens_before + (int(usage["completion_tokens"]) if usage else text_chunks)
            yield self._usage(replica, failovers, usage, output_tokens, finish_reason, started, first_token_at)
            return
        summary = "; ".join(f"{failure['replica']}: {failure['error']}" for failure in failovers)
        after = f" after streaming {len(shown)} characters" if shown else ""
        raise EngineError(f"all {len(self._replicas.replicas)} engine replicas failed{after} ({summary})")

    def _usage(
        self,
        finished: Replica | None,
        failovers: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        output_tokens: int,
        finish_reason: FinishReason,
        started: float,
        first_token_at: float | None,
    ) -> Usage:
        """`finished`: the replica that finished the reply; None when the last one died on the reply's last token."""
        label = finished.label if finished is not None else failovers[-1]["replica"]
        extra: dict[str, Any] = {"replica": label, "failovers": failovers, "model": self.model_id}
        if failovers:
            # What the generation's record keeps: every replica tried, in order, the one that finished last.
            extra["replicas"] = [*failovers, *([{"replica": label}] if finished is not None else [])]
        if usage is None:
            # The server sent no usage chunk: each streamed chunk is about one token (vLLM sends one per token).
            extra["usage_estimated"] = True
        return Usage(
            # After a failover mid-stream: the continuing replica's prompt, which includes the text it continued.
            prompt_tokens=int(usage["prompt_tokens"]) if usage else 0,
            output_tokens=output_tokens,
            finish_reason=finish_reason,
            time_to_first_token_s=None if first_token_at is None else first_token_at - started,
            total_time_s=time.perf_counter() - started,
            extra=extra,
        )

    async def _open_stream(
        self, replica: Replica, payload: dict[str, Any], extras: dict[str, Any], request_id: str
    ) -> httpx.Response:
        """POST the request to one replica and return the open streaming response once it answered 200."""
        if not self._model_resolved:
            self._resolve_model(await self._served_models(replica))
        body = {"model": self.model_id, **payload}
        send_extras = bool(extras) and replica.accepts_extras
        while True:
            request = self._client.build_request(
                "POST",
                f"{replica.base_url}/chat/completions",
                json=body | extras if send_extras else body,
                # vLLM uses this header as its request id, which ties its logs to ours.
                headers={"X-Request-Id": request_id},
            )
            try:
                response = await self._client.send(request, stream=True)
            except httpx.PoolTimeout as exc:
                # All connections are busy on our side: no replica is at fault, so none is marked down.
                raise EngineError("no free connection to the engine replicas (connection pool exhausted)") from exc
            if response.status_code == 200:
                return response
            try:
                detail = (await response.aread()).decode(errors="replace")
            finally:
                await response.aclose()
            if response.status_code == 400 and send_extras and any(name in detail for name in extras):
                logger.warning(
                    "engine replica %s rejects %s; sending requests to it without them",
                    replica.label,
                    ", ".join(extras),
                )
                replica.accepts_extras = False
                send_extras = False
                continue
            if response.status_code >= 500 or response.status_code in FAILOVER_STATUSES:
                raise ReplicaFailure(f"HTTP {response.status_code}")
            raise EngineError(
                f"engine replica {replica.label} rejected the request: HTTP {response.status_code}: "
                f"{self._redact(error_message(detail))}"
            )

    async def _served_models(self, replica: Replica, timeout: float | None = None) -> list[str]:
        """The model ids a replica serves, from `GET /models`."""
        response = await self._client.get(
            f"{replica.base_url}/models", timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        )
        if response.status_code != 200:
            raise ReplicaFailure(f"HTTP {response.status_code} from /models")
        try:
            served = [str(model["id"]) for model in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ReplicaFailure("malformed /models answer") from exc
        if not served:
            raise ReplicaFailure("serves no model")
        return served

    def _resolve_model(self, served: list[str]) -> None:
        """Pick the served name of a configured alias or local path: itself if served, else the first served."""
        self.model_id = self._configured_model if self._configured_model in served else served[0]
        self._model_resolved = True

    def _redact(self, text: str) -> str:
        """Remove the API key from text that came from elsewhere (a proxy may echo request headers)."""
        return text.replace(self._api_key, "***") if self._api_key else text



async def _sse_chunks(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to `data: [DONE]`."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping") and other SSE fields
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ReplicaFailure("malformed stream chunk") from exc
        if isinstance(chunk, dict):
            yield chunk


def _continuation(payload: dict[str, Any], messages: ChatMessages, shown: str, max_tokens: int) -> dict[str, Any]:
    """The request that asks another replica to go on with `shown`: vLLM renders the final assistant message
    without closing it (`continue_final_message`, no generation prompt) and the model writes what follows."""
    if continues_reply(messages):  # the caller began the reply: what was streamed follows its beginning
        messages = [*messages[:-1], {"role": "assistant", "content": messages[-1]["content"] + shown}]
    else:
        messages = [*messages, {"role": "assistant", "content": shown}]
    return payload | {
        "messages": messages,
        "max_tokens": max_tokens,
        "continue_final_message": True,
        "add_generation_prompt": False,
    }


def _needs_discovery(model: str) -> bool:
    """Whether the configured model is an alias or a local path, whose served name must be asked for."""
    return model in LOCAL_MODEL_ALIASES or model.startswith(("/", ".", "~")) or Path(model).exists()

