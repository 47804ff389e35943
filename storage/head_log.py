"""Chain heads kept outside the database: each new head appended to a file (`STORYLOOM_CHAIN_HEAD_LOG`).

The hash chain shows any change inside its history, but not its end being cut off: someone who deletes the newest
requests together with their chain entries and puts the head row back leaves a shorter chain that verifies. A head
written somewhere else when it was made (this file, best on another machine or an append-only mount) is what such a
cut is checked against: `storyloom audit verify --expect-head CHAIN:SEQ:HASH`, or `--expect-heads-from FILE` for the
last head of every chain in this file (docs/provenance-heads.md).

Appends (storage/chain/links.py) note the head they made on their connection; the head is written once that transaction
has committed and the connection goes back to the pool; a rolled back transaction writes nothing. One JSON object
per line: `{"at": ..., "chain": 7, "seq": 42, "head": "…", "pin": "7:42:…"}`; several processes may append to one
file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from storage.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from storage.chain import Link

log = logging.getLogger(__name__)

_PENDING = "storyloom.chain_heads.pending"
_COMMITTED = "storyloom.chain_heads.committed"
_ATTACHED = "storyloom_head_log"


def pin(chain: int, seq: int, chain_hash: str) -> str:
    """How a head is written down and given back to `audit verify --expect-head`."""
    return f"{chain}:{seq}:{chain_hash}"


def note(connection: AsyncConnection, link: Link) -> None:
    """Remember the head an append made, for the file, once its transaction commits (no-op without a file)."""
    if getattr(connection.sync_engine, _ATTACHED, None) is None:
        return
    connection.sync_connection.info.setdefault(_PENDING, {})[link.chain] = link


def attach(engine: AsyncEngine, path: Path) -> None:
    """Append every head this engine's transactions commit to `path` (created, with its folder, if missing)."""
    sync = engine.sync_engine
    if getattr(sync, _ATTACHED, None) is not None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    setattr(sync, _ATTACHED, path)

    @event.listens_for(sync, "commit")
    def _committing(connection: Any) -> None:
        pending = connection.info.pop(_PENDING, None)
        if pending:
            connection.info.setdefault(_COMMITTED, {}).update(pending)

    @event.listens_for(sync, "rollback")
    def _rolled_back(connection: Any) -> None:
        connection.info.pop(_PENDING, None)

    @event.listens_for(sync, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        committed = record.info.pop(_COMMITTED, None)
        record.info.pop(_PENDING, None)  # never committed
        if committed:
            write(path, committed.values())


def write(path: Path, links: Any) -> None:
    at = utcnow().isoformat()
    lines = "".join(
        json.dumps({"at": at, "chain": link.chain, "seq": link.seq, "head": link.chain_hash,
                    "pin": pin(link.chain, link.seq, link.chain_hash)}) + "\n"  # fmt: skip
        for link in sorted(links, key=lambda link: link.chain)
    )
    try:  # O_APPEND: each write lands whole at the end, whichever process writes
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, lines.encode())
        finally:
            os.close(descriptor)
    except OSError as error:  # the record itself is committed; a missing head line is logged, not fatal
        log.error("could not append chain heads to %s: %s", path, error)


def last_heads(path: Path) -> dict[int, str]:
    """The last head of each chain in a head log: chain → pin."""
    heads: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            heads[int(entry["chain"])] = pin(int(entry["chain"]), int(entry["seq"]), str(entry["head"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a head line ({error})") from None
    return heads
