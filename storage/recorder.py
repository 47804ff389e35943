"""The provenance recorder: callers enqueue rows and go on; one writer task commits them in batches.

Enqueueing never waits on the disk. The writer drains whatever has queued up since its last commit and writes
it in one transaction (inserts grouped per table as executemany), so concurrent requests share commits.
`flush()` waits until everything enqueued so far is durable; `close()` drains and stops.

When the database cannot take writes (locked past its busy timeout, read-only, out of space, unreachable) the
batch is kept and retried with backoff, and everything enqueued meanwhile waits in memory behind it: nothing is
dropped, `healthy` is False until a commit succeeds (`/ready` answers 503 and the pipeline refuses new requests).
Past `max_backlog` queued rows new ones are dropped and counted (`rows_dropped`): memory stays bounded through a
long outage. A row the database refuses as such (a broken foreign key) is logged and dropped alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Float, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import audit_counters
from storage.chain import CLOSED_STATUSES, chain_requests, record_view
from storage.models import Delivery, Generation, PolicyVersion, Request, RequestStatus, Verdict, utcnow
from storage.verdict_rows import RailVerdict, verdict_rows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Insert:
    """A row to insert."""

    table: Table
    row: dict[str, Any]
    if_absent: bool = False
    """Skip a row whose primary key is already there (facts recorded by more than one process)."""


@dataclass(slots=True)
class _Update:
    """New values for the row with primary key `key`."""

    table: Table
    key: Any
    values: dict[str, Any]


_Op = _Insert | _Update

MAX_MIRRORED = 50_000
"""Open requests whose rows the recorder keeps in memory to chain them without reading them back; past this many
(a stuck database, a flood) the rest are read back when they end, as after a restart."""
_CHILD_KEYS = {Generation.__table__: "generations", Verdict.__table__: "verdicts", Delivery.__table__: "deliveries"}
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
        self._queue: asyncio.Queue[_Op | asyncio.Future[None]] = asyncio.Queue()
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
        self._in_hand: list[_Op] = []
        """The batch the writer is committing (or retrying): written by `close` if the writer is stopped first."""
        self._flushes: set[asyncio.Future[None]] = set()
        """`flush` calls waiting: told at once when the database starts refusing writes."""
        self._mirrors: dict[str, dict[str, Any]] = {}
        """Open requests' rows as the database holds them ({"request": row, "generations": {id: row}, "verdicts": [...],
        "deliveries": [...]}), kept from their first insert so an ended request is chained from memory."""
        self._generation_request: dict[str, str] = {}
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
        """`verdicts` rows as they are stored (`judged` makes them from rail verdicts)."""
        now = utcnow()
        for row in rows:
            row.setdefault("created_at", now)
            self._put(_Insert(Verdict.__table__, row))

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
        self._put(_Insert(Delivery.__table__, row))

    def policy_version(self, policy_hash: str, policy: dict[str, Any]) -> None:
        self._put(_Insert(PolicyVersion.__table__, {"hash": policy_hash, "policy": policy, "created_at": utcnow()}, True))

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

    def _put(self, op: _Op) -> None:
        if self._queue.qsize() >= self.max_backlog:
            self.rows_dropped += 1
            if self.rows_dropped == 1 or self.rows_dropped % 1000 == 0:
                log.error("provenance backlog full (%d rows waiting): %d rows dropped", self.max_backlog, self.rows_dropped)
            return
        self._queue.put_nowait(op)

    def _drain_now(self) -> list[_Op]:
        ops: list[_Op] = []
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
            self._in_hand = ops
            await self._commit(ops)
            self._in_hand = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _write(self, ops: list[_Op]) -> None:
        if not ops:
            return
        touched = _touched_requests(ops)
        assigned = self._mirror(ops)
        try:
            async with self._engine.begin() as connection:
                deltas = await _counted(connection, ops)
                for group in _grouped(ops):
                    if isinstance(group[0], _Insert):
                        table = group[0].table
                        if group[0].if_absent:
                            statement = _insert_if_absent(connection, table)
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
                known = self._ended_records(touched)
                await chain_requests(connection, touched, known)
                await audit_counters.apply(connection, deltas)
        except BaseException:
            for request_id in touched:  # what the database holds of them is no longer sure: read back when they end
                self._forget(request_id)
            raise
        self.chained_from_memory += len(known)
        for request_id in touched:
            mirror = self._mirrors.get(request_id)
            if mirror is not None and mirror["request"]["status"] in CLOSED_STATUSES:
                self._forget(request_id)  # chained; anything later (a review, an edit) is read back
        self.rows_written += len(ops)
        self.commits += 1

    # -- the rows in memory, for chaining ended requests without reading them back ----------------------------

    async def _insert_with_ids(
        self, connection: AsyncConnection, table: Table, group: list[_Op], assigned: dict[int, dict[str, Any]]
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

    def _mirror(self, ops: list[_Op]) -> dict[int, dict[str, Any]]:
        """Apply `ops`, in order, to the open requests' rows in memory; the inserted rows still waiting for the id
        the database gives them, by `id(op)`."""
        waiting: dict[int, dict[str, Any]] = {}
        for op in ops:
            table = op.table
            if isinstance(op, _Insert):
                if op.if_absent:
                    continue
                if table is Request.__table__:
                    if len(self._mirrors) < MAX_MIRRORED:
                        self._mirrors[op.row["id"]] = {
                            "request": _as_stored(table, op.row), "generations": {}, "verdicts": [], "deliveries": [],
                        }  # fmt: skip
                elif table in _CHILD_KEYS and (mirror := self._mirrors.get(op.row["request_id"])) is not None:
                    row = _as_stored(table, op.row)
                    if table is Generation.__table__:
                        mirror["generations"][row["id"]] = row
                        self._generation_request[row["id"]] = op.row["request_id"]
                    else:
                        mirror[_CHILD_KEYS[table]].append(row)
                        waiting[id(op)] = row
            elif table is Request.__table__:
                if (mirror := self._mirrors.get(op.key)) is not None:
                    mirror["request"].update(_as_stored(table, op.values, complete=False))
            elif table is Generation.__table__:
                request_id = self._generation_request.get(op.key)
                mirror = self._mirrors.get(request_id) if request_id is not None else None
                if mirror is not None and op.key in mirror["generations"]:
                    mirror["generations"][op.key].update(_as_stored(table, op.values, complete=False))
        return waiting

    def _ended_records(self, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The digest views of those requests that have ended with all their rows in memory. A held request is read
        back: its review row is written by the review desk (storage/reviews.py), not here."""
        records = {}
        for request_id in request_ids:
            mirror = self._mirrors.get(request_id)
            if mirror is None:
                continue
            status = mirror["request"]["status"]
            if status not in CLOSED_STATUSES or status == RequestStatus.HELD:
                continue
            children = {
                "generations": sorted(mirror["generations"].values(), key=lambda row: (row["attempt"], row["id"])),
                "verdicts": sorted(mirror["verdicts"], key=lambda row: row["id"]),
                "deliveries": sorted(mirror["deliveries"], key=lambda row: row["id"]),
            }
            records[request_id] = record_view(mirror["request"], children)
        return records

    def _forget(self, request_id: str) -> None:
        mirror = self._mirrors.pop(request_id, None)
        if mirror is not None:
            for generation_id in mirror["generations"]:
                self._generation_request.pop(generation_id, None)

    async def _commit(self, ops: list[_Op]) -> None:
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


def _insert_if_absent(connection: AsyncConnection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


_PLAIN, _JSON, _FLOAT = 0, 1, 2
_NO_DEFAULT = object()


def _plan(table: Table) -> list[tuple[str, int, Any, bool]]:
    """Per column: name, how its value comes back, its default (`_NO_DEFAULT`: the database's own id), callable."""
    plan = []
    for column in table.columns:
        kind = _JSON if isinstance(column.type, JSON) else _FLOAT if isinstance(column.type, Float) else _PLAIN
        if column.primary_key and column.autoincrement is True:
            default, is_callable = _NO_DEFAULT, False
        elif column.default is None:
            default, is_callable = None, False
        else:
            default, is_callable = column.default.arg, column.default.is_callable  # type: ignore[union-attr]
        plan.append((column.name, kind, default, is_callable))
    return plan


_PLANS = {table: _plan(table) for table in (Request.__table__, Generation.__table__, Verdict.__table__, Delivery.__table__)}


_SCALARS = (str, int, float, bool, type(None))


def _decoded(value: Any) -> Any:
    """A JSON column's value as it comes back: a flat dict of scalars under text keys (scores, options, params)
    unchanged, anything else through an encode and decode."""
    if type(value) is dict and all(type(key) is str and isinstance(item, _SCALARS) for key, item in value.items()):
        return dict(value)
    return json.loads(json.dumps(value))


def _as_stored(table: Table, row: dict[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """`row` as the database hands it back: every column (`complete`; a missing one at its default, the database's
    own ids left out until it assigns them), JSON as it decodes, floats as floats."""
    stored: dict[str, Any] = {}
    for name, kind, default, is_callable in _PLANS[table]:
        if name in row:
            value = row[name]
            if value is not None and kind:
                value = _decoded(value) if kind == _JSON else float(value)
            stored[name] = value
        elif complete and default is not _NO_DEFAULT:
            if is_callable:  # the same value goes to the database (a default of `utcnow` would differ)
                stored[name] = row[name] = default(None)
            else:
                stored[name] = default
    return stored


async def _counted(connection: AsyncConnection, ops: list[_Op]) -> audit_counters.Deltas:
    """What `ops` change in the audit counters; read before they are written (the statuses they replace, the
    latest non-pass verdicts of the requests they flag)."""
    deltas = audit_counters.Deltas()
    arrived: dict[str, dict[str, Any]] = {}
    final_status: dict[str, str] = {}
    non_pass: list[dict[str, Any]] = []
    for op in ops:
        if op.table is Request.__table__:
            if isinstance(op, _Insert):
                arrived[op.row["id"]] = op.row
            elif "status" in op.values:
                final_status[op.key] = op.values["status"]
        elif op.table is Verdict.__table__ and isinstance(op, _Insert):
            deltas.verdict(op.row)
            if op.row["decision"] in audit_counters.NON_PASS:
                non_pass.append(op.row)
    for request_id, row in arrived.items():
        status = final_status.pop(request_id, row["status"])
        deltas.request(row.get("guild_id"), row["created_at"], status, row["user_id"])
    if final_status:
        query = select(Request.id, Request.guild_id, Request.created_at, Request.status).where(
            Request.id.in_(list(final_status))
        )
        for request_id, guild_id, created_at, status in await connection.execute(query):
            deltas.moved(guild_id, created_at, status, final_status[request_id])
    await audit_counters.flagged_moves(connection, deltas, non_pass)
    return deltas


def _touched_requests(ops: list[_Op]) -> list[str]:
    touched: dict[str, None] = {}
    for op in ops:
        if op.table is Request.__table__:
            touched[op.row["id"] if isinstance(op, _Insert) else op.key] = None
        elif isinstance(op, _Insert) and "request_id" in op.row:
            touched[op.row["request_id"]] = None
    return list(touched)


_TABLE_ORDER = {table: n for n, table in enumerate(Request.metadata.sorted_tables)}
"""Tables in foreign-key order: a batch's inserts go parents first."""


def _grouped(ops: list[_Op]) -> list[list[_Op]]:
    """A batch in a few statements: the inserts, one executemany per table (and column set) in foreign-key order,
    then the updates, those to one row merged in the order they were made, one executemany per table and column
    set. Updates never create rows and inserts reference only primary keys, so the rows written are the same as
    applying the ops one at a time; interleaved requests made that one statement per row (measured with
    `python -m bench provenance`: 385 records/s)."""
    inserts: dict[tuple, list[_Op]] = {}
    updates: dict[tuple, _Update] = {}
    for op in ops:
        if isinstance(op, _Insert):
            inserts.setdefault((op.table, tuple(op.row), op.if_absent), []).append(op)
        elif (op.table, op.key) in updates:
            updates[(op.table, op.key)].values.update(op.values)
        else:
            updates[(op.table, op.key)] = _Update(op.table, op.key, dict(op.values))
    groups = sorted(inserts.values(), key=lambda group: _TABLE_ORDER.get(group[0].table, len(_TABLE_ORDER)))
    by_columns: dict[tuple, list[_Op]] = {}
    for op in updates.values():
        by_columns.setdefault((op.table, tuple(sorted(op.values))), []).append(op)
    return groups + list(by_columns.values())
