"""The transformers engine's worker thread: it owns the model and runs the continuous-batching decode loop.

Requests wait in a thread-safe inbox; when the worker is idle it collects the requests that arrive within
`batch_window_ms`, and while it is busy new requests join the running batch at the next step boundary (one prefill of
the newcomers, whose cache is then stacked onto the batch's: `bot.engines.transformers_batch`). Each row samples with
its own parameters and its own `torch.Generator`, stops on EOS or its own `max_tokens`, and leaves the batch when it
finishes or its stream is closed. Events go back through each request's `post`, which the engine hands to the loop.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import queue
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from transformers import DynamicCache, DynamicLayer

from bot.engines.base import ChatMessages, Delta, EngineError, FinishReason, SamplingParams, StopMatcher, render_chat
from bot.engines.detokenizer import IncrementalDetokenizer
from bot.engines.models import progress_bars, resolve_model_dir
from bot.engines.transformers_batch import Batch, new_cache

log = logging.getLogger(__name__)

DType = Literal["auto", "bfloat16", "float32"]
# Nucleus sampling first looks among this many most likely tokens: a top-k is 20x cheaper than sorting the whole
# vocabulary each step (measured: 1.4 ms against 24 ms for 16 rows of 49k), and the nucleus almost always fits.
NUCLEUS_CANDIDATES = 256


@dataclass
class EngineStats:
    """Counters kept by the worker thread; read them from anywhere (plain ints, written by one thread)."""

    prefills: int = 0
    """Forward passes that admitted new requests (several requests share one prefill)."""
    decode_steps: int = 0
    """Forward passes that produced one token for every row of the running batch."""
    max_batch_size: int = 0
    """The most rows that shared one decode step."""
    output_tokens: int = 0
    finish_reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a stream: the row's figures as the engine's `Usage` reports them."""

    prompt_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    first_token_at: float | None
    max_batch_size: int


Event = Delta | Finished | EngineError


@dataclass(eq=False)
class Request:
    """One stream's request, shared by the event loop (which may cancel it) and the worker (which serves it)."""

    request_id: str
    messages: ChatMessages
    params: SamplingParams
    post: Callable[[Event], None]
    cancelled: bool = False


@dataclass(eq=False)
class Row:
    """A request admitted to the running batch."""

    request: Request
    prompt_tokens: int
    max_tokens: int
    generator: torch.Generator | None
    detokenizer: IncrementalDetokenizer
    stops: StopMatcher
    output_tokens: int = 0
    first_token_at: float | None = None
    finish_reason: FinishReason | None = None
    max_batch_size: int = 0
    """The most rows this one shared a forward pass with, itself included."""


STOP = object()
"""Put in the inbox by `BatchWorker.stop`: the decode loop ends."""


