"""Walking one chain: every link recomputed, every record's latest digest compared with its rows now; several
chains at once in worker processes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.chain.digest import GENESIS, leaf_hash, link_hash, record_digest
from storage.chain.links import Link
from storage.chain.records import UNCHECKED, current_records
from storage.models import ChainCheckpoint, ChainEntry, ChainHead

VERIFY_BATCH = 500


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


async def verify_in_processes(
    engine: AsyncEngine, chains: list[int], workers: int, report: Report, progress: Callable[[int], None] | None
) -> None:
    """`verify_chain` on each of `chains` in a pool of worker processes, each part added to `report` as it ends."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    url = engine.url.render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    # spawn: a fork would copy this process's event loop and open connections into the workers
    with ProcessPoolExecutor(min(workers, len(chains)), mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = [loop.run_in_executor(pool, _verify_chain_in_process, url, chain) for chain in chains]
        for done in asyncio.as_completed(pending):
            part = await done
            report.chains += part.chains
            report.entries += part.entries
            report.records += part.records
            report.broken.extend(part.broken)
            report.heads.update(part.heads)
            if progress is not None:
                progress(part.entries)


def _verify_chain_in_process(url: str, chain: int) -> Report:
    """One chain, verified in a worker process over its own engine."""
    import asyncio

    from storage.db import create_engine

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


async def verify_chain(
    connection: AsyncConnection, chain: int, head: Any, report: Report, progress: Callable[[int], None] | None
) -> None:
    """Check one chain's links, checkpoints and head row (`head`), then its records' latest digests, into `report`."""
    report.chains += 1
    previous, expected_seq = GENESIS, 1
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    checkpoints = {
        row.seq: row.chain_hash
        for row in await connection.execute(select(ChainCheckpoint.__table__).where(ChainCheckpoint.chain == chain))
    }
    stream = await connection.stream(
        select(ChainEntry.__table__).where(ChainEntry.chain == chain).order_by(ChainEntry.seq)
    )
    async for entry in stream:
        report.entries += 1
        if progress is not None:
            progress(1)
        if entry.seq != expected_seq:
            report.broken.append(Broken(chain, expected_seq, f"entry missing (the next one found is {entry.seq})"))
            return
        if entry.leaf_hash != leaf_hash(entry.kind, entry.record_id, entry.record_digest):
            report.broken.append(Broken(chain, entry.seq, f"{entry.kind} {entry.record_id}: entry altered (leaf hash)"))
            return
        if entry.chain_hash != link_hash(previous, entry.leaf_hash):
            report.broken.append(Broken(chain, entry.seq, "link hash does not follow from the previous entry"))
            return
        if entry.seq in checkpoints and checkpoints[entry.seq] != entry.chain_hash:
            report.broken.append(Broken(chain, entry.seq, "differs from the checkpoint taken at this entry"))
            return
        previous, expected_seq = entry.chain_hash, expected_seq + 1
        latest[(entry.kind, entry.record_id)] = (entry.seq, entry.record_digest)
    last_seq = expected_seq - 1
    if head is None and last_seq == 0:
        report.chains -= 1  # a guild that never had a record: nothing to check, nothing broken
        return
    if head is None or (head.seq, head.chain_hash) != (last_seq, previous):
        report.broken.append(Broken(chain, last_seq + 1, "entries after this point were removed (head mismatch)"))
        return
    report.heads[chain] = Link(chain, last_seq, previous)
    by_kind: dict[str, list[tuple[str, int, str]]] = {}
    for (kind, record_id), (seq, digest) in latest.items():
        by_kind.setdefault(kind, []).append((record_id, seq, digest))
    for kind, expected in by_kind.items():
        for start in range(0, len(expected), VERIFY_BATCH):
            batch = expected[start : start + VERIFY_BATCH]
            records = await current_records(connection, kind, [record_id for record_id, _, _ in batch])
            for record_id, seq, digest in batch:
                record = records.get(record_id)
                if record is UNCHECKED:
                    continue
                report.records += 1
                if record is None:
                    report.broken.append(Broken(chain, seq, f"{kind} {record_id}: its rows were deleted"))
                elif record_digest(record) != digest:
                    report.broken.append(Broken(chain, seq, f"{kind} {record_id}: its rows were changed after entry {seq}"))

