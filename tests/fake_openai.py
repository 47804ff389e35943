"""A small, real OpenAI-compatible server on loopback, shaped like vLLM's, for engine tests.

It speaks HTTP on 127.0.0.1 with a random port: `GET /v1/models`, `POST /v1/chat/completions` (streamed as
server-sent events token by token, or as one JSON body), `POST /v1/completions` (a plain prompt, answered by the
test's `completion_rule`: how guard models are asked) and `GET /health`. The reply text is a deterministic
function of the prompt and the seed, so tests can compare outputs across replicas and runs.

Each instance has fault knobs, plain attributes that a test may change while the server runs (a replica that
dies mid-session), and records what it saw: request bodies and headers, how many chat requests are in flight,
and client disconnects (which is how vLLM learns that a request was cancelled).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable

from aiohttp import web
from multidict import CIMultiDict

WORDS = (
    "lantern moss river quiet ember willow stone harbor feather winter hollow copper meadow tide "
    "raven thistle amber cinder orchard dusk"
).split()

# The fields vLLM's and OpenAI's chat endpoints share; with `reject_unknown_fields` anything else is a 400,
# which is how the OpenAI API answers vLLM extensions such as `repetition_penalty`.
STANDARD_CHAT_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stream",
        "stream_options", "n", "stop", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
        "user", "response_format", "logit_bias",
    }
)


JSON_BODY = web.RequestKey("json_body", dict)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    """Case-insensitive, as HTTP header names are."""
    body: dict[str, Any] | None


def reply_tokens(messages: list[dict[str, str]], seed: int | None, count: int) -> list[str]:
    """The tokens this server answers with: words picked by a generator seeded from the prompt and the seed."""
    prompt = "\n".join(f"{message.get('role')}: {message.get('content')}" for message in messages)
    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    words = [rng.choice(WORDS) for _ in range(count)]
    return [words[0].capitalize()] + [f" {word}" for word in words[1:]]


def prompt_token_count(messages: list[dict[str, str]]) -> int:
    return sum(len(str(message.get("content", "")).split()) + 3 for message in messages)


@dataclass(eq=False)
class FakeOpenAIServer:
    """One replica. Knobs: change them at any time; they apply to the next request."""

    model_id: str = "fake/smollm2"
    api_key: str | None = None
    """When set, `/v1/*` requires `Authorization: Bearer <api_key>` (as `vllm serve --api-key` does)."""
    reply_token_count: int = 12
    """Tokens in a full reply; a smaller `max_tokens` cuts it short with finish_reason "length"."""
    token_delay_s: float = 0.005
    fail_status: int | None = None
    """Answer chat requests with this HTTP status (e.g. 500) instead of generating."""
    hang_s: float = 0.0
    """Wait this long before answering a chat request (a stuck replica; the client's read timeout fires)."""
    drop_after_tokens: int | None = None
    """Abort the connection after streaming this many tokens, or after the last one if fewer (a replica that crashes
    mid-reply)."""
    reject_unknown_fields: bool = False
    """Answer 400 to fields outside STANDARD_CHAT_FIELDS, as the OpenAI API does."""
    send_usage: bool = True
    """Honour `stream_options.include_usage`; False mimics servers that never send a usage chunk."""
    scripted_reply: str | None = None
    """Answer every chat request with this text, one word per token, instead of the seeded words."""
    scripted_replies: list[str] = field(default_factory=list)
    """Replies for the next chat requests, one each in turn, before `scripted_reply` applies again."""
    scripted_parts: list[str] = field(default_factory=list)
    """Answers for the next chat requests, one each in turn, each going on from the request's own assistant start (a
    scaffold's part: "INT." in, " HARBOUR - DAY" out), before the other replies apply again."""
    healthy: bool = True
    """False: `/health` answers 503 (vLLM's answer when its engine is dead), chat requests are still served."""
    completion_rule: Callable[[str], str | tuple[str, dict[str, float]]] | None = None
    """Answers `/v1/completions`: the prompt in, the text out, or the text and the first token's top log-probabilities
    (returned when the request asks for `logprobs`). None: that endpoint answers 404, as a chat-only server would."""

    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    in_flight: int = field(default=0, init=False)
    max_in_flight: int = field(default=0, init=False)
    disconnects: int = field(default=0, init=False)
    """Chat requests whose client went away before the reply was complete."""
    client_disconnected: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    port: int = field(default=0, init=False)
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == "/v1/chat/completions"]

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record_and_authorise])
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/completions", self._completions)
        # handler_cancellation: a client disconnect cancels the handler, even while it hangs, so tests see it;
        # a short shutdown_timeout keeps teardown fast when a hung handler is still around.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)  # 128 by default: a burst of streams queues
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _record_and_authorise(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(RecordedRequest(request.method, request.path, CIMultiDict(request.headers), body))
        request[JSON_BODY] = body
        if self.api_key is not None and request.path.startswith("/v1/"):
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Unauthorized")
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response() if self.healthy else web.Response(status=503)

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": self.model_id, "object": "model", "created": int(time.time()), "owned_by": "vllm"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = request[JSON_BODY] or {}
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang_s:
                await asyncio.sleep(self.hang_s)
            if self.fail_status is not None:
                return _error(self.fail_status, "fake replica failure")
            unknown = sorted(set(body) - STANDARD_CHAT_FIELDS) if self.reject_unknown_fields else []
            if unknown:
                return _error(400, f"Unrecognized request argument supplied: {', '.join(unknown)}")
            if body.get("model") != self.model_id:
                return _error(404, f"The model `{body.get('model')}` does not exist.")
            if body.get("continue_final_message") and body.get("add_generation_prompt", True):
                # vLLM's own check: a final message cannot be continued after a fresh assistant turn's opening.
                return _error(400, "Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
            if body.get("stream"):
                return await self._stream_reply(request, body)
            return self._whole_reply(body)
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            self.client_disconnected.set()
            raise
        finally:
            self.in_flight -= 1

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == "/v1/completions"]

    async def _completions(self, request: web.Request) -> web.Response:
        """One prompt in, `completion_rule`'s answer out, in the OpenAI (and vLLM) completions shape."""
        body: dict[str, Any] = request[JSON_BODY] or {}
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang_s:
                await asyncio.sleep(self.hang_s)
            if self.fail_status is not None:
                return _error(self.fail_status, "fake replica failure")
            if self.completion_rule is None:
                return _error(404, "Not Found")
            if body.get("model") != self.model_id:
                return _error(404, f"The model `{body.get('model')}` does not exist.")
            answer = self.completion_rule(str(body.get("prompt", "")))
            text, top = answer if isinstance(answer, tuple) else (answer, {})
            tokens = text.split(" ")[: int(body.get("max_tokens") or 16)]
            logprobs = None
            if body.get("logprobs") and top:
                logprobs = {"tokens": tokens[:1], "token_logprobs": [max(top.values())], "top_logprobs": [top],
                            "text_offset": [0]}
            choice = {"index": 0, "text": " ".join(tokens), "logprobs": logprobs, "finish_reason": "stop"}
            prompt_tokens = len(str(body.get("prompt", "")).split())
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                     "total_tokens": prompt_tokens + len(tokens)}
            return web.json_response({"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
                                      "model": self.model_id, "choices": [choice], "usage": usage})
        finally:
            self.in_flight -= 1

    def _reply(self, body: dict[str, Any]) -> tuple[list[str], str, dict[str, int]]:
        max_tokens = int(body.get("max_tokens") or self.reply_token_count)
        messages = body["messages"]
        # `continue_final_message` (vLLM): the final assistant message is the start of the reply, which goes on
        # from there. This server's reply is a function of the prompt before it, so the whole text comes out the
        # same as a reply that was never interrupted.
        prefix = ""
        if body.get("continue_final_message") and messages and messages[-1].get("role") == "assistant":
            prefix, messages = str(messages[-1].get("content") or ""), messages[:-1]
        part = self.scripted_parts.pop(0) if self.scripted_parts else None
        script_text = self.scripted_replies.pop(0) if self.scripted_replies and not prefix else self.scripted_reply
        if part is not None or script_text is not None:
            words = (part if part is not None else script_text).split(" ")
            script = [words[0]] + [f" {word}" for word in words[1:]]
        else:
            script = reply_tokens(messages, body.get("seed"), self.reply_token_count)
        script = script[0 if part is not None else _tokens_in(script, prefix) :]
        tokens, finish_reason = script[:max_tokens], "length" if max_tokens < len(script) else "stop"
        tokens, finish_reason = _stopped(tokens, finish_reason, body.get("stop") or ())
        prompt_tokens = prompt_token_count(body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                 "total_tokens": prompt_tokens + len(tokens)}
        return tokens, finish_reason, usage

    def _whole_reply(self, body: dict[str, Any]) -> web.Response:
        tokens, finish_reason, usage = self._reply(body)
        choice = {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                  "finish_reason": finish_reason}
        return web.json_response({"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                                  "model": self.model_id, "choices": [choice], "usage": usage})

    async def _stream_reply(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        tokens, finish_reason, usage = self._reply(body)
        include_usage = self.send_usage and bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await response.write(f"data: {data}\n\n".encode())

        def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            # Like OpenAI, "usage": null on every chunk when usage was asked for: clients must skip it.
            extra = {"usage": None} if include_usage else {}
            return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": self.model_id,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}

        # vLLM's first chunk carries only the role; it is not a token.
        await send(chunk({"role": "assistant", "content": ""}))
        for index, token in enumerate(tokens):
            if self.drop_after_tokens is not None and index == self.drop_after_tokens:
                assert request.transport is not None
                request.transport.abort()
                return response
            await asyncio.sleep(self.token_delay_s)
            await send(chunk({"content": token}, finish_reason if index == len(tokens) - 1 else None))
        if self.drop_after_tokens is not None and self.drop_after_tokens >= len(tokens):
            assert request.transport is not None  # dies after the last token, before the end of the stream
            request.transport.abort()
            return response
        if include_usage:
            await send({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": self.model_id, "choices": [], "usage": usage})
        await send("[DONE]")
        await response.write_eof()
        return response


def _stopped(tokens: list[str], finish_reason: str, stops: list[str] | str) -> tuple[list[str], str]:
    """The tokens up to the first stop string (not included), as vLLM ends a reply at `stop`."""
    text = "".join(tokens)
    cuts = [text.find(stop) for stop in ([stops] if isinstance(stops, str) else stops) if stop and stop in text]
    if not cuts:
        return tokens, finish_reason
    kept, length = [], 0
    for token in tokens:
        if length + len(token) > min(cuts):
            if min(cuts) > length:
                kept.append(token[: min(cuts) - length])
            break
        kept.append(token)
        length += len(token)
    return kept, "stop"


def _tokens_in(tokens: list[str], prefix: str) -> int:
    """How many of `tokens` the text `prefix` is made of (a reply to continue must have been cut between tokens)."""
    text = ""
    for count, token in enumerate(tokens):
        if text == prefix:
            return count
        text += token
    if text == prefix:
        return len(tokens)
    # A reply begun by the caller with text of its own (a heading, bot/core/scaffolds.py): the reply follows it.
    return 0


def _error(status: int, message: str) -> web.Response:
    error = {"message": message, "type": "invalid_request_error" if status < 500 else "server_error", "code": status}
    return web.json_response({"error": error}, status=status)
