"""The fault matrix: each fault made for real under a running bot, and what must hold after every one of them.

| fault                              | how the test makes it                                                         |
|------------------------------------|-------------------------------------------------------------------------------|
| engine answers 5xx                 | the loopback OpenAI server answers 500                                        |
| engine times out                   | the server hangs longer than the engine's read timeout                        |
| engine dies mid-stream             | the server aborts the TCP connection after some text was shown               |
| engine is slow                     | 0.12 s between tokens                                                         |
| engine process killed mid-stream   | the server runs in its own process and gets SIGKILL; then it is started again |
| database locked                    | another process holds `BEGIN EXCLUSIVE` on the SQLite file                    |
| database read-only                 | the pool reopens its connections read-only (`query_only`; root ignores chmod) |
| database out of space              | the pool reopens its connections with `max_page_count` = the file's size      |
| a long database outage             | 200 requests recorded against a read-only file, with room for 50             |
| gateway socket drops mid-stream    | the fake Discord closes the websocket (4000); a /write arrives meanwhile      |
| storm of 429s                      | the fake Discord answers 429 (retry_after) to 12 webhook calls and 3 acks    |
| Discord bot crashed mid-stream     | a new bot starts on a copy of the SQLite file taken while a /write streamed  |
| bot SIGKILLed mid-generation       | a real `storyloom local` process is killed while it streams, then restarted  |
| metrics port taken                 | a socket listens on the port a real `storyloom local` is configured with     |
| terminal reader leaves mid-stream  | `storyloom local`'s stdout is a pipe whose read end closes while it streams  |

After each: every request ended in a terminal status (a restart marks orphans `interrupted`), no text was shown
without its verdict rows on disk (`assert_shown_text_was_judged`), the member was told what happened, and the next
request is served. The rule behind "no text without its verdict rows" (bot/core/recording.py `RequestRecord.committed`): text is
shown only once its rows are committed; while the database refuses writes they wait in memory and the member is
told that nothing can be written now.

The operator's own mistakes before anything runs (a bad setting, no database for the audit tools, an export to a
missing folder, `| head` on an audit command) are in tests/test_misuse.py: one line, exit 2, nothing created.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select

from bot.config import Settings
from bot.core.app import Core
from bot.core.streaming import SentenceChunker
from bot.discord.bot import StoryloomBot
from bot.engines.openai_engine import OpenAIEngine
from bot.metrics import MetricsServer
from storage.models import Delivery, Request, Verdict
from storage.recorder import Recorder
from tests.fakediscord import FAST_CLIENT_OPTIONS, FakeDiscord, InteractionRecord
from tests.plugins.bot import REQUEST_ID

REPO = Path(__file__).resolve().parent.parent
BENIGN = (
    "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass. "
    "Far out, a fishing boat turned toward the light. He watched it until it reached the harbour."
)
TERMINAL = {"delivered", "blocked", "rejected", "failed", "held", "interrupted"}
PASSING = {"pass", "flag"}
ENGINE_DOWN = "The writing engine is not answering right now."
NO_RECORDS = "I can't save my records right now"


# -- the running bot and what must hold after every fault ---------------------------------------------------------


@asynccontextmanager
async def running_bot(
    tmp_path: Path, fake: FakeDiscord, rails, urls: list[str], *, read_timeout_s: float = 5.0
) -> AsyncIterator[Core]:
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=urls, stream_edit_interval_s=0.2, rate_limit_per_minute=100
    )
    # A short read timeout and cool-off keep the timeout case and the recovery after a dead replica quick.
    engine = OpenAIEngine(urls, settings.model, read_timeout_s=read_timeout_s, cooloff_s=0.2, health_interval_s=0)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=rails)
    core.pipeline.record_wait_s = 2.0  # how long text may wait for its rows before the request fails instead
    try:
        async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
            yield core
    finally:
        await core.close()
        await engine.close()


def answered(record: InteractionRecord) -> bool:
    """The member has an outcome: a delivered piece or a private note, each naming its request."""
    return any(REQUEST_ID.search(message.content) for message in record.messages)


async def write(fake: FakeDiscord, about: str = "a lighthouse keeper", *, user=None, timeout: float = 20) -> InteractionRecord:
    record = await fake.slash("write", {"kind": "story", "about": about}, user=user or fake.alice)
    return await record.wait_done(answered, timeout=timeout)


def request_of(record: InteractionRecord) -> str:
    [request_id] = {match.group(1) for w in record.writes if (match := REQUEST_ID.search(w.content or ""))}
    return request_id


def notice(record: InteractionRecord) -> str:
    return "\n".join(message.content for message in record.messages if message.ephemeral)


def judged_chunks(shown: str) -> int:
    """How many of the output rails' chunks a shown text holds: the stream cursor, a preview's cut and the
    small-print lines (disclosure, fact checks) are not model text."""
    text = shown.removesuffix(" ▌").removesuffix("…")
    text = "\n".join(line for line in text.split("\n") if not line.startswith("-# "))
    chunker = SentenceChunker()
    return len(chunker.feed(text)) + (1 if chunker.rest().strip() else 0)


@dataclass
class Ended:
    status: str
    reason: str | None


async def settle(core: Core, fake: FakeDiscord, records: list[InteractionRecord]) -> list[Ended]:
    """Wait for every request to end, then check the invariants and return how each interaction's request ended."""
    while core.pipeline.open_requests:
        await asyncio.sleep(0.01)
    await core.recorder.flush()
    async with core.database.connect() as connection:
        requests = {row.id: row for row in (await connection.execute(select(Request.id, Request.status, Request.status_reason)))}
        verdicts = (
            await connection.execute(
                select(Verdict.request_id, Verdict.rail, Verdict.decision, Verdict.chunk_index).where(Verdict.stage == "output")
            )
        ).all()
    assert {row.status for row in requests.values()} <= TERMINAL, "a request was left open"
    assert_shown_text_was_judged(core, fake, records, verdicts)
    return [Ended(requests[request_of(r)].status, requests[request_of(r)].status_reason) for r in records]


