"""Tamper evidence: a per-guild, append-only hash chain over canonical digests of the provenance records.

What is chained, and when:
- a request, whenever a write touches it after it reached an end state (`delivered`, `blocked`, ...; a held
  request again when it is decided, and again when one of its messages is edited or deleted): the digest covers
  the request row, its generations, verdicts, deliveries and reviews as they are then;
- each moderation action, each erasure.

A record's digest is SHA-256 over canonical JSON of its rows, where every content field (prompts, outputs,
sentences) enters as the SHA-256 of its text. Erasure replaces the text with `erased:sha256:<that digest>`, so
the record's digest, and the chain, still verify after the content is gone (storage/erasure.py).

Hashes follow RFC 6962's domain separation: leaf = H(0x00 || canonical entry), link = H(0x01 || previous link ||
leaf), the first link's previous being 32 zero bytes. Appends lock the chain's head row, so two processes writing
at once extend a chain one after the other. `verify` walks every chain and checks each record's latest digest
against the rows as they are now.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import head_log
from storage.models import (
    ChainCheckpoint,
    ChainEntry,
    ChainHead,
    Delivery,
    Generation,
    ModerationAction,
    PolicyVersion,
    Request,
    RequestStatus,
    Review,
    Verdict,
    aware,
    utcnow,
)

GENESIS = "0" * 64
CHECKPOINT_EVERY = 1000
VERIFY_BATCH = 500
ERASED = "erased:sha256:"
NO_GUILD = 0
"""The chain of requests from outside any guild (direct messages; the terminal mode records as guild 1)."""

# Text that belongs to members or to the model: it enters a digest as its own SHA-256, so it can be erased.
CONTENT_COLUMNS: dict[str, frozenset[str]] = {
    "requests": frozenset({"prompt", "user_name"}),
    "generations": frozenset({"rendered_prompt", "raw_output", "shown_output"}),
    "verdicts": frozenset({"sentence", "explanation"}),
    "deliveries": frozenset(),
    "reviews": frozenset({"text"}),
    "story_turns": frozenset({"text", "author_name"}),  # not digested (turns are chained through their requests)
    "moderation_actions": frozenset(),
}
# Columns added after records were first chained: NULL there is left out of the digest, so the records chained
# before the column existed still verify.
ADDED_COLUMNS: dict[str, frozenset[str]] = {
    "generations": frozenset({"replicas"}),
    "requests": frozenset({"instance", "lease_id"}),
}
CONTENT_OPTIONS = frozenset({"genre", "tone"})
"""Free text members type into /write's options: part of the request's `options`, treated like content."""
CLOSED_STATUSES = tuple(status.value for status in RequestStatus if not status.is_open)


# -- digests ----------------------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def erased_marker(text: str | None) -> str | None:
    """What erased content is replaced with: it keeps the digest the chain committed to."""
    if text is None or text.startswith(ERASED):
        return text
    return ERASED + sha256(text.encode())


def content_digest(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith(ERASED):
        return value[len(ERASED) :]
    return sha256(value.encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite hands back naive UTC, PostgreSQL aware: one spelling for both
        return aware(value).astimezone(UTC).isoformat(timespec="microseconds")
    raise TypeError(f"{type(value).__name__} has no canonical form")


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8; floats as Python's shortest round-trip repr (the same 64-bit float prints
    the same from every database)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode()


def row_view(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as it enters a digest: content fields (and the free-text options) by their digest."""
    content = CONTENT_COLUMNS[table]
    added = ADDED_COLUMNS.get(table, frozenset())
    view = {
        key: content_digest(value) if key in content else value
        for key, value in row.items()
        if not (value is None and key in added)
    }
    if table == "requests" and isinstance(view.get("options"), dict):
        view["options"] = _options(view["options"], content_digest)
    return view


def erased_options(options: Any) -> Any:
    """A request's options with the member's free text erased (digests kept), the rest as it was."""
    return _options(options, erased_marker) if isinstance(options, dict) else options


