"""The embedded engine: transformers on the CPU, with continuous batching in one worker thread.

The worker thread (`bot.engines.transformers_worker`) owns the model and runs a decode loop over one padded KV cache
(`bot.engines.transformers_batch`), so concurrent requests share forward passes. Text goes back to the event loop
through `call_soon_threadsafe`, so the loop never waits for the model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bot.engines.base import ChatMessages, Delta, Engine, EngineError, SamplingParams, StreamEvent, Usage
from bot.engines.transformers_worker import BatchWorker, DType, EngineStats, Event, Request

if TYPE_CHECKING:
    from bot.config import Settings


class TransformersEngine(Engine):
    """The default engine: the model runs in this process, on a worker thread, batched across requests."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        model_cache_dir: Path,
        *,
        batch_window_ms: float = 5.0,
        max_batch_size: int = 16,
        dtype: DType = "auto",
    ) -> None:
        """`model` and `model_cache_dir` as in `Settings`. `dtype`: "auto" picks bfloat16 where the CPU computes it
        natively (AVX512-BF16 or AMX), else float32."""
        self.model_id = model
        self.model_cache_dir = model_cache_dir
        self.dtype = dtype
        self._batcher = BatchWorker(
            model, model_cache_dir, dtype=dtype, batch_window_s=batch_window_ms / 1000, max_batch_size=max_batch_size
        )
        self._worker: threading.Thread | None = None

    @property
    def stats(self) -> EngineStats:
        return self._batcher.stats

    @property
    def model_dir(self) -> Path | None:
        return self._batcher.model_dir

    @property
    def torch_dtype(self) -> torch.dtype | None:
        """The dtype the model was loaded in, once started."""
        return self._batcher.torch_dtype

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersEngine:
        return cls(
            settings.model,
            settings.effective_model_cache_dir,
            batch_window_ms=settings.batch_window_ms,
            max_batch_size=settings.max_batch_size,
        )

    async def start(self) -> None:
        if self._worker is not None:
            return
        await asyncio.to_thread(self._batcher.load)
        self._worker = threading.Thread(target=self._batcher.serve, name=f"{self.name}-engine", daemon=True)
        self._worker.start()

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._batcher.stop()
        await asyncio.to_thread(worker.join)
        self._batcher.unload()

    async def stream(
        self, messages: ChatMessages, params: SamplingParams, request_id: str
    ) -> AsyncIterator[StreamEvent]:
        if self._worker is None:
            raise EngineError("the transformers engine is not started")
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        submitted_at = time.perf_counter()

        def post(event: Event) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                request.cancelled = True

        request = Request(request_id, messages, params, post)
        self._batcher.submit(request)
        try:
            while True:
                event = await events.get()
                if isinstance(event, Delta):
                    yield event
                elif isinstance(event, EngineError):
                    raise event
                else:
                    first = event.first_token_at
                    yield Usage(
                        prompt_tokens=event.prompt_tokens,
                        output_tokens=event.output_tokens,
                        finish_reason=event.finish_reason,
                        time_to_first_token_s=None if first is None else first - submitted_at,
                        total_time_s=time.perf_counter() - submitted_at,
                        extra={"max_batch_size": event.max_batch_size},
                    )
                    return
        finally:
            # Read by the worker at its next step boundary; harmless once the row has finished.
            request.cancelled = True
