"""Two bot processes writing into one database at once keep every chain consistent.

Each writer is a separate OS process (this module run as a script) with its own engine, its own Recorder (one
writer task, batched transactions) and moderation actions recorded beside it (storage.policies.record_action), all
through the product's code paths. They are started together, write many ended requests and actions into the SAME
guild's chain (and a few into another guild's and into the no-guild chain, so batches lock several chains in
varying orders), and afterwards the chains must verify, number their entries 1..N, and hold each record once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from sqlalchemy import func, select

from storage.chain import NO_GUILD, verify
from storage.db import create_engine
from storage.models import ChainEntry, ChainHead, ModerationAction, Request, RequestStatus
from storage.policies import record_action
from storage.recorder import Recorder

GUILD, OTHER_GUILD = 7, 8
REQUESTS, ACTIONS = 250, 50
ROOT = Path(__file__).resolve().parents[1]


def _guild_for(n: int) -> int | None:
    """Most requests go to GUILD; every 7th to another guild, every 11th to no guild."""
    if n % 11 == 0:
        return None
    return OTHER_GUILD if n % 7 == 0 else GUILD


# -- the writer process ------------------------------------------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()} {record.exc_text or ''}".strip())


async def _write(url: str, name: str) -> dict:
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    engine = create_engine(url)
    recorder = Recorder(engine)
    recorder.start()
    async with engine.connect():  # open a connection before the start signal
        pass
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def requests() -> None:
        for n in range(REQUESTS):
            request_id = f"{name}-{n:05d}"
            recorder.request_arrived(
                id=request_id, interface="discord", guild_id=_guild_for(n), channel_id=10, user_id=n, user_name=name,
                command="write", kind="poem", prompt=f"prompt {n} from {name}",
            )  # fmt: skip
            if n % 3 == 0:  # sometimes the request ends in a later transaction than the one it arrived in
                await recorder.flush()
            recorder.request_status(request_id, RequestStatus.DELIVERED)
            if n % 4 == 0:  # and sometimes a batch holds several, of different chains
                await recorder.flush()
        await recorder.flush()

    async def actions() -> None:
        for n in range(ACTIONS):
            await record_action(
                engine, guild_id=GUILD, channel_id=10, user_id=n, action="set_guardrails",
                details={"writer": name, "n": n},
            )  # fmt: skip

    await asyncio.gather(requests(), actions())
    await recorder.close()
    await engine.dispose()
    return {"commits": recorder.commits, "errors": errors.messages}


def _main() -> None:
    url, name = sys.argv[1:3]
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(_write(url, name))), flush=True)


# -- the test ----------------------------------------------------------------------------------------------------


async def _start_writer(url: str, name: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.test_concurrent_writers", url, name, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    ready = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    assert ready == b"ready\n", ready + await process.stderr.read()
    return process


async def test_two_processes_writing_at_once_keep_every_chain_consistent(database, database_url):
    writers = [await _start_writer(database_url, name) for name in ("a", "b")]
    for writer in writers:  # both are connected and waiting: let them go at once
        writer.stdin.write(b"go\n")
        await writer.stdin.drain()
    outcomes = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in writers)), timeout=240)
    results = []
    for writer, (stdout, stderr) in zip(writers, outcomes, strict=True):
        assert writer.returncode == 0, stderr.decode()[-3000:]
        results.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    for result in results:
        assert result["errors"] == [], result["errors"]
    assert all(result["commits"] > 10 for result in results), "each writer should commit in many transactions"

    report = await verify(database)
    assert report.intact, report.broken
    per_chain = {GUILD: 0, OTHER_GUILD: 0, NO_GUILD: 0}
    for n in range(REQUESTS):
        per_chain[_guild_for(n) or NO_GUILD] += 2  # two writers
    per_chain[GUILD] += 2 * ACTIONS
    async with database.connect() as connection:
        for chain, expected in per_chain.items():
            seqs = (
                await connection.execute(select(ChainEntry.seq).where(ChainEntry.chain == chain).order_by(ChainEntry.seq))
            ).scalars().all()
            assert seqs == list(range(1, expected + 1)), f"chain {chain}: gaps or duplicates"
            distinct = (
                await connection.execute(
                    select(func.count()).select_from(
                        select(ChainEntry.kind, ChainEntry.record_id).where(ChainEntry.chain == chain).distinct().subquery()
                    )
                )
            ).scalar_one()
            assert distinct == expected, f"chain {chain}: a record chained twice, or one missing"
            head = (await connection.execute(select(ChainHead.seq).where(ChainHead.chain == chain))).scalar_one()
            assert head == expected
        requests = (await connection.execute(select(func.count()).select_from(Request))).scalar_one()
        delivered = (
            await connection.execute(select(func.count()).where(Request.status == RequestStatus.DELIVERED))
        ).scalar_one()
        actions = (await connection.execute(select(func.count()).select_from(ModerationAction))).scalar_one()
    assert requests == delivered == 2 * REQUESTS and actions == 2 * ACTIONS
    assert report.entries == report.records == sum(per_chain.values())


if __name__ == "__main__":
    _main()
