"""Appending to the chains: each entry linked to the one before it, under a lock on its chain's head row, so two
processes writing at once extend a chain one after the other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import head_log
from storage.chain.digest import GENESIS, leaf_hash, link_hash, record_digest
from storage.chain.records import CLOSED_STATUSES, moderation_record, request_record, request_records, rows_of
from storage.models import ChainCheckpoint, ChainEntry, ChainHead, Request, guild_key, utcnow

CHECKPOINT_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Link:
    """A chain's entry as a position: which chain, how far along, its link hash (a head, when it is the last)."""

    chain: int
    seq: int
    chain_hash: str


async def append(
    connection: AsyncConnection, chain: int | None, kind: str, record_id: str, digest: str
) -> Link:
    """Add an entry at the end of `chain`, inside the caller's transaction (which should already have written,
    so SQLite holds its write lock before the head is read)."""
    return (await append_many(connection, chain, [(kind, record_id, digest)]))[0]


async def append_many(
    connection: AsyncConnection, chain: int | None, entries: list[tuple[str, str, str]]
) -> list[Link]:
    """Add `(kind, record_id, digest)` entries, in order, at the end of one chain: one head read and one write each
    for entries, head and checkpoints, however many entries (the recorder chains a whole batch this way)."""
    chain = guild_key(chain)
    return (await append_chains(connection, {chain: entries}))[chain]


async def append_chains(
    connection: AsyncConnection, entries_by_chain: Mapping[int, list[tuple[str, str, str]]]
) -> dict[int, list[Link]]:
    """`append_many` on several chains at once, in the same five statements whatever the number of chains: heads
    created where missing, all read and locked in ascending chain order (one global order, so two writers that
    lock several heads cannot each wait for the other), then every entry, head and checkpoint written."""
    chains = sorted(chain for chain, entries in entries_by_chain.items() if entries)
    links: dict[int, list[Link]] = {chain: [] for chain in entries_by_chain}
    if not chains:
        return links
    head_table = ChainHead.__table__
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    else:  # pragma: no cover - other databases are not supported by the migrations either
        raise NotImplementedError(dialect)
    await connection.execute(
        upsert(head_table).on_conflict_do_nothing(), [dict(chain=chain, seq=0, chain_hash=GENESIS) for chain in chains]
    )
    heads = await connection.execute(
        select(head_table).where(head_table.c.chain.in_(chains)).order_by(head_table.c.chain).with_for_update()
    )
    now = utcnow()
    rows, checkpoints, moved = [], [], []
    for head in heads:
        seq, chained = head.seq, head.chain_hash
        for kind, record_id, digest in entries_by_chain[head.chain]:
            leaf = leaf_hash(kind, record_id, digest)
            seq, chained = seq + 1, link_hash(chained, leaf)
            rows.append(dict(chain=head.chain, seq=seq, kind=kind, record_id=record_id, record_digest=digest,
                             leaf_hash=leaf, chain_hash=chained, created_at=now))  # fmt: skip
            if seq % CHECKPOINT_EVERY == 0:
                checkpoints.append(dict(chain=head.chain, seq=seq, chain_hash=chained))
            links[head.chain].append(Link(head.chain, seq, chained))
        moved.append({"head_chain": head.chain, "seq": seq, "chain_hash": chained})
    await connection.execute(insert(ChainEntry.__table__), rows)
    await connection.execute(
        update(head_table).where(head_table.c.chain == bindparam("head_chain")).values(
            seq=bindparam("seq"), chain_hash=bindparam("chain_hash")
        ),
        moved,
    )
    if checkpoints:
        await connection.execute(insert(ChainCheckpoint.__table__), checkpoints)
    for chain in chains:  # to the file outside the database, where configured, once committed
        head_log.note(connection, links[chain][-1])
    return links


async def chain_request(connection: AsyncConnection, request_id: str) -> Link | None:
    """Chain the request as it is now, if it has ended; an open request is chained when it ends."""
    record = await request_record(connection, request_id, closed_only=True)
    if record is None:
        return None
    return await append(connection, record["request"]["guild_id"], "request", request_id, record_digest(record))


async def chain_requests(
    connection: AsyncConnection, request_ids: Iterable[str], known: Mapping[str, dict[str, Any]] | None = None
) -> list[Link]:
    """Chain each of these requests that has ended, chain by chain in ascending chain order (a request's guild;
    the order of one chain's requests is kept). A transaction holds each head it locked until it commits, so two
    writers that each lock several heads must take them in one global order, or each can wait for the other's
    (PostgreSQL's deadlock detector then aborts one of them).

    `known`: digest views of ended requests whose every row the caller wrote and still holds (the recorder's
    mirrors), exactly as they are in the database: chained without reading them back."""
    ids = list(dict.fromkeys(request_ids))
    if not ids:
        return []
    known = known or {}
    records = {request_id: known[request_id] for request_id in ids if request_id in known}
    unknown = [request_id for request_id in ids if request_id not in records]
    rows = [record["request"] for record in records.values()]
    if unknown:
        # Open requests (most of a batch while generations stream) are skipped by the query itself, and the ended
        # ones are read together: one query per table, not one request at a time.
        read = await rows_of(connection, Request.__table__, Request.id.in_(unknown), Request.status.in_(CLOSED_STATUSES))
        rows += read
        records.update(await request_records(connection, read))
    position = {request_id: n for n, request_id in enumerate(ids)}
    rows.sort(key=lambda row: (guild_key(row["guild_id"]), position[row["id"]]))
    by_chain: dict[int, list[tuple[str, str, str]]] = {}
    for row in rows:  # sorted by chain: one append each, all chains in one go
        chain = guild_key(row["guild_id"])
        by_chain.setdefault(chain, []).append(("request", row["id"], record_digest(records[row["id"]])))
    appended = await append_chains(connection, by_chain)
    return [link for chain in sorted(appended) for link in appended[chain]]


async def chain_moderation(connection: AsyncConnection, action_id: int, guild_id: int | None) -> Link:
    record = await moderation_record(connection, str(action_id))
    return await append(connection, guild_id, "moderation", str(action_id), record_digest(record))


async def chain_fact(connection: AsyncConnection, guild_id: int | None, kind: str, record_id: str, facts: dict) -> Link:
    """Chain something that has no row of its own (an erasure: who, what, how many rows)."""
    return await append(connection, guild_id, kind, record_id, record_digest(facts))