def assert_shown_text_was_judged(core: Core, fake: FakeDiscord, records: list[InteractionRecord], verdicts) -> None:
    """Every text Discord received (each streamed edit, each delivered part) is made of chunks that every output rail
    passed, by verdict rows stored for that request."""
    output_rails = {rail.name for rail in core.rails.output_rails}
    if core.rails.language is not None:  # the language every output rail reads, checked first (guardrails/rails/language.py)
        output_rails.add(core.rails.language.name)
    for record in records:
        request_id = request_of(record)
        rails_passing: dict[int, set[str]] = {}
        for row in verdicts:
            if row.request_id == request_id and row.decision in PASSING:
                rails_passing.setdefault(row.chunk_index, set()).add(row.rail)
        for write in record.writes:
            if not write.content or fake.messages[write.message_id].ephemeral:
                continue  # private notes carry no model text
            for index in range(judged_chunks(write.content)):
                assert rails_passing.get(index) == output_rails, (
                    f"shown without its verdicts (chunk {index} of request {request_id}): {write.content!r}"
                )


async def served_again(fake: FakeDiscord, core: Core) -> None:
    """The bot keeps serving: a plain /write is delivered and recorded."""
    record = await write(fake, "a quiet harbour", user=fake.mod)
    [ended] = await settle(core, fake, [record])
    assert ended.status == "delivered" and BENIGN in record.original.content


# -- the engine ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, knobs, status, told",
    [
        ("5xx", {"fail_status": 500}, "failed", ENGINE_DOWN),
        ("timeout", {"hang_s": 3.0}, "failed", ENGINE_DOWN),
        ("dies mid-stream", {"drop_after_tokens": 22, "token_delay_s": 0.06}, "failed", ENGINE_DOWN),
        ("slow", {"token_delay_s": 0.12}, "delivered", ""),
    ],
    ids=["5xx", "timeout", "dies-mid-stream", "slow"],
)
async def test_engine_faults(tmp_path, fake_discord, default_rails, openai_server, fault, knobs, status, told):
    fake, server = fake_discord, openai_server
    server.scripted_reply = BENIGN
    async with running_bot(tmp_path, fake, default_rails, [server.base_url], read_timeout_s=0.5) as core:
        for knob, value in knobs.items():
            setattr(server, knob, value)
        record = await write(fake)
        [ended] = await settle(core, fake, [record])
        assert ended.status == status, ended
        assert record.callback.delay < 1.0  # deferred at once, whatever the engine does
        if status == "failed":
            assert ended.reason.startswith("engine") and told in notice(record)
        if fault == "dies mid-stream":  # text was shown, then withdrawn: a partial story is not delivered
            assert any(judged_chunks(w.content) for w in record.edits) and record.original.deleted
        if fault == "slow":  # it streamed in several edits, each only checked text
            assert len([w for w in record.edits if w.content.endswith("▌")]) >= 3
        for knob in knobs:
            setattr(server, knob, getattr(type(server), knob))
        await served_again(fake, core)
    fake.assert_clean()