def _options(options: dict[str, Any], transform: Callable[[str | None], str | None]) -> dict[str, Any]:
    return {key: transform(value) if key in CONTENT_OPTIONS and isinstance(value, str) else value for key, value in options.items()}


def record_digest(record: Any) -> str:
    return sha256(canonical(record))


def leaf_hash(kind: str, record_id: str, digest: str) -> str:
    return sha256(b"\x00" + canonical({"kind": kind, "record_id": record_id, "digest": digest}))


def link_hash(previous: str, leaf: str) -> str:
    return sha256(b"\x01" + bytes.fromhex(previous) + bytes.fromhex(leaf))


# -- records as they are in the database ------------------------------------------------------------------------


async def _rows(connection: AsyncConnection, table: Table, *where: Any, order: Iterable[Any] = ()) -> list[dict]:
    result = await connection.execute(select(table).where(*where).order_by(*order))
    return [dict(row._mapping) for row in result]


_CHILDREN: tuple[tuple[str, Table], ...] = (
    ("generations", Generation.__table__),
    ("verdicts", Verdict.__table__),
    ("deliveries", Delivery.__table__),
    ("reviews", Review.__table__),
)


async def request_children(connection: AsyncConnection, ids: list[str]) -> dict[str, dict[str, list[dict]]]:
    """The generations, verdicts, deliveries and reviews of many requests (one query per table), each list in a
    fixed order: what a request's record is made of (here for its digest, in storage/audit.py for its card)."""
    children: dict[str, dict[str, list[dict]]] = {request_id: {key: [] for key, _ in _CHILDREN} for request_id in ids}
    if not ids:
        return children
    for key, table in _CHILDREN:
        order = (table.c.request_id, table.c.attempt, table.c.id) if key == "generations" else (table.c.request_id, table.c.id)
        for row in await _rows(connection, table, table.c.request_id.in_(ids), order=order):
            children[row["request_id"]][key].append(row)
    return children


