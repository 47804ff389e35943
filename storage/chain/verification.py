"""`verify`: the chains walked, and what a walk cannot see: records never chained, policy versions that do not
match their hash, heads written down elsewhere that are no longer in place."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import head_log
from storage.chain.digest import canonical, sha256
from storage.chain.links import Link
from storage.chain.records import CLOSED_STATUSES
from storage.chain.walk import Broken, Progress, Report, sqlite_file, verify_chain, verify_chain_file, verify_in_processes
from storage.models import NO_GUILD, ChainEntry, ChainHead, ModerationAction, PolicyVersion, Request, guild_key


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
    progress: Progress | None = None,
    expect: Iterable[str] = (),
    workers: int = 1,
    reader: Literal["auto", "engine"] = "auto",
) -> Report:
    """Walk the chains (one guild's, or all) and compare every record's latest digest with its rows now.

    `expect`: heads written down earlier (`parse_pin`): each must still be in its chain, at its place; the chain
    may have grown since. A chain cut off behind one (its newest entries deleted with their records, the head row
    put back) verifies on its own, but not against a head kept elsewhere.

    With `workers` > 1 the whole database's chains are verified in that many processes, a chain at a time each
    (chains are independent: each is a guild's); `progress` then advances by a chain's entries as it finishes.
    A SQLite file is read through the standard driver (storage/chain/sqlite_records.py), in a worker thread when
    there is one process; an in-memory SQLite database through the engine, in this process. `reader="engine"`
    reads a file through the engine as well (the benchmark's baseline; the tests hold both readers to one answer)."""
    pins = [parse_pin(text) for text in expect]
    report = Report()
    async with engine.connect() as connection:
        heads_query = select(ChainHead.__table__)
        if guild_id is not None:
            heads_query = heads_query.where(ChainHead.chain == guild_id)
        heads = {row.chain: row for row in await connection.execute(heads_query)}
        chains = sorted(heads) if guild_id is None else [guild_id]
        file = sqlite_file(engine.url)
        in_memory = engine.dialect.name == "sqlite" and file is None
        path = file if reader == "auto" else None
        if workers > 1 and len(chains) > 1 and not in_memory:
            await verify_in_processes(engine, chains, workers, report, progress, path=path)
        elif path is not None:  # the file through the standard driver, in a thread: the loop stays free
            for chain in chains:
                report.add(await asyncio.to_thread(verify_chain_file, path, chain, _threadsafe(progress)))
        else:
            for chain in chains:
                await verify_chain(connection, chain, heads.get(chain), report, progress)
        await _find_unchained(connection, guild_id, report)
        await _check_policy_versions(connection, report)
        for pinned in pins:
            await _check_pin(connection, guild_id, pinned, report)
    report.broken.sort(key=lambda b: (b.chain, b.seq if b.seq is not None else float("inf")))
    return report


def _threadsafe(progress: Progress | None) -> Progress | None:
    """`progress` called from a worker thread, run on the loop that owns it."""
    if progress is None:
        return None
    loop = asyncio.get_running_loop()
    return lambda entries: loop.call_soon_threadsafe(progress, entries)


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
        report.broken.append(Broken(guild_key(guild_id), None, f"the expected head {shown} is in no chain"))
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
        report.broken.append(Broken(guild_key(row.guild_id), None, f"request {row.id} is not in the chain"))
    chained = select(ChainEntry.record_id).where(ChainEntry.kind == "moderation")
    action_id = func.cast(ModerationAction.id, ChainEntry.record_id.type)
    query = select(ModerationAction.id, ModerationAction.guild_id).where(action_id.not_in(chained))
    if guild_id is not None:
        query = query.where(ModerationAction.guild_id == guild_id)
    for row in (await connection.execute(query.limit(20))).all():
        report.broken.append(Broken(guild_key(row.guild_id), None, f"moderation action {row.id} is not in the chain"))