class BatchWorker:
    """Loads the model and serves the inbox's requests in one running batch, on the thread that runs `serve`."""

    def __init__(
        self, model_id: str, model_cache_dir: Path, *, dtype: DType, batch_window_s: float, max_batch_size: int
    ) -> None:
        self.model_id = model_id
        self.model_cache_dir = model_cache_dir
        self.dtype = dtype
        self.stats = EngineStats()
        self.model_dir: Path | None = None
        self.torch_dtype: torch.dtype | None = None
        """The dtype the model was loaded in, once loaded."""
        self._batch_window_s = batch_window_s
        self._max_batch_size = max_batch_size
        self._inbox: queue.SimpleQueue[Request | object] = queue.SimpleQueue()
        self._model = None
        self._tokenizer = None
        self._eos_ids: frozenset[int] = frozenset()
        self._pad_id = 0
        self._context_length = 0
        self._cache_kwarg = "cache"

    def submit(self, request: Request) -> None:
        """From any thread: the request joins the batch at the worker's next step boundary."""
        self._inbox.put(request)

    def stop(self) -> None:
        """From any thread: end `serve`; the rows still running finish "cancelled"."""
        self._inbox.put(STOP)

    def unload(self) -> None:
        self._model = self._tokenizer = None

    def load(self) -> None:
        """Read the tokenizer and the model, and warm the CPU kernels up (on any thread, before `serve`)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _use_all_cores()
        self.model_dir = resolve_model_dir(self.model_id, self.model_cache_dir, progress=False)
        self.torch_dtype = dtype = _resolve_dtype(self.dtype)
        log.info("loading %s from %s in %s", self.model_id, self.model_dir, dtype)
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        if not tokenizer.chat_template:
            raise EngineError(f"{self.model_dir} has no chat template")
        with progress_bars(False):  # a service's log is no place for a progress bar
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype).eval()
        if not all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers):
            raise EngineError(f"{self.model_id}: only full-attention models are supported (no sliding windows)")

        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        self._eos_ids = frozenset(token for token in eos_ids if token is not None)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos_ids)
        self._context_length = model.config.max_position_embeddings
        # transformers 5.24 renamed `past_key_values` to `cache`; the project accepts any 5.x.
        self._cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._model, self._tokenizer = model, tokenizer
        with torch.inference_mode():  # the first forward initialises the CPU kernels: not on the first request's time
            self._forward(torch.tensor([[self._pad_id]]), torch.ones(1, 1, dtype=torch.long), None, new_cache(model))

    def serve(self) -> None:
        """The decode loop, until `stop`: admit newcomers, decode one step, retire finished rows."""
        batch = Batch()
        with torch.inference_mode():
            while (requests := self._take_requests(batch)) is not None:
                try:
                    if requests:
                        self._admit(batch, requests)
                        self._retire(batch)
                    if batch.rows:
                        self._decode_step(batch)
                        self._retire(batch)
                except Exception as error:  # a failed step fails the requests in it, never the engine
                    log.exception("transformers engine step failed")
                    failure = EngineError(f"generation failed: {error}")
                    for request in {row.request for row in batch.rows} | set(requests):
                        request.post(failure)
                    batch.clear()
        for row in batch.rows:
            self._finish(row, "cancelled")
        while not self._inbox.empty():
            request = self._inbox.get_nowait()
            if isinstance(request, Request):
                self._finish_unadmitted(request, "cancelled")

    def _take_requests(self, batch: Batch) -> list[Request] | None:
        """The requests to admit at this step boundary, or None when the engine is closing.

        With rows running, take only what is already waiting. When idle, block for the first request, then give the
        others `batch_window_ms` to arrive so that a burst shares one prefill.
        """
        idle = not batch.rows
        taken: list[Request] = []
        deadline: float | None = None
        while len(taken) < self._max_batch_size - len(batch.rows):
            try:
                if not idle:
                    item = self._inbox.get_nowait()
                elif deadline is None:
                    item = self._inbox.get()
                    deadline = time.monotonic() + self._batch_window_s
                else:
                    item = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if not isinstance(item, Request):  # STOP
                for request in taken:
                    self._finish_unadmitted(request, "cancelled")
                return None
            if item.cancelled:
                self._finish_unadmitted(item, "cancelled")
            else:
                taken.append(item)
        return taken

    def _admit(self, batch: Batch, requests: list[Request]) -> None:
        """Prefill the new requests together, sample their first tokens and stack them onto the running batch."""
        rows: list[Row] = []
        prompts: list[list[int]] = []
        for request in requests:
            try:
                prompt_ids = self._encode_chat(request.messages)
            except Exception as error:  # a malformed conversation fails its own request only
                request.post(EngineError(f"cannot apply the chat template: {error}"))
                continue
            room = self._context_length - len(prompt_ids)
            if room <= 0:
                request.post(EngineError(f"the prompt ({len(prompt_ids)} tokens) fills the model's context"))
                continue
            rows.append(
                Row(
                    request=request,
                    prompt_tokens=len(prompt_ids),
                    max_tokens=min(request.params.max_tokens, room),
                    generator=_generator(request.params),
                    detokenizer=IncrementalDetokenizer(self._decode),
                    stops=StopMatcher(request.params.stop),
                )
            )
            prompts.append(prompt_ids)
        if not rows:
            return
        for row in rows:
            row.max_batch_size = len(rows)

        width = max(map(len, prompts))
        newcomers = Batch()
        newcomers.rows = rows
        input_ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        newcomers.attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        newcomers.seen_ids = torch.empty((len(rows), width), dtype=torch.long)
        for i, prompt_ids in enumerate(prompts):
            prompt = torch.tensor(prompt_ids)
            input_ids[i, width - len(prompt_ids) :] = prompt
            newcomers.attention_mask[i, width - len(prompt_ids) :] = 1
            newcomers.seen_ids[i] = prompt_ids[0]
            newcomers.seen_ids[i, width - len(prompt_ids) :] = prompt
        position_ids = (newcomers.attention_mask.cumsum(-1) - 1).clamp(min=0)
        newcomers.cache = new_cache(self._model)
        logits = self._forward(input_ids, newcomers.attention_mask, position_ids, newcomers.cache)
        self.stats.prefills += 1
        newcomers.positions = newcomers.attention_mask.sum(-1)
        newcomers.next_tokens = self._sample(logits, newcomers)
        batch.extend(newcomers)

    def _decode_step(self, batch: Batch) -> None:
        batch.attention_mask = F.pad(batch.attention_mask, (0, 1), value=1)
        logits = self._forward(batch.next_tokens[:, None], batch.attention_mask, batch.positions[:, None], batch.cache)
        batch.positions += 1
        self.stats.decode_steps += 1
        self.stats.max_batch_size = max(self.stats.max_batch_size, len(batch.rows))
        for row in batch.rows:
            row.max_batch_size = max(row.max_batch_size, len(batch.rows))
        batch.next_tokens = self._sample(logits, batch)

    def _forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor | None,
        cache,
    ) -> torch.Tensor:
        """The next-token logits [rows, vocab] in float32; `cache` grows by the input's columns in place."""
        output = self._model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kwarg: cache},
        )
        return output.logits[:, -1, :].float()

    def _sample(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """One token per row with that row's own parameters and generator; streams the text and marks finished rows."""
        rows = batch.rows
        params = [row.request.params for row in rows]
        # The repetition penalty as in transformers: seen tokens' logits shrink towards zero whatever their sign.
        penalty = torch.tensor([p.repetition_penalty for p in params])[:, None]
        seen_logits = logits.gather(1, batch.seen_ids)
        logits.scatter_(1, batch.seen_ids, torch.where(seen_logits > 0, seen_logits / penalty, seen_logits * penalty))
        tokens = logits.argmax(-1)

        sampled = [i for i, row in enumerate(rows) if row.generator is not None]
        if sampled:
            temperature = torch.tensor([params[i].temperature for i in sampled])[:, None]
            probs = torch.softmax(logits[torch.tensor(sampled)] / temperature, dim=-1)
            top_probs, top_ids = probs.topk(min(NUCLEUS_CANDIDATES, probs.shape[-1]), dim=-1)
            for j, i in enumerate(sampled):
                tokens[i] = sample_nucleus(probs[j], top_probs[j], top_ids[j], params[i].top_p, rows[i].generator)

        batch.seen_ids = torch.cat([batch.seen_ids, tokens[:, None]], dim=1)
        now = time.perf_counter()
        for row, token in zip(rows, tokens.tolist(), strict=True):
            self._accept(row, token, now)
        return tokens

    def _accept(self, row: Row, token: int, now: float) -> None:
        if row.first_token_at is None:
            row.first_token_at = now
        row.output_tokens += 1
        self.stats.output_tokens += 1
        if token in self._eos_ids:
            self._finish(row, "stop")
            return
        text, stopped = row.stops.feed(row.detokenizer.add(token))
        if text:
            row.request.post(Delta(text))
        if stopped:
            self._finish(row, "stop", stopped=True)
        elif row.output_tokens >= row.max_tokens:
            self._finish(row, "length")

    def _retire(self, batch: Batch) -> None:
        """Drop finished rows, and rows whose stream was closed, from the batch."""
        for row in batch.rows:
            if row.finish_reason is None and row.request.cancelled:
                row.finish_reason = "cancelled"
                self.stats.finish_reasons["cancelled"] += 1
        keep = [i for i, row in enumerate(batch.rows) if row.finish_reason is None]
        if len(keep) < len(batch.rows):
            batch.keep(keep)

    def _finish(self, row: Row, reason: FinishReason, *, stopped: bool = False) -> None:
        if not stopped:  # a stop string ends the text where it begins: nothing after it is released
            tail, stopped = row.stops.feed(row.detokenizer.flush())
            tail += "" if stopped else row.stops.flush()
            if tail:
                row.request.post(Delta(tail))
        row.finish_reason = reason
        self.stats.finish_reasons[reason] += 1
        row.request.post(
            Finished(row.prompt_tokens, row.output_tokens, reason, row.first_token_at, row.max_batch_size)
        )

    def _finish_unadmitted(self, request: Request, reason: FinishReason) -> None:
        self.stats.finish_reasons[reason] += 1
        request.post(Finished(0, 0, reason, None, 0))

    def _encode_chat(self, messages: ChatMessages) -> list[int]:
        # transformers 5: tokenize=True returns a dict; the rendered text already holds the special tokens.
        text = render_chat(self._tokenizer, messages)
        return self._tokenizer.encode(text, add_special_tokens=False)

    def _decode(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(token_ids, skip_special_tokens=True)


def sample_nucleus(
    probs: torch.Tensor, top_probs: torch.Tensor, top_ids: torch.Tensor, top_p: float, generator: torch.Generator
) -> torch.Tensor:
    """Sample from the smallest set of most likely tokens whose mass reaches `top_p` (always at least one)."""
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator)[0]
    if top_probs.sum() < top_p:  # the nucleus reaches past the candidates: rare, and exact at the cost of a sort
        top_probs, top_ids = probs.sort(descending=True)
    outside = top_probs.cumsum(0) - top_probs >= top_p
    return top_ids[torch.multinomial(top_probs.masked_fill(outside, 0.0), 1, generator=generator)[0]]


def _generator(params: SamplingParams) -> torch.Generator | None:
    """The row's own random stream, so that a seed reproduces its text whatever else shares the batch; None: greedy."""
    if params.temperature <= 0:
        return None
    seed = params.seed if params.seed is not None else random.randrange(2**63)
    return torch.Generator().manual_seed(seed)


@functools.cache
def _use_all_cores() -> None:
    """Once per process: torch's default may count hyperthreads or ignore the CPU affinity of a container."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))


def _resolve_dtype(dtype: DType) -> torch.dtype:
    if dtype == "auto":
        # Measured on a 2-core AMX Xeon: bf16 decodes 1.4x (8 rows) to 1.5x (16 rows) faster than fp32, and 15%
        # slower for a single row. Without native bf16 it is emulated and much slower.
        native_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return torch.bfloat16 if native_bf16 else torch.float32
    return getattr(torch, dtype)