async def request_records(connection: AsyncConnection, request_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The records of many requests, as their digests see them."""
    children = await request_children(connection, [row["id"] for row in request_rows])
    return {row["id"]: record_view(row, children[row["id"]]) for row in request_rows}


def record_view(request_row: Mapping[str, Any], children: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, Any]:
    """A request's record as its digest sees it, from its row and its children's (each list in `request_children`'s
    order; a missing list is empty)."""
    record: dict[str, Any] = {"request": row_view("requests", request_row)}
    for key, table in _CHILDREN:
        record[key] = [row_view(table.name, child) for child in children.get(key, ())]
    return record


async def request_record(
    connection: AsyncConnection, request_id: str, *, closed_only: bool = False
) -> dict[str, Any] | None:
    """One request's record; None when the request is gone (or, with `closed_only`, still open)."""
    requests = await _rows(connection, Request.__table__, Request.id == request_id)
    if not requests or (closed_only and requests[0]["status"] not in CLOSED_STATUSES):
        return None
    return (await request_records(connection, requests))[request_id]


async def moderation_record(connection: AsyncConnection, action_id: str) -> dict[str, Any] | None:
    table = ModerationAction.__table__
    rows = await _rows(connection, table, table.c.id == int(action_id))
    return row_view(table.name, rows[0]) if rows else None


async def current_records(connection: AsyncConnection, kind: str, record_ids: list[str]) -> dict[str, Any]:
    """Records by id as they are now (absent ids: the rows are gone); erasure entries have no rows to compare."""
    if kind == "request":
        rows = await _rows(connection, Request.__table__, Request.id.in_(record_ids))
        return await request_records(connection, rows)
    if kind == "moderation":
        table = ModerationAction.__table__
        rows = await _rows(connection, table, table.c.id.in_([int(i) for i in record_ids]))
        return {str(row["id"]): row_view(table.name, row) for row in rows}
    return dict.fromkeys(record_ids, _UNCHECKED)


_UNCHECKED = object()


# -- appending --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
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
    chain = NO_GUILD if chain is None else chain
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
        read = await _rows(connection, Request.__table__, Request.id.in_(unknown), Request.status.in_(CLOSED_STATUSES))
        rows += read
        records.update(await request_records(connection, read))
    position = {request_id: n for n, request_id in enumerate(ids)}
    rows.sort(key=lambda row: (NO_GUILD if row["guild_id"] is None else row["guild_id"], position[row["id"]]))
    by_chain: dict[int, list[tuple[str, str, str]]] = {}
    for row in rows:  # sorted by chain: one append each, all chains in one go
        chain = NO_GUILD if row["guild_id"] is None else row["guild_id"]
        by_chain.setdefault(chain, []).append(("request", row["id"], record_digest(records[row["id"]])))
    appended = await append_chains(connection, by_chain)
    return [link for chain in sorted(appended) for link in appended[chain]]


async def chain_moderation(connection: AsyncConnection, action_id: int, guild_id: int | None) -> Link:
    record = await moderation_record(connection, str(action_id))
    return await append(connection, guild_id, "moderation", str(action_id), record_digest(record))


async def chain_fact(connection: AsyncConnection, guild_id: int | None, kind: str, record_id: str, facts: dict) -> Link:
    """Chain something that has no row of its own (an erasure: who, what, how many rows)."""
    return await append(connection, guild_id, kind, record_id, record_digest(facts))


# -- verifying --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Broken:
    chain: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"chain {self.chain}" + (f" entry {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Report:
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


async def current_heads(engine: AsyncEngine, guild_id: int | None = None) -> list[Link]:
    """Each chain's head as the database has it now (one guild's, or all), by chain."""
    query = select(ChainHead.__table__).order_by(ChainHead.chain)
    if guild_id is not None:
        query = query.where(ChainHead.chain == guild_id)
    async with engine.connect() as connection:
        return [Link(row.chain, row.seq, row.chain_hash) for row in await connection.execute(query)]


def parse_pin(text: str) -> tuple[int | None, int | None, str]:
    """`CHAIN:SEQ:HASH` (as `storyloom audit head` prints it) or a bare HASH: (chain, seq, hash); ValueError if
    neither."""
    parts = text.strip().split(":")
    chain_hash = parts[-1].lower()
    if len(chain_hash) != 64 or any(c not in "0123456789abcdef" for c in chain_hash) or len(parts) not in (1, 3):
        raise ValueError(f"{text!r} is not a chain head (CHAIN:SEQ:HASH as `storyloom audit head` prints it, or HASH)")
    if len(parts) == 1:
        return None, None, chain_hash
    try:
        chain, seq = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"{text!r}: CHAIN and SEQ are numbers") from None
    if seq < 1 or not 0 <= chain < 2**63:
        raise ValueError(f"{text!r}: SEQ starts at 1 and CHAIN is a guild id")
    return chain, seq, chain_hash


async def verify(
    engine: AsyncEngine,
    guild_id: int | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    expect: Iterable[str] = (),
    workers: int = 1,
) -> Report:
    """Walk the chains (one guild's, or all) and compare every record's latest digest with its rows now.

    `expect`: heads written down earlier (`parse_pin`): each must still be in its chain, at its place; the chain
    may have grown since. A chain cut off behind one (its newest entries deleted with their records, the head row
    put back) verifies on its own, but not against a head kept elsewhere.

    With `workers` > 1 the whole database's chains are verified in that many processes, a chain at a time each
    (chains are independent: each is a guild's); `progress` then advances by a chain's entries as it finishes.
    An in-memory SQLite database is verified in this process."""
    pins = [parse_pin(text) for text in expect]
    report = Report()
    async with engine.connect() as connection:
        heads_query = select(ChainHead.__table__)
        if guild_id is not None:
            heads_query = heads_query.where(ChainHead.chain == guild_id)
        heads = {row.chain: row for row in await connection.execute(heads_query)}
        chains = sorted(heads) if guild_id is None else [guild_id]
        if workers > 1 and len(chains) > 1 and engine.url.database not in (None, "", ":memory:"):
            await _verify_in_processes(engine, chains, workers, report, progress)
        else:
            for chain in chains:
                await _verify_chain(connection, chain, heads.get(chain), report, progress)
        await _find_unchained(connection, guild_id, report)
        await _check_policy_versions(connection, report)
        for pinned in pins:
            await _check_pin(connection, guild_id, pinned, report)
    report.broken.sort(key=lambda b: (b.chain, b.seq if b.seq is not None else float("inf")))
    return report


async def _verify_in_processes(
    engine: AsyncEngine, chains: list[int], workers: int, report: Report, progress: Callable[[int], None] | None
) -> None:
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
                await _verify_chain(connection, chain, head, part, None)
        finally:
            await engine.dispose()
        return part

    return asyncio.run(run())


async def _verify_chain(
    connection: AsyncConnection, chain: int, head: Any, report: Report, progress: Callable[[int], None] | None
) -> None:
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
                if record is _UNCHECKED:
                    continue
                report.records += 1
                if record is None:
                    report.broken.append(Broken(chain, seq, f"{kind} {record_id}: its rows were deleted"))
                elif record_digest(record) != digest:
                    report.broken.append(Broken(chain, seq, f"{kind} {record_id}: its rows were changed after entry {seq}"))


async def _check_pin(
    connection: AsyncConnection, guild_id: int | None, pinned: tuple[int | None, int | None, str], report: Report
) -> None:
    chain, seq, chain_hash = pinned
    query = select(ChainEntry.chain, ChainEntry.seq).where(ChainEntry.chain_hash == chain_hash)
    if chain is not None:
        query = query.where(ChainEntry.chain == chain, ChainEntry.seq == seq)
    elif guild_id is not None:
        query = query.where(ChainEntry.chain == guild_id)
    found = (await connection.execute(query.limit(1))).first()
    shown = head_log.pin(chain, seq, chain_hash) if chain is not None else chain_hash
    if found is not None:
        report.pinned.append(Link(found.chain, found.seq, chain_hash))
        return
    if chain is None:
        report.broken.append(Broken(guild_id or NO_GUILD, None, f"the expected head {shown} is in no chain"))
        return
    last = (await connection.execute(select(func.max(ChainEntry.seq)).where(ChainEntry.chain == chain))).scalar()
    if last is None or last < seq:
        why = f"the chain now ends at entry {last or 0}: entries were cut off"
    else:
        why = f"entry {seq} is not the one expected: the history was rewritten"
    report.broken.append(Broken(chain, seq, f"expected head {shown}: {why}"))


async def _check_policy_versions(connection: AsyncConnection, report: Report) -> None:
    """A policy hash is the SHA-256 of the policy's canonical JSON (guardrails/stack.py): each row proves itself."""
    for row in await connection.execute(select(PolicyVersion.hash, PolicyVersion.policy)):
        if sha256(canonical(row.policy)) != row.hash:
            report.broken.append(Broken(NO_GUILD, None, f"policy version {row.hash[:16]} does not match its hash"))


async def _find_unchained(connection: AsyncConnection, guild_id: int | None, report: Report) -> None:
    """Ended requests and moderation actions the chain has never seen: rows added behind its back."""
    chained = select(ChainEntry.record_id).where(ChainEntry.kind == "request")
    query = select(Request.id, Request.guild_id).where(Request.status.in_(CLOSED_STATUSES), Request.id.not_in(chained))
    if guild_id is not None:
        query = query.where(Request.guild_id == guild_id)
    for row in (await connection.execute(query.limit(20))).all():
        report.broken.append(Broken(row.guild_id or NO_GUILD, None, f"request {row.id} is not in the chain"))
    chained = select(ChainEntry.record_id).where(ChainEntry.kind == "moderation")
    action_id = func.cast(ModerationAction.id, ChainEntry.record_id.type)
    query = select(ModerationAction.id, ModerationAction.guild_id).where(action_id.not_in(chained))
    if guild_id is not None:
        query = query.where(ModerationAction.guild_id == guild_id)
    for row in (await connection.execute(query.limit(20))).all():
        report.broken.append(Broken(row.guild_id or NO_GUILD, None, f"moderation action {row.id} is not in the chain"))
