"""The provenance recorder: callers enqueue rows and go on; one writer task commits them in batches.

Enqueueing never waits on the disk. The writer drains whatever has queued up since its last commit and writes
it in one transaction (inserts grouped per table as executemany), so concurrent requests share commits.
`flush()` waits until everything enqueued so far is durable; `close()` drains and stops.

When the database cannot take writes (locked past its busy timeout, read-only, out of space, unreachable) the
batch is kept and retried with backoff, and everything enqueued meanwhile waits in memory behind it: nothing is
dropped, `healthy` is False until a commit succeeds (`/ready` answers 503 and the pipeline refuses new requests).
Past `max_backlog` queued rows new ones are dropped and counted (`rows_dropped`): memory stays bounded through a
long outage. A row the database refuses as such (a broken foreign key) is logged and dropped alone.

How a batch becomes a few statements: `storage.write_batch`; the open requests' rows kept in memory to chain them
when they end: `storage.row_mirror`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import audit_counters
from storage.chain import chain_requests
from storage.models import Delivery, Generation, PolicyVersion, Request, RequestStatus, Verdict, utcnow
from storage.row_mirror import RowMirror
from storage.verdict_rows import RailVerdict, verdict_rows
from storage.write_batch import Insert, Op, Update, counted, grouped, insert_if_absent, touched_requests

log = logging.getLogger(__name__)

_RETURNING_IDS = (Verdict.__table__, Delivery.__table__)
"""Tables whose ids the database assigns: read back from the insert itself (RETURNING), for the mirrors."""


class Recorder:
    """Enqueues provenance rows without waiting and commits them in batches from one writer task."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_batch: int = 2000,
        *,
        max_backlog: int = 200_000,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 2.0,
        instance: str | None = None,
        lease_id: str | None = None,
    ) -> None:
        """`instance`: the bot process's name, and `lease_id` its own lease, stamped on every request it records
        (see `mark_interrupted`)."""
        self._engine = engine
        self.instance = instance
        self.lease_id = lease_id
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Op | asyncio.Future[None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.max_backlog = max_backlog
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self.rows_written = 0
        self.commits = 0
        self.rows_dropped = 0
        """Rows refused because `max_backlog` rows were already waiting for an unavailable database."""
        self.write_failures = 0
        """Commits that failed because the database could not take writes (each is retried)."""
        self.last_error: str | None = None
        """Why the database refused the last write, while it still does; None once writes succeed."""
        self._in_hand: list[Op] = []
        """The batch the writer is committing (or retrying): written by `close` if the writer is stopped first."""
        self._flushes: set[asyncio.Future[None]] = set()
        """`flush` calls waiting: told at once when the database starts refusing writes."""
        self._rows = RowMirror()
        """Open requests' rows as the database holds them, kept from their first insert so an ended request is
        chained from memory."""
        self.chained_from_memory = 0
        """Ended requests chained from the rows in memory (the rest were read back)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="provenance-recorder")

    # -- what the pipeline records -------------------------------------------------------------------------

    def request_arrived(self, **row: Any) -> None:
        now = utcnow()
        if self.instance is not None:
            row.setdefault("instance", self.instance)
        if self.lease_id is not None:
            row.setdefault("lease_id", self.lease_id)
        row.setdefault("status", RequestStatus.PENDING)
        row.setdefault("options", {})
        row.setdefault("created_at", now)
        row.setdefault("updated_at", now)
        self._put(Insert(Request.__table__, row))

    def request_status(self, request_id: str, status: RequestStatus, reason: str | None = None, **values: Any) -> None:
        values.update(status=status, status_reason=reason[:200] if reason else None, updated_at=utcnow())
        self._put(Update(Request.__table__, request_id, values))

    def generation(self, **row: Any) -> None:
        row.setdefault("created_at", utcnow())
        self._put(Insert(Generation.__table__, row))

    def generation_update(self, generation_id: str, **values: Any) -> None:
        self._put(Update(Generation.__table__, generation_id, values))

    def verdicts(self, rows: Iterable[dict[str, Any]]) -> None:
        """`verdicts` rows as they are stored (`judged` makes them from rail verdicts)."""
        now = utcnow()
        for row in rows:
            row.setdefault("created_at", now)
            self._put(Insert(Verdict.__table__, row))

    def judged(
        self,
        verdicts: Iterable[RailVerdict],
        *,
        request_id: str,
        guild_id: int | None,
        generation_id: str | None,
        policy_hash: str | None,
    ) -> None:
        """The verdicts of the rails that judged a request's text (`storage.verdict_rows`)."""
        self.verdicts(
            verdict_rows(
                verdicts, request_id=request_id, guild_id=guild_id, generation_id=generation_id, policy_hash=policy_hash
            )
        )

    def delivery(self, **row: Any) -> None:
        row.setdefault("created_at", utcnow())
        self._put(Insert(Delivery.__table__, row))

    def policy_version(self, policy_hash: str, policy: dict[str, Any]) -> None:
        self._put(Insert(PolicyVersion.__table__, {"hash": policy_hash, "policy": policy, "created_at": utcnow()}, True))

    # -- durability -----------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything enqueued before this call is committed.

        Raises `RecorderUnavailable` at once while the database refuses writes (and in every flush waiting when it
        starts to): the rows stay queued and are written when it takes writes again, but nobody hangs on them."""
        if self._task is None or self._task.done():
            await self._write(self._drain_now())
            return
        if self.last_error is not None:
            raise RecorderUnavailable(self.last_error)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flushes.add(done)
        self._queue.put_nowait(done)
        try:
            await done
        finally:
            self._flushes.discard(done)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Drain and stop. A database still refusing writes after `timeout_s` loses what waits (logged, counted)."""
        if self._task is not None and not self._task.done():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while True:
                try:
                    await asyncio.wait_for(self.flush(), max(0.0, deadline - loop.time()))
                    break
                except TimeoutError:
                    break
                except RecorderUnavailable:
                    if loop.time() >= deadline:
                        break
                    await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None
        ops, self._in_hand = self._in_hand + self._drain_now(), []
        try:
            await self._write(ops)
        except Exception as error:
            if not _unavailable(error):
                raise
            self.rows_dropped += len(ops)
            log.error("provenance database unavailable at close (%s): %d rows lost", _brief(error), len(ops))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    @property
    def healthy(self) -> bool:
        """False from a failed commit (the database cannot take writes) until the next one succeeds."""
        return self.last_error is None

    # -- the writer -----------------------------------------------------------------------------------------

    def _put(self, op: Op) -> None:
        if self._queue.qsize() >= self.max_backlog:
            self.rows_dropped += 1
            if self.rows_dropped == 1 or self.rows_dropped % 1000 == 0:
                log.error("provenance backlog full (%d rows waiting): %d rows dropped", self.max_backlog, self.rows_dropped)
            return
        self._queue.put_nowait(op)

    def _drain_now(self) -> list[Op]:
        ops: list[Op] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, asyncio.Future):
                if not item.done():  # a flush that stopped waiting (timed out) cancelled its future
                    item.set_result(None)
            else:
                ops.append(item)
        return ops

    async def _write_forever(self) -> None:
        while True:
            first = await self._queue.get()
            ops: list[Op] = []
            waiters: list[asyncio.Future[None]] = []
            item: Op | asyncio.Future[None] = first
            while True:
                if isinstance(item, asyncio.Future):
                    waiters.append(item)
                else:
                    ops.append(item)
                if len(ops) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            self._in_hand = ops
            await self._commit(ops)
            self._in_hand = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _write(self, ops: list[Op]) -> None:
        if not ops:
            return
        touched = touched_requests(ops)
        assigned = self._rows.apply(ops)
        try:
            async with self._engine.begin() as connection:
                deltas = await counted(connection, ops)
                for group in grouped(ops):
                    if isinstance(group[0], Insert):
                        table = group[0].table
                        if group[0].if_absent:
                            statement = insert_if_absent(connection, table)
                            await connection.execute(statement, [op.row for op in group])
                        elif table in _RETURNING_IDS:  # ids the database assigns, for the mirrors
                            await self._insert_with_ids(connection, table, group, assigned)
                        else:
                            await connection.execute(insert(table), [op.row for op in group])
                    else:  # one executemany; the SET clause comes from the columns named in the rows
                        table = group[0].table
                        statement = update(table).where(table.c.id == bindparam("row_key"))
                        await connection.execute(statement, [{"row_key": op.key, **op.values} for op in group])
                # In the same transaction: a request that has ended is chained as it now is (chains in a fixed order),
                # from the rows in memory where this recorder wrote them all, else as read back.
                known = self._rows.ended_records(touched)
                await chain_requests(connection, touched, known)
                await audit_counters.apply(connection, deltas)
        except BaseException:
            for request_id in touched:  # what the database holds of them is no longer sure: read back when they end
                self._forget(request_id)
            raise
        self.chained_from_memory += len(known)
        self._rows.forget_closed(touched)  # chained; anything later (a review, an edit) is read back
        self.rows_written += len(ops)
        self.commits += 1

    async def _insert_with_ids(
        self, connection: AsyncConnection, table: Table, group: list[Op], assigned: dict[int, dict[str, Any]]
    ) -> None:
        """Insert the group and give its mirrored rows the ids the database assigned them. PostgreSQL: RETURNING in
        the rows' order. SQLite: one writer at a time, and this transaction holds the write lock, so the rows take
        the ids after the largest one, in order; checked by the count, and where it does not hold (ids reused after
        a delete of the last row) the rows' requests are read back when they end instead."""
        rows = [op.row for op in group]  # type: ignore[union-attr]
        if connection.dialect.name == "postgresql":
            result = await connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            ids = list(result.scalars().all())
        else:
            largest = select(func.coalesce(func.max(table.c.id), 0))
            before = (await connection.execute(largest)).scalar_one()
            await connection.execute(insert(table), rows)
            after = (await connection.execute(largest)).scalar_one()
            if after - before != len(rows):
                for op in group:
                    self._forget(op.row["request_id"])  # type: ignore[union-attr]
                return
            ids = list(range(before + 1, after + 1))
        for op, row_id in zip(group, ids, strict=True):
            if (mirrored := assigned.get(id(op))) is not None:
                mirrored["id"] = row_id

    def _forget(self, request_id: str) -> None:
        """What the database holds of this request is no longer sure: it is read back when it ends."""
        self._rows.forget(request_id)

    async def _commit(self, ops: list[Op]) -> None:
        """Write `ops`, retrying for as long as the database cannot take writes; a bad batch is split row by row."""
        delay = self._retry_initial_s
        while True:
            try:
                await self._write(ops)
            except Exception as error:  # a bad batch must not kill the recorder: log it, keep serving
                if _unavailable(error):
                    self.write_failures += 1
                    if self.last_error is None:
                        reason = _brief(error)
                        log.error("provenance database cannot take writes (%s): %d rows kept, retrying", reason, len(ops))
                    self.last_error = _brief(error)
                    for waiting in self._flushes:
                        if not waiting.done():
                            waiting.set_exception(RecorderUnavailable(self.last_error))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
                    continue
                if len(ops) == 1:
                    log.exception("dropped provenance op on %s", ops[0].table.name)
                    return
                log.exception("provenance write failed for %d rows", len(ops))
                for op in ops:
                    await self._commit([op])
                return
            if self.last_error is not None:
                log.warning("provenance database takes writes again (%d waiting rows written)", len(ops))
                self.last_error = None
            return


class RecorderUnavailable(Exception):
    """The database refuses writes: what was enqueued waits in memory, and `flush` cannot promise it is on disk."""


def _brief(error: BaseException) -> str:
    """The driver's message alone: SQLAlchemy's text would carry the rows' parameters (prompts) into the logs."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__name__}: {cause}"[:200]


def _unavailable(error: BaseException) -> bool:
    """The database, not the row, is the problem: locked, read-only, full, disk I/O, connection lost."""
    if isinstance(error, (OperationalError, InterfaceError, OSError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated

