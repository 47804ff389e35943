"""Walking one chain: every link recomputed, every record's latest digest compared with its rows now; several
chains at once in worker processes.

`ChainWalk` is the check itself, fed by one of two readers: the engine (any database; `verify_chain`) or, for a
SQLite file, the standard library's driver writing digests straight from the stored rows (`verify_chain_file`,
storage/chain/sqlite_records.py: about half the time per record)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain.digest import GENESIS, leaf_hash, link_hash, record_digest
from storage.chain.links import Link
from storage.chain.records import UNCHECKED, current_records
from storage.chain.sqlite_records import StoredRecords
from storage.models import ChainCheckpoint, ChainEntry, ChainHead

VERIFY_BATCH = 500
Progress = Callable[[int], None]


@dataclass(slots=True)
class Broken:
    """Where a chain stops verifying, and why (`seq` None: not at one entry)."""

    chain: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"chain {self.chain}" + (f" entry {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Report:
    """What `verify` found: how much it checked, what is broken, and each intact chain's head."""

    chains: int = 0
    entries: int = 0
    records: int = 0
    broken: list[Broken] = field(default_factory=list)
    heads: dict[int, Link] = field(default_factory=dict)
    pinned: list[Link] = field(default_factory=list)
    """The expected heads (`verify(expect=...)`) found in place."""

    @property
    def intact(self) -> bool:
        return not self.broken

    def add(self, part: Report) -> None:
        """A chain's report (from a worker process or thread) taken into this one."""
        self.chains += part.chains
        self.entries += part.entries
        self.records += part.records
        self.broken.extend(part.broken)
        self.heads.update(part.heads)


Expected = dict[str, list[tuple[str, int, str]]]
"""By kind: (record id, seq, digest) of each record's latest entry."""


class ChainWalk:
    """One chain's check, whatever reads it: `entry` for each entry in order (False: broken, stop), `end` with the
    head row, then `compare` each batch of records' digests as they are now."""

    def __init__(self, chain: int, checkpoints: Mapping[int, str], report: Report) -> None:
        self.chain, self.checkpoints, self.report = chain, checkpoints, report
        self.previous, self.expected_seq = GENESIS, 1
        self.latest: dict[tuple[str, str], tuple[int, str]] = {}
        report.chains += 1

    def _broken(self, seq: int | None, reason: str) -> bool:
        self.report.broken.append(Broken(self.chain, seq, reason))
        return False

    def entry(self, seq: int, kind: str, record_id: str, digest: str, leaf: str, chained: str) -> bool:
        self.report.entries += 1
        if seq != self.expected_seq:
            return self._broken(self.expected_seq, f"entry missing (the next one found is {seq})")
        if leaf != leaf_hash(kind, record_id, digest):
            return self._broken(seq, f"{kind} {record_id}: entry altered (leaf hash)")
        if chained != link_hash(self.previous, leaf):
            return self._broken(seq, "link hash does not follow from the previous entry")
        if seq in self.checkpoints and self.checkpoints[seq] != chained:
            return self._broken(seq, "differs from the checkpoint taken at this entry")
        self.previous, self.expected_seq = chained, self.expected_seq + 1
        self.latest[(kind, record_id)] = (seq, digest)
        return True

    def end(self, head: tuple[int, str] | None) -> Expected | None:
        """After the last entry: the head row `(seq, chain_hash)` checked; the records to compare, or None when
        there is nothing more to check."""
        last_seq = self.expected_seq - 1
        if head is None and last_seq == 0:
            self.report.chains -= 1  # a guild that never had a record: nothing to check, nothing broken
            return None
        if head is None or tuple(head) != (last_seq, self.previous):
            self._broken(last_seq + 1, "entries after this point were removed (head mismatch)")
            return None
        self.report.heads[self.chain] = Link(self.chain, last_seq, self.previous)
        expected: Expected = {}
        for (kind, record_id), (seq, digest) in self.latest.items():
            expected.setdefault(kind, []).append((record_id, seq, digest))
        return expected

    def compare(self, kind: str, batch: list[tuple[str, int, str]], now: Mapping[str, Any]) -> None:
        """`now`: each record's digest as its rows are now, UNCHECKED where there are no rows to compare (erasures);
        a record absent from it has had its rows deleted."""
        for record_id, seq, digest in batch:
            current = now.get(record_id)
            if current is UNCHECKED:
                continue
            self.report.records += 1
            if current is None:
                self._broken(seq, f"{kind} {record_id}: its rows were deleted")
            elif current != digest:
                self._broken(seq, f"{kind} {record_id}: its rows were changed after entry {seq}")


