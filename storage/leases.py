"""Instance leases: which bot processes sharing a database are alive, so that requests left open are closed
(`interrupted`) only once the very process that took them is gone.

A name (`STORYLOOM_INSTANCE`, default `main` or `shards-<ids>`) is not enough: two `storyloom local` processes
with default settings share it, and the second one starting used to close the first one's live request. So each
process takes a lease with an id of its own (a random one), stamps it on every request it records
(`requests.lease_id`), renews it every `RENEW_S` and deletes it on a clean stop. A lease is dead when

- it was not renewed within `TTL_S` (a process on another machine, or one frozen that long), or
- its process is gone from this machine: same boot and PID namespace, and no process with that pid and start time
  (a SIGKILLed process's restart closes its leftovers at once, without waiting for the TTL).

The name still scopes who closes what: a process closes only requests of its own name (sharding: a shard's process
leaves the other shards' requests to them), and only those whose lease is dead or gone; requests from before
leases existed (no lease id) are closed by a process of their name starting, as before.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import InstanceLease, Request, RequestStatus, aware, utcnow

log = logging.getLogger(__name__)

RENEW_S = 15.0
"""How often a running process renews its lease."""
TTL_S = 120.0
"""A lease not renewed for this long is dead: eight missed renewals, so a busy machine is not taken for a dead one."""
OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.GENERATING)


@cache
def machine_key() -> str:
    """What makes pids comparable: the kernel's boot id and this process's PID namespace (Linux); elsewhere the
    host name alone is not trusted, so only the TTL applies."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return "unknown:" + uuid.uuid4().hex  # never equal to another process's: no pid checks
    return f"{boot}/{namespace}"[:200]


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None where it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


def process_alive(pid: int, started: str | None) -> bool:
    """Whether the process that took a lease on this machine still runs (not merely something with its pid)."""
    now_started = process_start(pid)
    if now_started is not None:
        return started is None or now_started == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return not Path("/proc").is_dir()  # /proc exists but the pid is not in it: gone


@dataclass(slots=True)
class Lease:
    id: str
    instance: str


async def acquire(engine: AsyncEngine, instance: str) -> Lease:
    lease = Lease(uuid.uuid4().hex, instance)
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            insert(InstanceLease).values(
                id=lease.id, instance=instance, host=socket.gethostname()[:255], machine=machine_key(),
                pid=os.getpid(), process_start=process_start(os.getpid()), started_at=now, renewed_at=now,
            )
        )  # fmt: skip
    return lease


async def renew(engine: AsyncEngine, lease: Lease) -> None:
    """Renew; a lease deleted meanwhile (this process was frozen past the TTL and taken for dead) is taken again."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(InstanceLease).where(InstanceLease.id == lease.id).values(renewed_at=utcnow())
        )
        if result.rowcount == 0:
            log.warning("instance lease %s had lapsed (this process was taken for dead); taking it again", lease.id)
            now = utcnow()
            await connection.execute(
                insert(InstanceLease).values(
                    id=lease.id, instance=lease.instance, host=socket.gethostname()[:255], machine=machine_key(),
                    pid=os.getpid(), process_start=process_start(os.getpid()), started_at=now, renewed_at=now,
                )
            )  # fmt: skip


async def release(engine: AsyncEngine, lease: Lease) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(InstanceLease).where(InstanceLease.id == lease.id))


async def dead_leases(
    connection: AsyncConnection, instance: str | None = None, *, exclude: str | None = None
) -> list[str]:
    """The ids of leases (of `instance`, or all) whose process is gone (see the module's docstring)."""
    cutoff = utcnow() - timedelta(seconds=TTL_S)
    here = machine_key()
    dead = []
    query = select(InstanceLease.__table__)
    if instance is not None:
        query = query.where(InstanceLease.instance == instance)
    for row in await connection.execute(query):
        if row.id == exclude:
            continue
        if aware(row.renewed_at) < cutoff or (row.machine == here and not process_alive(row.pid, row.process_start)):
            dead.append(row.id)
    return dead


async def orphaned_requests(
    connection: AsyncConnection, instance: str | None, lease: Lease | None, *, at_start: bool
) -> tuple[list[str], list[str]]:
    """(open requests whose process is gone, dead leases to delete with them).

    `instance` None: every open request (a single process, or an operator's repair). At start, also requests of
    this name from before leases (no lease id) and those whose lease row is gone (a clean stop that could not close
    them); later passes look only at leases that died."""
    own = lease.id if lease is not None else None
    dead = await dead_leases(connection, instance, exclude=own)
    query = select(Request.id).where(Request.status.in_(OPEN_STATUSES))
    if instance is None:
        if own is not None:
            query = query.where(or_(Request.lease_id.is_(None), Request.lease_id != own))
        return list((await connection.execute(query)).scalars()), dead
    query = query.where(or_(Request.instance == instance, Request.instance.is_(None)))
    if at_start:  # (the other names' leases are live or not: their requests are theirs)
        live = select(InstanceLease.id).where(InstanceLease.id.not_in(dead)) if dead else select(InstanceLease.id)
        query = query.where(or_(Request.lease_id.is_(None), Request.lease_id.not_in(live)))
    elif dead:
        query = query.where(Request.lease_id.in_(dead))
    else:
        return [], []
    return list((await connection.execute(query)).scalars()), dead