SERVE_ONE_REPLICA = """
import asyncio, sys
from aiohttp import web
from tests.fake_openai import FakeOpenAIServer

listen = web.TCPSite  # on the port asked for (0: any): a replica that comes back keeps its address
web.TCPSite = lambda runner, host, port, **options: listen(runner, host, int(sys.argv[3]), **options)

async def main():
    server = FakeOpenAIServer(scripted_reply=sys.argv[1], token_delay_s=float(sys.argv[2]))
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def engine_process(token_delay_s: float, port: int = 0) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE_ONE_REPLICA, BENIGN, str(token_delay_s), str(port),
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, int(line)


async def test_engine_process_killed_mid_stream_then_started_again(tmp_path, fake_discord, default_rails):
    fake = fake_discord
    process, port = await engine_process(token_delay_s=0.08)
    try:
        async with running_bot(tmp_path, fake, default_rails, [f"http://127.0.0.1:{port}/v1"]) as core:
            record = await fake.slash("write", {"kind": "story", "about": "a lighthouse keeper"}, user=fake.alice)
            await record.wait_for(lambda r: any(judged_chunks(w.content) for w in r.edits), timeout=10)
            process.kill()  # SIGKILL: the socket is closed by the kernel mid-reply
            await process.wait()
            await record.wait_done(answered, timeout=10)
            [ended] = await settle(core, fake, [record])
            assert ended.status == "failed" and ended.reason.startswith("engine") and ENGINE_DOWN in notice(record)
            assert record.original.deleted  # the half-shown story was withdrawn

            process, _ = await engine_process(token_delay_s=0.005, port=port)  # the replica comes back
            await served_again(fake, core)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    fake.assert_clean()


# -- the database --------------------------------------------------------------------------------------------------


async def test_database_locked_by_another_process_delays_the_text_never_shows_it_unrecorded(
    tmp_path, fake_discord, default_rails, openai_server
):
    """A lock shorter than SQLite's busy timeout (30 s) is waited out: the member sees the text once its verdicts
    are committed, after the lock is gone, and nothing fails."""
    fake, server = fake_discord, openai_server
    server.scripted_reply = BENIGN
    async with running_bot(tmp_path, fake, default_rails, [server.base_url]) as core:
        core.pipeline.record_wait_s = 15.0
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(2.5)\n"
            "print(time.monotonic(), flush=True); db.execute('COMMIT')\n",  # CLOCK_MONOTONIC: one clock for all
            str(tmp_path / "storyloom.sqlite3"), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert await asyncio.wait_for(holder.stdout.readline(), 10) == b"locked\n"
        record = await fake.slash("write", {"kind": "story", "about": "a lighthouse keeper"}, user=fake.alice)
        released = float(await asyncio.wait_for(holder.stdout.readline(), 10))  # the lock was held until then
        await holder.wait()
        await record.wait_done(answered, timeout=20)
        [ended] = await settle(core, fake, [record])
        assert ended.status == "delivered" and record.callback.delay < 1.0
        text_writes = [w for w in record.writes if judged_chunks(w.content)]
        assert text_writes and all(w.at >= released for w in text_writes), "text shown while its rows waited"
        assert core.recorder.write_failures == 0 and core.recorder.rows_dropped == 0  # waited out, not failed
        await served_again(fake, core)
    fake.assert_clean()


@asynccontextmanager
async def database_fault(core: Core, kind: str) -> AsyncIterator[None]:
    """Every connection the pool opens from now on cannot write (`read-only`) or cannot grow the file (`full`)."""

    def on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
        cursor = dbapi_connection.cursor()
        if kind == "read-only":
            cursor.execute("PRAGMA query_only = ON")  # writes fail: "attempt to write a readonly database"
        else:
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {pages}")  # a write needing a page: "database or disk is full"
        cursor.close()

    sync_engine = core.database.sync_engine
    event.listen(sync_engine, "connect", on_connect)
    await core.database.dispose()  # reopen: the pooled connections were opened before the fault
    try:
        yield
    finally:
        event.remove(sync_engine, "connect", on_connect)
        await core.database.dispose()


@pytest.mark.parametrize("kind", ["read-only", "full"])
async def test_database_that_refuses_writes(tmp_path, fake_discord, default_rails, openai_server, kind):
    """The rule: nothing is shown before its verdict rows are committed. While the database refuses writes the rows
    wait in memory (retried with backoff); the request in flight fails after `record_wait_s` with a clear message,
    new ones are refused at once, `/ready` answers 503; once the database takes writes again every waiting row is
    written and the bot serves."""
    fake, server = fake_discord, openai_server
    # Long enough that its rows need new pages (the "full" case) and stream past the first edit.
    server.scripted_reply = " ".join([BENIGN] * 12)
    async with running_bot(tmp_path, fake, default_rails, [server.base_url]) as core:
        await served_again(fake, core)  # the file exists with its tables before the fault
        metrics = MetricsServer("127.0.0.1", 0, core.readiness)
        await metrics.start()
        try:
            async with database_fault(core, kind):
                in_flight = await write(fake)
                assert not core.recorder.healthy and core.recorder.last_error
                async with httpx.AsyncClient() as client:
                    ready = await client.get(f"{metrics.url}/ready")
                assert ready.status_code == 503 and ready.json()["checks"]["records"] is False
                refused = await write(fake, "a second lighthouse", user=fake.mod)
                assert NO_RECORDS in notice(in_flight) and NO_RECORDS in notice(refused)
                # /continue reads the member's last piece once the records are flushed: told, not left waiting
                continuing = await fake.slash("continue", {}, user=fake.mod)
                await continuing.wait_done(lambda r: any(NO_RECORDS in m.content for m in r.messages), timeout=10)
            await fake.wait_for(lambda: core.recorder.healthy, timeout=10)  # the waiting rows are written
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{metrics.url}/ready")).status_code == 200
        finally:
            await metrics.close()
        ended = await settle(core, fake, [in_flight, refused])
        assert [(e.status, e.reason) for e in ended] == [("failed", "records unavailable"), ("rejected", "records_unavailable")]
        assert core.recorder.rows_dropped == 0 and core.recorder.write_failures > 0
        await served_again(fake, core)
    fake.assert_clean()


async def test_recorder_memory_is_bounded_and_close_gives_up_on_a_dead_database(sqlite_database):
    """Through a long outage the waiting rows stop growing at `max_backlog` (the excess counted, logged), and a
    shutdown does not hang on a database that never comes back."""

    def read_only(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    event.listen(sqlite_database.sync_engine, "connect", read_only)
    await sqlite_database.dispose()
    recorder = Recorder(sqlite_database, max_backlog=50, retry_max_s=0.05)
    recorder.start()
    for index in range(200):
        recorder.request_arrived(id=f"r{index}", interface="local", user_id=1, user_name="ada", command="write")
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    assert not recorder.healthy and "readonly" in recorder.last_error
    assert recorder.backlog <= 50 and recorder.rows_dropped >= 200 - 50 - 1  # one batch is in the writer's hands
    started = time.monotonic()
    await recorder.close(timeout_s=0.5)
    assert time.monotonic() - started < 2.0 and recorder.rows_dropped == 200


# -- Discord -------------------------------------------------------------------------------------------------------


async def test_gateway_socket_drops_mid_stream(tmp_path, fake_discord, default_rails, openai_server):
    """The stream goes on over REST; an interaction sent while the socket is down arrives on RESUME, in time."""
    fake, server = fake_discord, openai_server
    server.scripted_reply, server.token_delay_s = BENIGN, 0.05
    async with running_bot(tmp_path, fake, default_rails, [server.base_url]) as core:
        streaming = await fake.slash("write", {"kind": "story", "about": "a lighthouse keeper"}, user=fake.alice)
        await streaming.wait_for(lambda r: any(judged_chunks(w.content) for w in r.edits), timeout=10)
        await fake.drop_socket(wait=False)
        while_down = await fake.slash("write", {"kind": "poem", "about": "the night shift"}, user=fake.mod)
        await fake.wait_for(lambda: fake.gateway.resumes == 1, timeout=10)
        for record in (streaming, while_down):
            await record.wait_done(answered, timeout=20)
        ended = await settle(core, fake, [streaming, while_down])
        assert [e.status for e in ended] == ["delivered", "delivered"]
        assert while_down.callback.delay < fake.ack_deadline_s
        await served_again(fake, core)
    fake.assert_clean()


async def test_a_storm_of_429s(tmp_path, fake_discord, default_rails, openai_server):
    """discord.py waits out each `retry_after` and retries: every member is answered, late but in full."""
    fake, server = fake_discord, openai_server
    server.scripted_reply, server.token_delay_s = BENIGN, 0.02
    async with running_bot(tmp_path, fake, default_rails, [server.base_url]) as core:
        fake.fail_next(3, status=429, retry_after=0.3, match="/callback")
        fake.fail_next(12, status=429, retry_after=0.3, match="/webhooks/")
        users = [fake.alice, fake.mod, fake.owner]
        records = [
            await fake.slash("write", {"kind": "story", "about": f"lighthouse {index}"}, user=user)
            for index, user in enumerate(users)
        ]
        for record in records:
            await record.wait_done(answered, timeout=30)
        ended = await settle(core, fake, records)
        assert len(fake.faults_served) == 15
        assert [e.status for e in ended] == ["delivered"] * 3
        assert all(BENIGN in record.original.content for record in records)
        assert all(record.callback.delay < fake.ack_deadline_s for record in records)
        await served_again(fake, core)
    fake.assert_clean()


async def test_discord_members_are_told_after_a_crash(tmp_path, fake_discord, default_rails, openai_server):
    """A bot killed mid-stream cannot tell the member; the next start does, in the channel, pinging only them.
    The crash is the database as the killed process left it: a copy taken (SQLite backup) while the text streams."""
    fake, server = fake_discord, openai_server
    server.scripted_reply, server.token_delay_s = BENIGN, 0.1
    after_crash = tmp_path / "after-crash"
    after_crash.mkdir()
    async with running_bot(tmp_path, fake, default_rails, [server.base_url]):
        streaming = await fake.slash("write", {"kind": "story", "about": "a lighthouse keeper"}, user=fake.alice)
        await streaming.wait_for(lambda r: any(judged_chunks(w.content) for w in r.edits), timeout=10)
        with sqlite3.connect(tmp_path / "storyloom.sqlite3") as live, sqlite3.connect(after_crash / "storyloom.sqlite3") as copy:
            live.backup(copy)
            # The killed process is this test's own, alive: its lease is aged past its time, as the lease of a
            # process gone from another machine (a killed pid here is seen at once: tests/test_instance_leases.py).
            copy.execute("UPDATE instance_leases SET renewed_at = '2000-01-01 00:00:00.000000'")
    server.token_delay_s = 0.005
    async with running_bot(after_crash, fake, default_rails, [server.base_url]) as core:
        [told] = [m for m in fake.channel_messages(fake.general) if "I restarted" in m.content]
        assert f"<@{fake.alice.id}>" in told.content and "Please run it again" in told.content
        [write] = [w for w in fake.writes if w.message_id == told.id]
        assert write.pinged.users == {fake.alice.id} and not write.pinged.everyone
        await core.recorder.flush()
        async with core.database.connect() as connection:
            [(status, reason, kind)] = (
                await connection.execute(
                    select(Request.status, Request.status_reason, Delivery.kind).join(Delivery, Delivery.request_id == Request.id)
                )
            ).all()
        assert (status, reason, kind) == ("interrupted", "process stopped", "notice")
        await served_again(fake, core)
    fake.assert_clean()


# -- the bot process -----------------------------------------------------------------------------------------------


def local_env(tmp_path: Path, server) -> dict[str, str]:
    env = {
        **os.environ,
        "STORYLOOM_DATA_DIR": str(tmp_path),
        "STORYLOOM_ENGINE": "openai",
        "STORYLOOM_ENGINE_URLS": server.base_url,
        "STORYLOOM_TOXICITY_BACKEND": "embedded",
        "STORYLOOM_METRICS_PORT": "0",
    }
    env.pop("DISCORD_TOKEN", None)
    return env


@pytest.mark.slow
async def test_bot_killed_mid_generation_then_started_again(tmp_path, openai_server):
    """SIGKILL leaves no chance to clean up: what was shown is on disk with its verdicts (shown only once
    committed), the request stays open until the next start marks it `interrupted`, and that start serves."""
    server = openai_server
    server.scripted_reply, server.token_delay_s = " ".join([BENIGN] * 3), 0.1
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "local", env=local_env(tmp_path, server),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    shown = ""
    try:
        process.stdin.write(b"/write story about a lighthouse keeper\n")
        await process.stdin.drain()
        deadline = time.monotonic() + 90
        while "He trimmed the wick" not in shown and time.monotonic() < deadline:
            shown += (await asyncio.wait_for(process.stdout.read(1024), 90)).decode()
        assert "He trimmed the wick" in shown, shown
        process.kill()
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    streamed = shown[shown.index(BENIGN[:20]) :]
    database = tmp_path / "storyloom.sqlite3"
    with sqlite3.connect(database) as connection:
        [(request_id, status)] = connection.execute("SELECT id, status FROM requests").fetchall()
        rails = connection.execute(
            "SELECT chunk_index, group_concat(rail) FROM verdicts WHERE stage = 'output' AND decision = 'pass' "
            "GROUP BY chunk_index"
        ).fetchall()
    assert status == "generating"  # killed: nothing could close it
    passed = {
        index for index, names in rails if set(names.split(",")) == {"language", "toxicity", "misinformation", "dangerous"}
    }
    assert set(range(judged_chunks(streamed))) <= passed, "text reached the terminal before its verdicts the disk"

    server.scripted_reply, server.token_delay_s = BENIGN, 0.005
    again = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "local", env=local_env(tmp_path, server),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(again.communicate(b"/write poem about the sea length:short\n"), 120)
    assert again.returncode == 0, stderr.decode()[-3000:]
    assert "[delivered]" in stdout.decode() and "marked 1 requests from a previous run as interrupted" in stderr.decode()
    with sqlite3.connect(database) as connection:
        rows = dict(connection.execute("SELECT id, status || ':' || coalesce(status_reason, '') FROM requests"))
    assert rows.pop(request_id) == "interrupted:process stopped"
    assert list(rows.values()) == ["delivered:"]


# -- the operator's side: a port taken, a terminal reader that leaves ----------------------------------------------


@pytest.mark.slow
async def test_metrics_port_taken_by_another_process(tmp_path, openai_server):
    """Two `storyloom local` on one machine with the default port: the second says so in one line and serves."""
    server = openai_server
    server.scripted_reply, server.token_delay_s = BENIGN, 0.0
    taken = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        env = {**local_env(tmp_path, server), "STORYLOOM_METRICS_PORT": str(port)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli.main", "local", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(b"/write poem about the sea length:short\n"), 120)
    finally:
        taken.close()
    said = stderr.decode()
    assert process.returncode == 0, said[-3000:]
    assert "[delivered]" in stdout.decode()
    assert "Traceback" not in said
    [warning] = [line for line in said.splitlines() if "metrics" in line]
    assert f"127.0.0.1:{port}" in warning and "going on without /metrics" in warning


@pytest.mark.slow
async def test_terminal_reader_leaves_mid_stream(tmp_path, openai_server):
    """`storyloom local < script | head -2`: the pipe closes while a piece streams. No traceback; the request ends
    in a terminal status (the text that reached nobody is recorded as it was), and the process exits."""
    server = openai_server
    server.scripted_reply, server.token_delay_s = " ".join([BENIGN] * 3), 0.05
    read_end, write_end = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "local", env=local_env(tmp_path, server),
        stdin=asyncio.subprocess.PIPE, stdout=write_end, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(write_end)
    try:
        process.stdin.write(b"/write story about a lighthouse keeper\n/write poem about the sea\n")
        await process.stdin.drain()
        seen = b""
        deadline = time.monotonic() + 90
        while b"He trimmed the wick" not in seen and time.monotonic() < deadline:
            seen += await asyncio.to_thread(os.read, read_end, 1024)
        assert b"He trimmed the wick" in seen, seen
    finally:
        os.close(read_end)  # the reader leaves (`head` has its lines)
    process.stdin.close()
    stderr = (await asyncio.wait_for(process.stderr.read(), 120)).decode()
    await asyncio.wait_for(process.wait(), 60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr[-3000:]
    assert process.returncode == 1
    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as connection:
        statuses = [status for (status,) in connection.execute("SELECT status FROM requests")]
    assert statuses and set(statuses) <= TERMINAL, statuses