def _batches(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + VERIFY_BATCH] for start in range(0, len(items), VERIFY_BATCH)]


async def verify_chain(
    connection: AsyncConnection, chain: int, head: Any, report: Report, progress: Progress | None
) -> None:
    """Check one chain through the engine: its links, checkpoints and head row (`head`), then its records' latest
    digests, into `report`."""
    checkpoints = {
        row.seq: row.chain_hash
        for row in await connection.execute(select(ChainCheckpoint.__table__).where(ChainCheckpoint.chain == chain))
    }
    walk = ChainWalk(chain, checkpoints, report)
    stream = await connection.stream(
        select(ChainEntry.seq, ChainEntry.kind, ChainEntry.record_id, ChainEntry.record_digest, ChainEntry.leaf_hash,
               ChainEntry.chain_hash).where(ChainEntry.chain == chain).order_by(ChainEntry.seq)
    )  # fmt: skip
    async for entry in stream:
        if progress is not None:
            progress(1)
        if not walk.entry(*entry):
            return
    expected = walk.end(None if head is None else (head.seq, head.chain_hash))
    for kind, records in (expected or {}).items():
        for batch in _batches(records):
            current = await current_records(connection, kind, [record_id for record_id, _, _ in batch])
            now = {record_id: r if r is UNCHECKED else record_digest(r) for record_id, r in current.items()}
            walk.compare(kind, batch, now)


def verify_chain_file(path: str, chain: int, progress: Progress | None = None) -> Report:
    """`verify_chain` for a SQLite file, through the standard driver in one read transaction (a snapshot, as the
    engine's connection has): blocking, for a worker thread or process."""
    part = Report()
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA query_only=ON")
        connection.execute("BEGIN")
        head = connection.execute("SELECT seq, chain_hash FROM chain_heads WHERE chain = ?", (chain,)).fetchone()
        checkpoints = dict(connection.execute("SELECT seq, chain_hash FROM chain_checkpoints WHERE chain = ?", (chain,)))
        walk = ChainWalk(chain, checkpoints, part)
        entries = connection.execute(
            "SELECT seq, kind, record_id, record_digest, leaf_hash, chain_hash FROM chain_entries WHERE chain = ?"
            " ORDER BY seq", (chain,),
        )  # fmt: skip
        walked = 0
        for entry in entries:
            walked += 1
            if progress is not None and walked % VERIFY_BATCH == 0:
                progress(VERIFY_BATCH)
            if not walk.entry(*entry):
                break
        else:
            expected = walk.end(head)
            stored = StoredRecords(connection)
            for kind, records in (expected or {}).items():
                for batch in _batches(records):
                    walk.compare(kind, batch, stored.digests(kind, batch))
        if progress is not None and walked % VERIFY_BATCH:
            progress(walked % VERIFY_BATCH)
    finally:
        connection.close()
    return part


def sqlite_file(url: URL) -> str | None:
    """The database's SQLite file, where it is one (an in-memory database is only reachable through its engine)."""
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return url.database
    return None


async def verify_in_processes(
    engine: AsyncEngine, chains: list[int], workers: int, report: Report, progress: Progress | None, *, path: str | None
) -> None:
    """Each of `chains` verified in a pool of worker processes, each part added to `report` as it ends: read from
    the SQLite file at `path` where given, over an engine of their own otherwise."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    url = engine.url.render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    # spawn: a fork would copy this process's event loop and open connections into the workers
    with ProcessPoolExecutor(min(workers, len(chains)), mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = [loop.run_in_executor(pool, _verify_chain_in_process, url, path, chain) for chain in chains]
        for done in asyncio.as_completed(pending):
            part = await done
            report.add(part)
            if progress is not None:
                progress(part.entries)


def _verify_chain_in_process(url: str, path: str | None, chain: int) -> Report:
    """One chain, verified in a worker process: from the file at `path`, or over an engine of its own."""
    import asyncio

    from storage.db import create_engine

    if path is not None:
        return verify_chain_file(path, chain)

    async def run() -> Report:
        engine = create_engine(url)
        part = Report()
        try:
            async with engine.connect() as connection:
                head = (await connection.execute(select(ChainHead.__table__).where(ChainHead.chain == chain))).first()
                await verify_chain(connection, chain, head, part, None)
        finally:
            await engine.dispose()
        return part

    return asyncio.run(run())
