"""Micro-batching: concurrent callers' items that arrive within a few milliseconds share one call in a worker thread.

Classifiers are much faster per item on a batch, and the event loop must never run a model, so every rail call
goes through one of these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """Collects items submitted within `window_ms` of each other and runs them as one `run_batch` call in a
    worker thread, up to `max_batch` items a call; each caller gets its own results, or the batch's exception."""

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        window_ms: float = 3.0,
        max_batch: int = 64,
        name: str = "batcher",
    ) -> None:
        self._run_batch = run_batch
        self._window_s = window_ms / 1000.0
        self._max_batch = max_batch
        self._name = name
        self._pending: list[tuple[list[Item], asyncio.Future[list[Result]]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.largest_batch = 0

    async def submit(self, items: list[Item]) -> list[Result]:
        """Results for `items`, in order, computed together with whatever else arrived at the same moment."""
        if not items:
            return []
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.create_task(self._serve(), name=self._name)
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _serve(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                continue
            # A short window lets requests that arrive together share the call.
            if sum(len(items) for items, _ in self._pending) < self._max_batch:
                await asyncio.sleep(self._window_s)
            taken, size = [], 0
            while self._pending and (not taken or size + len(self._pending[0][0]) <= self._max_batch):
                items, future = self._pending.pop(0)
                taken.append((items, future))
                size += len(items)
            if self._pending:
                self._wakeup.set()
            flat = [item for items, _ in taken for item in items]
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(flat))
            try:
                results = await asyncio.to_thread(self._run_batch, flat)
            except Exception as error:  # every caller of the batch learns of the failure
                for _, future in taken:
                    if not future.done():
                        future.set_exception(error)
                continue
            offset = 0
            for items, future in taken:
                if not future.done():
                    future.set_result(list(results[offset : offset + len(items)]))
                offset += len(items)
