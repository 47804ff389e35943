"""The per-guild hash chain: every ended request and moderation action is chained, `storyloom audit verify` passes
on an untouched database, and a copy with one row changed, deleted or reordered fails naming the entry."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.chain import GENESIS, link_hash, verify
from storage.db import create_engine
from storage.policies import record_action
from tests.test_guardrail_actions import WITH_INSULT
from tests.test_pipeline import AUTHOR, BENIGN, RecordingSink, make_core, write  # noqa: F401 - fixture


@dataclass
class Chained:
    """A chained database (SQLite file or PostgreSQL database) and ways to read and tamper with it."""

    url: str
    tmp_path: object

    @property
    def backend(self) -> str:
        return make_url(self.url).get_backend_name()

    async def query(self, sql: str) -> list[tuple]:
        engine = create_engine(self.url)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.exec_driver_sql(sql)).all()]
        finally:
            await engine.dispose()

    async def tampered(self, script: str) -> str:
        """The URL of the database with `script` applied: a copy of a SQLite file; a PostgreSQL database in place
        (each test has its own)."""
        if self.backend == "sqlite":
            path = make_url(self.url).database
            copy = self.tmp_path / "tampered.sqlite3"
            with sqlite3.connect(path) as raw:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy(path, copy)
            with sqlite3.connect(copy) as raw:
                raw.executescript(script)
            return f"sqlite+aiosqlite:///{copy}"
        engine = create_engine(self.url)
        try:
            async with engine.begin() as connection:
                for statement in filter(None, (part.strip() for part in script.split(";"))):
                    await connection.exec_driver_sql(statement)
        finally:
            await engine.dispose()
        return self.url


@pytest.fixture
async def chained_db(tmp_path, database_url, make_core, openai_server):
    """A database with requests in two guilds and outside any, blocked and delivered, and moderation actions."""
    core = await make_core(openai_server, database_url=database_url)
    openai_server.scripted_reply = BENIGN
    for author in (AUTHOR, AUTHOR, replace(AUTHOR, guild_id=8), replace(AUTHOR, guild_id=None)):
        await core.pipeline.run(author, write("a lighthouse", "story"), RecordingSink())
    openai_server.scripted_reply = WITH_INSULT
    await core.pipeline.run(AUTHOR, write("a lighthouse", "story"), RecordingSink())
    for action in ("set_guardrails", "misinfo_add"):
        await record_action(core.database, guild_id=AUTHOR.guild_id, channel_id=10, user_id=5, action=action, details={})
    await core.recorder.flush()
    return Chained(database_url, tmp_path)


def audit_verify(url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STORYLOOM_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "audit", "verify", "--quiet", *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_moment_is_digested_alike_naive_from_sqlite_and_aware_from_postgresql():
    from datetime import UTC, datetime, timedelta, timezone

    from storage.chain import canonical

    naive = datetime(2026, 12, 5, 9, 3, 51, 7)
    aware_utc = naive.replace(tzinfo=UTC)
    elsewhere = aware_utc.astimezone(timezone(timedelta(hours=-5)))
    assert canonical({"at": naive}) == canonical({"at": aware_utc}) == canonical({"at": elsewhere})
    assert canonical(naive) == b'"2026-12-05T09:03:51.000007+00:00"'


async def test_an_untouched_database_verifies(chained_db):
    engine = create_engine(chained_db.url)
    report = await verify(engine)
    in_processes = await verify(engine, workers=3)
    through_engine = await verify(engine, workers=3, reader="engine")
    await engine.dispose()
    assert report.intact, report.broken
    for other in (in_processes, through_engine):
        assert other.intact and other.heads == report.heads and other.records == report.records
    assert sorted(report.heads) == [0, 7, 8] and report.records >= 7
    kinds = dict(await chained_db.query("SELECT kind, count(*) FROM chain_entries GROUP BY kind"))
    [first] = await chained_db.query("SELECT leaf_hash, chain_hash FROM chain_entries WHERE chain = 7 AND seq = 1")
    assert kinds["moderation"] == 2 and kinds["request"] >= 5
    assert first[1] == link_hash(GENESIS, first[0])
    result = audit_verify(chained_db.url)
    assert result.returncode == 0 and "intact" in result.stdout, result.stderr


TAMPERING = {
    "a verdict's decision changed": "UPDATE verdicts SET decision = 'pass' WHERE decision = 'block'",
    "a shown output rewritten": "UPDATE generations SET shown_output = 'something else' WHERE id = (SELECT min(id) FROM generations)",
    "a verdict deleted": "DELETE FROM verdicts WHERE id = (SELECT max(id) FROM verdicts)",
    "a moderation action edited": "UPDATE moderation_actions SET user_id = 6 WHERE action = 'misinfo_add'",
    "a chain entry deleted": "DELETE FROM chain_entries WHERE chain = 7 AND seq = 2",
    "the last entries cut off": "DELETE FROM chain_entries WHERE chain = 7 AND seq = (SELECT max(seq) FROM chain_entries WHERE chain = 7)",
    "two entries reordered": (
        "UPDATE chain_entries SET seq = -1 WHERE chain = 7 AND seq = 1;"
        "UPDATE chain_entries SET seq = 1 WHERE chain = 7 AND seq = 2;"
        "UPDATE chain_entries SET seq = 2 WHERE chain = 7 AND seq = -1"
    ),
    "an entry's digest replaced": "UPDATE chain_entries SET record_digest = 'ab' || substr(record_digest, 3) WHERE chain = 8 AND seq = 1",
    "a policy version rewritten": "UPDATE policy_versions SET policy = '{\"actions\": {}}'",
    "a request added behind the chain's back": (
        "INSERT INTO requests (id, created_at, updated_at, interface, guild_id, channel_id, user_id, user_name,"
        " command, kind, options, prompt, status) SELECT 'forged', created_at, updated_at, interface, guild_id,"
        " channel_id, user_id, user_name, command, kind, options, 'forged prompt', 'delivered' FROM requests LIMIT 1"
    ),
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("a verdict's decision changed", "rows were changed"),
        ("a shown output rewritten", "rows were changed"),
        ("a verdict deleted", "rows were changed"),
        ("a moderation action edited", "moderation"),
        ("a chain entry deleted", "entry missing"),
        ("the last entries cut off", "removed"),
        ("two entries reordered", "link hash"),
        ("an entry's digest replaced", "entry altered"),
        ("a request added behind the chain's back", "request forged is not in the chain"),
        ("a policy version rewritten", "does not match its hash"),
    ],
)
async def test_verify_names_the_broken_entry(chained_db, change, says):
    engine = create_engine(await chained_db.tampered(TAMPERING[change]))
    report = await verify(engine)
    in_processes = await verify(engine, workers=2)  # the chains split between two worker processes
    through_engine = await verify(engine, reader="engine")  # SQLite: the file's own reader is the default
    await engine.dispose()
    assert not report.intact and says in str(report.broken[0]), report.broken
    for other in (in_processes, through_engine):
        assert (other.broken, other.heads, other.entries, other.records) == (
            report.broken, report.heads, report.entries, report.records
        )


# Stored values the engine reads back exactly but the file reader writes by its own spelling: text with quotes,
# control characters, line separators and emoji, huge and tiny numbers, an integer in a float column, erased content,
# a datetime without microseconds, JSON with free text in /write's options, a bare JSON number, an added column.
ODD_ROWS = (
    "UPDATE requests SET command = 'write \"\\ \n\t' || char(8232) || ' 🦉 é', status_reason = '', user_name = 'Zoë',"
    " options = '{\"tone\": \"wry \\u00e9\", \"genre\": \"noir\", \"length\": \"short\", \"n\": [1, 2.5e-07, null, true]}',"
    " updated_at = '2026-12-05 09:03:51', instance = 'a', lease_id = NULL"
    " WHERE id = (SELECT min(id) FROM requests);"
    "UPDATE requests SET prompt = 'erased:sha256:' || lower(hex(randomblob(32))), options = 'null'"
    " WHERE id = (SELECT max(id) FROM requests);"
    "UPDATE generations SET total_ms = 1e300, time_to_first_token_ms = 3, seed = 9223372036854775807,"
    " replicas = '[\"b\", \"a\"]', params = '{\"z\": {\"b\": 1, \"a\": [0.1, -0.0]}, \"a\": \"\\u2028\"}';"
    "UPDATE verdicts SET scores = '5', thresholds = '{}', latency_ms = 1e-7, explanation = NULL,"
    " created_at = '2026-12-05 09:03:51.5' WHERE id = (SELECT min(id) FROM verdicts);"
    "UPDATE moderation_actions SET details = '{\"note\": \"ünïcode \\\"quoted\\\"\"}'"
)


async def test_the_file_reader_digests_stored_rows_as_the_engine_reads_them(chained_db):
    """`verify` reads a SQLite file through the standard driver, writing each record's canonical JSON from the stored
    values (storage/chain/sqlite_records.py): on odd values its fast spelling must give the engine's digest, not
    only its fallback."""
    if chained_db.backend != "sqlite":
        pytest.skip("the file reader is SQLite's")
    from storage.chain import current_records, record_digest
    from storage.chain.sqlite_records import StoredRecords

    url = await chained_db.tampered(ODD_ROWS)
    engine = create_engine(url)
    async with engine.connect() as connection:
        requests = [row[0] for row in (await connection.exec_driver_sql("SELECT id FROM requests")).all()]
        actions = [str(row[0]) for row in (await connection.exec_driver_sql("SELECT id FROM moderation_actions")).all()]
        by_engine = {
            kind: {key: record_digest(record) for key, record in (await current_records(connection, kind, ids)).items()}
            for kind, ids in (("request", requests), ("moderation", actions))
        }
    await engine.dispose()
    with sqlite3.connect(make_url(url).database) as raw:
        stored = StoredRecords(raw)
        for exact in (False, True):
            assert stored.request_digests(requests, exact=exact) == by_engine["request"]
            assert stored.moderation_digests(actions, exact=exact) == by_engine["moderation"]
    assert len(by_engine["request"]) >= 5 and len(by_engine["moderation"]) == 2


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE verdicts SET scores = '{not json' WHERE id = (SELECT min(id) FROM verdicts)",
        "UPDATE generations SET created_at = 'yesterday' WHERE id = (SELECT min(id) FROM generations)",
        "UPDATE moderation_actions SET details = '{not json' WHERE action = 'misinfo_add'",
    ],
)
async def test_a_row_that_no_longer_decodes_is_a_changed_record_not_a_crash(chained_db, change):
    if chained_db.backend != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values")
    engine = create_engine(await chained_db.tampered(change))
    report = await verify(engine)
    await engine.dispose()
    assert [b.reason.split(": ")[1] for b in report.broken] == [f"its rows were changed after entry {report.broken[0].seq}"]


async def test_the_command_exits_non_zero_naming_the_first_broken_entry(chained_db):
    url = await chained_db.tampered(TAMPERING["a verdict's decision changed"])
    result = audit_verify(url, "--guild", "7")
    assert result.returncode == 1 and "BROKEN: chain 7 entry " in result.stderr, result.stderr
    assert audit_verify(url, "--guild", "8").returncode == 0, "another guild's chain is not affected"


async def test_requests_chained_from_memory_digest_as_read_back(database):
    """The recorder chains an ended request from the rows it wrote, without reading them back: each digest must be
    the one the rows in the database give (what `verify` recomputes), whatever the values' types on the way in
    (an int in a float column, a StrEnum, nested JSON); a held request (its review row written elsewhere) and one
    whose mirror was lost are read back."""
    import uuid

    from sqlalchemy import select

    from storage.chain import record_digest, request_record
    from storage.models import ChainEntry, RequestStatus
    from storage.recorder import Recorder

    recorder = Recorder(database, instance="test")
    recorder.start()
    ids = [uuid.uuid4().hex for _ in range(4)]
    for n, request_id in enumerate(ids):
        generation_id = uuid.uuid4().hex
        recorder.request_arrived(
            id=request_id, interface="discord", guild_id=7 if n < 3 else None, channel_id=10, user_id=5,
            user_name="member", command="write", kind="story", options={"genre": "noir", "length": "short", "n": n},
            prompt=f"a lighthouse {n}", parent_request_id=None, policy_hash="f" * 64,
        )  # fmt: skip
        recorder.verdicts([{"request_id": request_id, "guild_id": 7, "generation_id": None, "stage": "input",
                            "rail": "toxicity", "backend": "embedded", "version": "1", "decision": "pass",
                            "scores": {"toxicity": 0.25, "insult": 1}, "thresholds": {"toxicity": 0.8},
                            "latency_ms": 3}])  # fmt: skip
        await recorder.flush()  # the request's first rows in one commit, the rest in later ones
        recorder.request_status(request_id, RequestStatus.GENERATING)
        recorder.generation(id=generation_id, request_id=request_id, engine="openai", model_id="m", seed=n,
                            params={"max_tokens": 160, "stop": ["\n\n"], "nested": {"a": [1, 2.5]}},
                            template_version="t", rendered_prompt="[]")  # fmt: skip
        recorder.generation_update(generation_id, raw_output="Text.", shown_output="Text.", output_tokens=2,
                                   total_ms=2400, time_to_first_token_ms=40, replicas=None)  # fmt: skip
        recorder.delivery(request_id=request_id, channel_id=10, message_id=10**17 + n, kind="message")
        status = (RequestStatus.DELIVERED, RequestStatus.BLOCKED, RequestStatus.HELD, RequestStatus.DELIVERED)[n]
        if n == 3:
            recorder._forget(request_id)  # as after a failed commit: read back when it ends
        recorder.request_status(request_id, status, "because" if n == 1 else None)
    await recorder.flush()
    assert recorder.chained_from_memory == 2  # delivered and blocked; the held one and the forgotten one read back
    async with database.connect() as connection:
        for request_id in ids:
            digest = (await connection.execute(
                select(ChainEntry.record_digest).where(ChainEntry.record_id == request_id)
            )).scalar_one()  # fmt: skip
            assert digest == record_digest(await request_record(connection, request_id)), request_id
    await recorder.close()
    report = await verify(database)
    assert report.intact, report.broken


# -- a guild without records; heads kept outside the database ------------------------------------------------------


def audit(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "audit", *args], env={**os.environ, "STORYLOOM_DATABASE_URL": url, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_a_guild_without_records_verifies_as_no_records(chained_db):
    for guild in ("12345", "99"):
        result = audit_verify(chained_db.url, "--guild", guild)
        assert result.returncode == 0 and "no records for guild" in result.stdout, (result.stdout, result.stderr)
        assert "BROKEN" not in result.stderr
        head = audit(chained_db.url, "head", "--guild", guild)
        assert head.returncode == 0 and head.stdout.strip() == f"no records for guild {guild}"


async def test_the_terminal_guild_and_chain_zero_agree_with_the_docs(make_core, openai_server, tmp_path):
    """The terminal mode records as guild 1 (README); chain 0 holds what is outside any guild, empty here."""
    from bot.config import Settings

    assert Settings().guild_id_for_local == 1
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "`0` is\nthe terminal mode" not in readme and "terminal mode records as guild 1" in readme
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    core = await make_core(openai_server, database_url=url)
    openai_server.scripted_reply = BENIGN
    await core.pipeline.run(replace(AUTHOR, guild_id=1), write("a lighthouse", "story"), RecordingSink())
    await core.recorder.flush()
    zero = audit_verify(url, "--guild", "0")
    assert zero.returncode == 0 and "no records for guild 0" in zero.stdout, zero.stderr
    one = audit_verify(url, "--guild", "1")
    assert one.returncode == 0 and "intact" in one.stdout and "chain 1:" in one.stdout


def cut_off_script(kind: str, record_id: str, chain: int = 7) -> str:
    """Delete the newest record of a chain with its entry, and put the head row back one entry: what an intruder
    who wants the end of the history gone does."""
    if kind == "moderation":
        rows = f"DELETE FROM moderation_actions WHERE id = {int(record_id)};"
    else:
        rows = "".join(f"DELETE FROM {table} WHERE request_id = '{record_id}';" for table in ("verdicts", "deliveries", "reviews", "generations"))
        rows += f"DELETE FROM requests WHERE id = '{record_id}';"
    last = f"(SELECT max(seq) FROM chain_entries WHERE chain = {chain})"
    return (
        rows + f"DELETE FROM chain_entries WHERE chain = {chain} AND seq = {last};"
        f"UPDATE chain_heads SET seq = {last}, chain_hash = (SELECT chain_hash FROM chain_entries WHERE chain = {chain}"
        f" AND seq = {last}) WHERE chain = {chain}"
    )


async def test_a_cut_off_tail_verifies_alone_but_not_against_a_head_kept_elsewhere(chained_db):
    head = audit(chained_db.url, "head", "--guild", "7")
    assert head.returncode == 0, head.stderr
    [pin] = head.stdout.split()
    assert pin.startswith("7:") and len(pin.split(":")[2]) == 64
    untouched = audit_verify(chained_db.url, "--expect-head", pin)
    assert untouched.returncode == 0 and "expected head in place: chain 7" in untouched.stdout, untouched.stderr

    [(kind, record_id)] = await chained_db.query(
        "SELECT kind, record_id FROM chain_entries WHERE chain = 7 ORDER BY seq DESC LIMIT 1"
    )
    url = await chained_db.tampered(cut_off_script(kind, record_id))
    alone = audit_verify(url)
    assert alone.returncode == 0 and "intact" in alone.stdout, "the cut is invisible without a head kept elsewhere"
    pinned = audit_verify(url, "--expect-head", pin)
    assert pinned.returncode == 1 and "entries were cut off" in pinned.stderr, (pinned.stdout, pinned.stderr)
    bare = audit_verify(url, "--expect-head", pin.split(":")[2])
    assert bare.returncode == 1 and "is in no chain" in bare.stderr
    bad = audit_verify(url, "--expect-head", "7:x:abc")
    assert bad.returncode == 2 and "not a chain head" in bad.stderr


async def test_each_new_head_is_appended_to_the_head_log(make_core, openai_server, tmp_path, database_url):
    from storage.chain import current_heads
    from storage.head_log import last_heads

    log_path = tmp_path / "outside" / "heads.jsonl"
    core = await make_core(openai_server, database_url=database_url, chain_head_log=log_path)
    openai_server.scripted_reply = BENIGN
    for guild in (7, 8, 7):
        await core.pipeline.run(replace(AUTHOR, guild_id=guild), write("a lighthouse", "story"), RecordingSink())
    await record_action(core.database, guild_id=7, channel_id=10, user_id=5, action="set_guardrails", details={})
    await core.recorder.flush()
    now = {head.chain: f"{head.chain}:{head.seq}:{head.chain_hash}" for head in await current_heads(core.database)}
    assert last_heads(log_path) == now
    assert len(log_path.read_text().splitlines()) >= 4, "every new head, not only the last"
    kept = audit_verify(database_url, "--expect-heads-from", str(log_path))
    assert kept.returncode == 0 and "intact" in kept.stdout, kept.stderr
    chained = Chained(database_url, tmp_path)
    [(kind, record_id)] = await chained.query("SELECT kind, record_id FROM chain_entries WHERE chain = 7 ORDER BY seq DESC LIMIT 1")
    url = await chained.tampered(cut_off_script(kind, record_id))
    cut = audit_verify(url, "--expect-heads-from", str(log_path))
    assert cut.returncode == 1 and "cut off" in cut.stderr, (cut.stdout, cut.stderr)
