"""Two bot processes of one name on one database: the second starting must not close the first one's live requests
(`interrupted`); a process that is really gone (killed, or silent past its lease's time) has its requests closed."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from storage.db import mark_interrupted
from storage.leases import TTL_S
from storage.models import InstanceLease, Request, utcnow
from tests.test_pipeline import make_core  # noqa: F401 - fixture


def open_request(core, request_id: str) -> None:
    core.recorder.request_arrived(id=request_id, interface="local", guild_id=1, channel_id=None, user_id=3,
                                  user_name="ada", command="write", kind="poem", prompt="x", status="generating")  # fmt: skip


async def statuses(core) -> dict[str, str]:
    await core.recorder.flush()
    async with core.database.connect() as connection:
        return dict((await connection.execute(select(Request.id, Request.status))).all())


async def test_a_second_process_with_the_default_name_leaves_the_first_ones_live_request_open(
    make_core, openai_server, database_url
):
    first = await make_core(openai_server, database_url=database_url)
    open_request(first, "live")
    await first.recorder.flush()
    second = await make_core(openai_server, database_url=database_url)  # `echo /audit stats | storyloom local`
    assert first.settings.effective_instance == second.settings.effective_instance == "main"
    assert first.lease.id != second.lease.id
    assert await statuses(second) == {"live": "generating"}
    assert await mark_interrupted(second.database, "main", second.lease, at_start=False) == 0


async def test_a_process_gone_from_this_machine_has_its_requests_closed_by_the_next_start(
    make_core, openai_server, database_url
):
    # A real process takes a lease, opens a request, and dies without a word (as SIGKILL leaves it).
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from storage.db import create_engine, upgrade
        from storage.leases import acquire
        from storage.recorder import Recorder

        async def main():
            engine = create_engine({database_url!r})
            await upgrade(engine)
            lease = await acquire(engine, "main")
            recorder = Recorder(engine, instance="main", lease_id=lease.id)
            recorder.start()
            recorder.request_arrived(id="left", interface="local", guild_id=1, channel_id=None, user_id=3,
                                     user_name="ada", command="write", kind="poem", prompt="x", status="generating")
            await recorder.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    died = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True, text=True, timeout=120)
    assert died.returncode == -9, died.stderr[-2000:]
    core = await make_core(openai_server, database_url=database_url)
    assert await statuses(core) == {"left": "interrupted"}
    async with core.database.connect() as connection:
        assert (await connection.execute(select(InstanceLease.id))).scalars().all() == [core.lease.id]


async def test_a_lease_not_renewed_within_its_time_is_dead_and_the_others_close_its_requests(
    make_core, openai_server, database_url
):
    frozen = await make_core(openai_server, database_url=database_url)
    open_request(frozen, "stalled")
    await frozen.recorder.flush()
    frozen._lease_task.cancel()  # it stops renewing (a machine lost, a process frozen)
    other = await make_core(openai_server, database_url=database_url)
    assert await statuses(other) == {"stalled": "generating"}, "alive until its lease runs out"
    async with other.database.begin() as connection:
        await connection.execute(
            update(InstanceLease)
            .where(InstanceLease.id == frozen.lease.id)
            .values(renewed_at=utcnow() - timedelta(seconds=TTL_S + 1))
        )
    assert await mark_interrupted(other.database, "main", other.lease, at_start=False) == 1  # the periodic pass
    assert await statuses(other) == {"stalled": "interrupted"}


async def test_other_names_requests_are_left_to_their_own_processes(make_core, openai_server, database_url):
    shard_1 = await make_core(openai_server, database_url=database_url, instance="shards-1")
    open_request(shard_1, "theirs")
    await shard_1.recorder.flush()
    await shard_1.close()  # gone, but not of this name: its own restart closes it
    main = await make_core(openai_server, database_url=database_url)
    assert await statuses(main) == {"theirs": "generating"}
    restarted = await make_core(openai_server, database_url=database_url, instance="shards-1")
    assert await statuses(restarted) == {"theirs": "interrupted"}


@pytest.mark.slow
async def test_two_terminal_processes_with_default_settings_on_one_database(tmp_path, openai_server):
    """The report's case: a long `/write` in one `storyloom local`, `echo /audit stats | storyloom local` beside it on
    the same database. The second must not mark the first one's live request interrupted; the first delivers, and
    the record says only that."""
    from tests.test_faults import local_env
    from tests.test_pipeline import BENIGN

    openai_server.scripted_reply, openai_server.token_delay_s = " ".join([BENIGN] * 3), 0.1
    env = local_env(tmp_path, openai_server)
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "local", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        first.stdin.write(b"/write story about a lighthouse keeper\n")
        await first.stdin.drain()
        shown = ""
        while "He trimmed the wick" not in shown:  # generating now
            shown += (await asyncio.wait_for(first.stdout.read(256), 90)).decode()
        openai_server.token_delay_s = 1.0  # the first one stays mid-generation while the second starts and answers
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli.main", "local", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, beside = await asyncio.wait_for(second.communicate(b"/audit stats\n"), 120)
        assert second.returncode == 0, beside.decode()[-3000:]
        assert "as interrupted" not in beside.decode()
        with sqlite3.connect(tmp_path / "storyloom.sqlite3") as connection:
            [(status,)] = connection.execute("SELECT status FROM requests WHERE command = 'write'").fetchall()
        assert status == "generating", "the live request was left alone"
        openai_server.token_delay_s = 0.005
        first.stdin.close()
        out, _ = await asyncio.wait_for(first.communicate(), 120)
        assert "[delivered]" in shown + out.decode()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as connection:
        rows = connection.execute("SELECT status, coalesce(status_reason, '') FROM requests WHERE command = 'write'").fetchall()
    assert rows == [("delivered", "")]
