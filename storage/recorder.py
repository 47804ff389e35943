"""The provenance recorder: callers enqueue rows and go on; one writer task commits them in batches.

Enqueueing never waits on the disk. The writer drains whatever has queued up since its last commit and writes
it in one transaction (inserts grouped per table as executemany), so concurrent requests share commits.
`flush()` waits until everything enqueued so far is durable; `close()` drains and stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain import chain_requests
from storage.models import Delivery, Generation, PolicyVersion, Request, RequestStatus, Verdict, utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Insert:
    table: Table
    row: dict[str, Any]
    if_absent: bool = False
    """Skip a row whose primary key is already there (facts recorded by more than one process)."""


@dataclass(slots=True)
class _Update:
    table: Table
    key: Any
    values: dict[str, Any]


_Op = _Insert | _Update


class Recorder:
    def __init__(self, engine: AsyncEngine, max_batch: int = 2000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Op | asyncio.Future[None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.rows_written = 0
        self.commits = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="provenance-recorder")

    # -- what the pipeline records -------------------------------------------------------------------------

    def request_arrived(self, **row: Any) -> None:
        now = utcnow()
        row.setdefault("status", RequestStatus.PENDING)
        row.setdefault("options", {})
        row.setdefault("created_at", now)
        row.setdefault("updated_at", now)
        self._put(_Insert(Request.__table__, row))

    def request_status(self, request_id: str, status: RequestStatus, reason: str | None = None, **values: Any) -> None:
        values.update(status=status, status_reason=reason[:200] if reason else None, updated_at=utcnow())
        self._put(_Update(Request.__table__, request_id, values))

    def generation(self, **row: Any) -> None:
        row.setdefault("created_at", utcnow())
        self._put(_Insert(Generation.__table__, row))

    def generation_update(self, generation_id: str, **values: Any) -> None:
        self._put(_Update(Generation.__table__, generation_id, values))

    def verdicts(self, rows: Iterable[dict[str, Any]]) -> None:
        now = utcnow()
        for row in rows:
            row.setdefault("created_at", now)
            self._put(_Insert(Verdict.__table__, row))

    def delivery(self, **row: Any) -> None:
        row.setdefault("created_at", utcnow())
        self._put(_Insert(Delivery.__table__, row))

    def policy_version(self, policy_hash: str, policy: dict[str, Any]) -> None:
        self._put(_Insert(PolicyVersion.__table__, {"hash": policy_hash, "policy": policy, "created_at": utcnow()}, True))

    # -- durability -----------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything enqueued before this call is committed."""
        if self._task is None or self._task.done():
            await self._write(self._drain_now())
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await self.flush()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None
        await self._write(self._drain_now())

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    # -- the writer -----------------------------------------------------------------------------------------

    def _put(self, op: _Op) -> None:
        self._queue.put_nowait(op)

    def _drain_now(self) -> list[_Op]:
        ops: list[_Op] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, asyncio.Future):
                item.set_result(None)
            else:
                ops.append(item)
        return ops

    async def _write_forever(self) -> None:
        while True:
            first = await self._queue.get()
            ops: list[_Op] = []
            waiters: list[asyncio.Future[None]] = []
            item: _Op | asyncio.Future[None] = first
            while True:
                if isinstance(item, asyncio.Future):
                    waiters.append(item)
                else:
                    ops.append(item)
                if len(ops) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            try:
                await self._write(ops)
            except Exception:  # a bad batch must not kill the recorder: log it, keep serving
                log.exception("provenance write failed for %d rows", len(ops))
                await self._write_one_by_one(ops)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _write(self, ops: list[_Op]) -> None:
        if not ops:
            return
        async with self._engine.begin() as connection:
            for group in _grouped(ops):
                if isinstance(group[0], _Insert):
                    statement = _insert_if_absent(connection, group[0].table) if group[0].if_absent else insert(group[0].table)
                    await connection.execute(statement, [op.row for op in group])
                else:
                    for op in group:
                        table = op.table
                        await connection.execute(update(table).where(table.c.id == op.key).values(**op.values))
            # In the same transaction: a request that has ended is chained as it now is (chains in a fixed order).
            await chain_requests(connection, _touched_requests(ops))
        self.rows_written += len(ops)
        self.commits += 1

    async def _write_one_by_one(self, ops: list[_Op]) -> None:
        for op in ops:
            try:
                await self._write([op])
            except Exception:
                log.exception("dropped provenance op on %s", op.table.name)


def _insert_if_absent(connection: AsyncConnection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


def _touched_requests(ops: list[_Op]) -> list[str]:
    touched: dict[str, None] = {}
    for op in ops:
        if op.table is Request.__table__:
            touched[op.row["id"] if isinstance(op, _Insert) else op.key] = None
        elif isinstance(op, _Insert) and "request_id" in op.row:
            touched[op.row["request_id"]] = None
    return list(touched)


def _grouped(ops: list[_Op]) -> list[list[_Op]]:
    """Consecutive inserts into one table become one executemany; order between tables is kept (foreign keys)."""
    groups: list[list[_Op]] = []
    for op in ops:
        previous = groups[-1][0] if groups else None
        if (
            isinstance(op, _Insert)
            and isinstance(previous, _Insert)
            and previous.table is op.table
            and previous.row.keys() == op.row.keys()
            and previous.if_absent == op.if_absent
        ):
            groups[-1].append(op)
        else:
            groups.append([op])
    return groups
