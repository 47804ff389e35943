"""How the guard-model rail reaches its model: `POST /v1/completions` on OpenAI-compatible servers (`vllm serve` or
any other), or vLLM's offline `LLM` in this process.

Rails are called from worker threads (`guardrails.batching`), so these clients are synchronous: a batch's requests go
out together on a thread pool over one `httpx.Client`, each with a timeout, round-robin over the URLs with
failover to the next on a connection error or a 5xx.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

ERROR_DETAIL_MAX_CHARS = 200
FAILOVER_STATUSES = frozenset({408, 429})


class GuardModelError(RuntimeError):
    """The guard model could not answer (unreachable, timed out, refused the request, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class Completion:
    """The start of a guard model's answer to one prompt."""

    text: str
    first_logprobs: dict[str, float] = field(default_factory=dict)
    """The most likely first tokens and their log-probabilities, where the server returns them."""


class GuardClient(Protocol):
    """How the rail reaches the model: a list of rendered prompts in, one completion (or the error) per prompt out."""

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]: ...

    def close(self) -> None: ...


class OpenAIGuardClient:
    """`POST /v1/completions` on one or more OpenAI-compatible servers, one request per prompt, concurrently."""

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        top_logprobs: int = 5,
    ) -> None:
        if not base_urls:
            raise ValueError("the guard model needs at least one base URL (STORYLOOM_GUARD_MODEL_URLS)")
        self.model = model
        self._urls = [url.rstrip("/") for url in base_urls]
        self._round_robin = itertools.count()
        self._lock = threading.Lock()
        self._top_logprobs = top_logprobs
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="guard-model")

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]:
        def one(prompt: str) -> Completion | Exception:
            try:
                return self._complete_one(prompt, max_tokens)
            except Exception as error:  # each prompt's failure is its own: the others' answers still count
                return error

        return list(self._pool.map(one, prompts))

    def _complete_one(self, prompt: str, max_tokens: int) -> Completion:
        with self._lock:
            start = next(self._round_robin)
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                "logprobs": self._top_logprobs}  # fmt: skip
        failures: list[str] = []
        for offset in range(len(self._urls)):
            url = self._urls[(start + offset) % len(self._urls)]
            try:
                response = self._client.post(f"{url}/completions", json=body)
            except httpx.HTTPError as error:
                failures.append(f"{_display_url(url)}: {type(error).__name__}")
                continue
            if response.status_code >= 500 or response.status_code in FAILOVER_STATUSES:
                failures.append(f"{_display_url(url)}: HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                raise GuardModelError(f"HTTP {response.status_code}: {_error_detail(response)}")
            return _parse_completion(response.json())
        raise GuardModelError("no guard model server answered (" + "; ".join(failures) + ")")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class VLLMGuardClient:
    """The guard model in this process with vLLM's offline `LLM` (synchronous, so it suits the rails' worker
    threads), beside the `vllm` engine on the same GPU. Loaded at the first check; `gpu_memory_utilization` is the
    share of the GPU it may take (the generation engine needs the rest)."""

    def __init__(self, model: str, *, gpu_memory_utilization: float = 0.2, top_logprobs: int = 5,
                 engine_args: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self.model = model
        self._arguments = {"model": model, "gpu_memory_utilization": gpu_memory_utilization, **(engine_args or {})}
        self._top_logprobs = top_logprobs
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._llm is None:
                try:
                    from vllm import LLM
                except ImportError as error:
                    raise GuardModelError("vLLM is not installed: pip install vllm, or serve the guard model") from error
                self._llm = LLM(**self._arguments)
            return self._llm

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]:
        llm = self._load()
        from vllm import SamplingParams

        sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=self._top_logprobs)
        results: list[Completion | Exception] = []
        for output in llm.generate(list(prompts), sampling, use_tqdm=False):
            completion = output.outputs[0]
            first = completion.logprobs[0] if completion.logprobs else {}
            results.append(Completion(completion.text, {lp.decoded_token: lp.logprob for lp in first.values()}))
        return results

    def close(self) -> None:
        self._llm = None


def _parse_completion(payload: Any) -> Completion:
    try:
        choice = payload["choices"][0]
        text = choice["text"]
    except (KeyError, IndexError, TypeError):
        raise GuardModelError("the answer has no completion text") from None
    if not isinstance(text, str):
        raise GuardModelError("the answer has no completion text")
    top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0] or {}
    first = {str(token): float(logprob) for token, logprob in top.items() if isinstance(logprob, int | float)}
    return Completion(text, first)


def short_error(error: BaseException) -> str:
    detail = str(error) or type(error).__name__
    return re.sub(r"\s+", " ", detail)[:ERROR_DETAIL_MAX_CHARS]


def _error_detail(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except Exception:
        message = response.text
    return short_error(RuntimeError(str(message)))


def _display_url(url: str) -> str:
    """The URL without credentials or query, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
