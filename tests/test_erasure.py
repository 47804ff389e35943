"""Erasure keeps the chain verifiable: a member's content (or everything past retention) becomes markers that
keep its digest, every table and the SQLite file lose the text, the chain still verifies, the erasure is chained
with a moderation action, erasing again changes nothing, and other members are untouched."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.cli.erase import add_erase_command
from storage.chain import ERASED, chain_request, erased_marker, erased_options, verify
from storage.erasure import SYSTEM_USER, erase_user, prune_older_than
from storage.models import ChainEntry, Generation, ModerationAction, Request, Review, Verdict, utcnow
from tests.test_guardrail_actions import WITH_INSULT
from tests.test_pipeline import AUTHOR, BENIGN, RecordingSink, make_core, write  # noqa: F401 - fixture

ADA_PROMPTS = ("a lighthouse keeper named Corvina", "the salt wind over Varrow Point")
BOB_PROMPT = "a clockmaker in Ostrava"
BOB = replace(AUTHOR, user_id=43, user_name="bob")


@pytest.fixture
async def populated(make_core, openai_server):
    """Ada: two requests in guild 7 (one delivered, one blocked) and one in guild 8; Bob: one in guild 7."""
    core = await make_core(openai_server)
    openai_server.scripted_reply = BENIGN
    await core.pipeline.run(AUTHOR, replace(write(ADA_PROMPTS[0], "story"), genre="Varrow gothic"), RecordingSink())
    await core.pipeline.run(replace(AUTHOR, guild_id=8), write(ADA_PROMPTS[0], "poem"), RecordingSink())
    await core.pipeline.run(BOB, write(BOB_PROMPT, "story"), RecordingSink())
    openai_server.scripted_reply = WITH_INSULT
    await core.pipeline.run(AUTHOR, write(ADA_PROMPTS[1], "story"), RecordingSink())
    await core.recorder.flush()
    return core


async def all_rows(core, model, *where):
    async with core.database.connect() as connection:
        return (await connection.execute(select(model).where(*where))).all()


def sqlite_text(core) -> str:
    """Every value of every row in the file, as text (WAL checkpointed first)."""
    path = core.database.url.database
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [row for table in tables for row in raw.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(str(value) for row in rows for value in row)


async def assert_intact(core) -> None:
    report = await verify(core.database)
    assert report.intact, report.broken


async def test_erasing_a_member_keeps_every_digest_and_the_chain(populated):
    core = populated
    before = {row.id: row for row in await all_rows(core, Request)}
    ada_ids = [rid for rid, row in before.items() if row.user_id == AUTHOR.user_id]
    outputs = {row.id: row for row in await all_rows(core, Generation, Generation.request_id.in_(ada_ids))}
    assert ADA_PROMPTS[0] in sqlite_text(core) and "worthless" in sqlite_text(core)
    await assert_intact(core)

    result = await erase_user(core.database, AUTHOR.user_id, requested_by=AUTHOR.user_id)

    assert result.requests == 3 and result.in_progress == 0
    # 4 generations: the model's insult at "you" was drawn twice (a second piece for what the prompt never asked for)
    assert result.rows["requests"] == 3 and result.rows["generations"] == 4 and result.rows["verdicts"] > 10
    assert sorted(result.erasures) == [7, 8]
    text = sqlite_text(core)
    for gone in (*ADA_PROMPTS, "Corvina", "worthless pathetic idiot", "Varrow gothic"):
        assert gone not in text, f"{gone!r} is still in the database file"
    assert not await all_rows(core, Request, Request.user_name == "ada")
    assert BOB_PROMPT in text, "another member's request is untouched"
    for rid in ada_ids:
        [request] = await all_rows(core, Request, Request.id == rid)
        assert request.prompt == erased_marker(before[rid].prompt) and request.user_name == erased_marker("ada")
        assert (request.status, request.updated_at, request.options) == (
            before[rid].status, before[rid].updated_at, erased_options(before[rid].options)
        )
        for generation in await all_rows(core, Generation, Generation.request_id == rid):
            for column in ("rendered_prompt", "raw_output", "shown_output"):
                value = getattr(generation, column)
                assert value is None or value == erased_marker(getattr(outputs[generation.id], column))
        for verdict in await all_rows(core, Verdict, Verdict.request_id == rid):
            assert verdict.sentence is None or verdict.sentence.startswith(ERASED)
    await assert_intact(core)

    entries = await all_rows(core, ChainEntry, ChainEntry.kind == "erasure")
    assert sorted(entry.chain for entry in entries) == [7, 8]
    assert {entry.record_id for entry in entries} == set(result.erasures.values())
    actions = await all_rows(core, ModerationAction, ModerationAction.action == "erase_user")
    assert sorted(action.guild_id for action in actions) == [7, 8]
    in_seven = next(action for action in actions if action.guild_id == 7)
    assert in_seven.user_id == AUTHOR.user_id
    assert in_seven.details["user_id"] == AUTHOR.user_id and in_seven.details["requests"] == 2
    assert in_seven.details["erasure"] == result.erasures[7] and "at" in in_seven.details


async def test_erasing_twice_changes_nothing_more(populated):
    core = populated
    first = await erase_user(core.database, AUTHOR.user_id, 7, requested_by=AUTHOR.user_id)
    assert first.requests == 2 and list(first.erasures) == [7]
    text, entries = sqlite_text(core), len(await all_rows(core, ChainEntry))

    again = await erase_user(core.database, AUTHOR.user_id, 7, requested_by=AUTHOR.user_id)

    assert not again.erased and again.requests == 0 and again.erasures == {}
    assert sqlite_text(core) == text and len(await all_rows(core, ChainEntry)) == entries
    [other_guild] = await all_rows(core, Request, Request.user_id == AUTHOR.user_id, Request.guild_id == 8)
    assert other_guild.prompt == ADA_PROMPTS[0], "only the guild asked for"
    await assert_intact(core)


async def test_open_and_held_requests_wait_until_they_end(populated):
    core = populated
    async with core.database.begin() as connection:
        held = (await connection.execute(select(Request.id).where(Request.user_id == BOB.user_id))).scalar_one()
        await connection.execute(update(Request).where(Request.id == held).values(status="held"))
        await connection.execute(
            Review.__table__.insert().values(
                request_id=held, guild_id=7, channel_id=10, author_id=BOB.user_id, review_channel_id=11,
                rail="toxicity", text="the held text", created_at=utcnow(),
            )  # fmt: skip
        )
    result = await erase_user(core.database, BOB.user_id)
    assert (result.requests, result.in_progress) == (0, 1)
    [review] = await all_rows(core, Review, Review.request_id == held)
    assert review.text == "the held text", "the moderator still needs it"


async def test_retention_erases_only_what_is_old_enough(populated):
    core = populated
    requests = await all_rows(core, Request)
    old = [row.id for row in requests if row.user_id == BOB.user_id or row.guild_id == 8]
    async with core.database.begin() as connection:
        await connection.execute(
            update(Request).where(Request.id.in_(old)).values(created_at=utcnow() - timedelta(days=40))
        )
    # The back-dating above is a change the chain notices; re-chain those rows as they now are, as if so created.
    async with core.database.begin() as connection:
        for request_id in old:
            await chain_request(connection, request_id)
    await assert_intact(core)

    assert not (await prune_older_than(core.database, 60)).erased
    result = await prune_older_than(core.database, 30)

    assert result.requests == 2 and sorted(result.erasures) == [7, 8]
    for row in await all_rows(core, Request):
        assert (row.id in old) == row.prompt.startswith(ERASED), row
    text = sqlite_text(core)
    assert BOB_PROMPT not in text and ADA_PROMPTS[1] in text
    actions = await all_rows(core, ModerationAction, ModerationAction.action == "retention_prune")
    assert len(actions) == 2 and all(a.user_id == SYSTEM_USER and a.details["older_than_days"] == 30 for a in actions)
    assert not (await prune_older_than(core.database, 30)).erased, "idempotent"
    await assert_intact(core)


async def test_the_operator_command_erases_and_prints_counts(populated, capsys):
    core = populated
    parser = argparse.ArgumentParser()
    add_erase_command(parser.add_subparsers(dest="action", required=True))
    args = parser.parse_args(["erase", "--user", str(AUTHOR.user_id), "--guild", "8"])

    code = await asyncio.to_thread(args.handler, args, core.settings)

    out = capsys.readouterr().out
    assert code == 0 and "erased 1 request (1 prompt, 1 generation" in out and "chain 8: erasure-" in out
    [request] = await all_rows(core, Request, Request.user_id == AUTHOR.user_id, Request.guild_id == 8)
    assert request.prompt.startswith(ERASED)
    [action] = await all_rows(core, ModerationAction, ModerationAction.action == "erase_user")
    assert action.user_id == SYSTEM_USER and action.details["requested_by"] == "operator"
    assert await asyncio.to_thread(args.handler, args, core.settings) == 0
    assert "nothing left to erase" in capsys.readouterr().out
    await assert_intact(core)


async def test_the_core_prunes_at_start_when_retention_is_set(populated, make_core, openai_server):
    core = populated
    async with core.database.begin() as connection:
        [old] = (await connection.execute(select(Request.id).where(Request.user_id == BOB.user_id))).scalars().all()
        nine_days_ago = utcnow() - timedelta(days=9)
        await connection.execute(update(Request).where(Request.id == old).values(created_at=nine_days_ago))
        await chain_request(connection, old)

    keeping = await make_core(openai_server, retention_days=8)
    task = keeping._retention
    assert task is not None and not task.done()
    for _ in range(100):
        [request] = await all_rows(core, Request, Request.id == old)
        if request.prompt.startswith(ERASED):
            break
        await asyncio.sleep(0.05)
    assert request.prompt == erased_marker(BOB_PROMPT)
    recent = await all_rows(core, Request, Request.user_id == AUTHOR.user_id)
    assert not any(row.prompt.startswith(ERASED) for row in recent), "newer requests are kept"
    await keeping.close()
    assert task.cancelled() and keeping._retention is None, "the daily task stops with the core"
    await assert_intact(core)


# -- every copy, and the bytes on disk ----------------------------------------------------------------------------

HOST_WORDS = ("The Quillon Vault", "Zarvethia keeps a ledger of drowned names", "glimmerspite", "murkhallow")
TURN_WORDS = "Bohuslava whispered the passphrase Threnody-Ox into the grate."
HOST_NAME = "Bohuslava"


async def raw_database_bytes(engine) -> dict[str, bytes]:
    """The database's files as they are on disk: SQLite's file and its `-wal` (read while the engine still has it
    open, nothing checkpointed by the test); PostgreSQL's table, TOAST and index files after a CHECKPOINT."""
    from pathlib import Path

    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return {name: file.read_bytes() for name, file in ((path.name, path), (path.name + "-wal", Path(f"{path}-wal"))) if file.exists()}
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("CHECKPOINT")
        data = Path((await autocommit.exec_driver_sql("SHOW data_directory")).scalar_one())
        relations = (await autocommit.exec_driver_sql(
            "SELECT relname, pg_relation_filepath(oid) FROM pg_class WHERE relkind IN ('r', 't', 'i') AND NOT relisshared"
        )).all()  # fmt: skip
    files = {}
    for name, relation in relations:
        for file in (data / relation).parent.glob((data / relation).name + "*") if relation else ():
            files[f"{name} ({file.name})"] = file.read_bytes()
    return files


def holding(files: dict[str, bytes], text: str) -> list[str]:
    return [name for name, content in files.items() if text.encode() in content]


async def test_erasure_reaches_every_copy_and_the_files_on_disk(make_core, openai_server, database_url):
    """Bohuslava hosts a story (title, premise, a line and a veil) and writes a turn; Ada asks for the AI turn, whose
    rendered prompt (Ada's request) quotes all of it. Erasing Bohuslava erases those copies too, and the bytes leave
    the database's files (SQLite: the file and its -wal, with the bot's engine still open; PostgreSQL: the table
    files), while the chain verifies and the others' own words stay."""
    from bot.core.story import StoryService
    from tests.test_story import AI_1, BO, Clock

    host = replace(BO, user_name=HOST_NAME)
    openai_server.scripted_reply = AI_1
    core = await make_core(openai_server, database_url=database_url)
    service = StoryService(core, clock=Clock())
    ada = replace(host, user_id=1, user_name="ada")
    await service.start(host, HOST_WORDS[0], HOST_WORDS[1], mode="free", lines=HOST_WORDS[2], veils=HOST_WORDS[3])
    await service.join(ada)
    await service.add_turn(host, TURN_WORDS)
    await service.add_turn(ada, "Ada held the lantern steady over the water.")
    await service.ai_turn(ada)
    await service.end(host)
    await core.recorder.flush()
    [ai_generation] = await all_rows(core, Generation)
    assert "Threnody-Ox" in ai_generation.rendered_prompt and "Zarvethia" in ai_generation.rendered_prompt
    before = await raw_database_bytes(core.database)
    assert holding(before, "Threnody-Ox") and holding(before, HOST_NAME)

    # SQLite: the default (WAL checkpointed and truncated); PostgreSQL: the tables rewritten (the operator's --compact).
    result = await erase_user(core.database, host.user_id, compact=core.database.dialect.name == "postgresql")

    assert result.erased and result.stories == 1 and result.rows["generations"] >= 1
    [ai_generation] = await all_rows(core, Generation)
    assert ai_generation.rendered_prompt.startswith(ERASED), "the AI turn's prompt quoted her words"
    from storage.models import StoryPlayer, StorySession

    [session] = await all_rows(core, StorySession)
    assert all(str(value).startswith(ERASED) for value in (session.title, session.premise, session.host_name))
    assert all(value.startswith(ERASED) for value in (*session.lines, *session.veils))
    names = {row.user_id: row.name for row in await all_rows(core, StoryPlayer)}
    assert names[host.user_id].startswith(ERASED) and names[ada.user_id] == "ada"
    await assert_intact(core)
    after = await raw_database_bytes(core.database)
    for gone in (*HOST_WORDS, "Threnody-Ox", "Zarvethia", HOST_NAME):
        assert not holding(after, gone), f"{gone!r} is still on disk"
    assert holding(after, "Ada held the lantern"), "another member's words stay"


async def test_a_reply_to_an_erased_piece_loses_the_quote_but_keeps_its_own_words(populated, openai_server):
    from bot.core.request import WriteJob

    core = populated
    [ada_first] = [r for r in await all_rows(core, Request, Request.user_id == AUTHOR.user_id, Request.guild_id == 7) if r.status == "delivered"]
    [ada_output] = await all_rows(core, Generation, Generation.request_id == ada_first.id)
    openai_server.scripted_reply = BENIGN
    job = WriteJob(
        command="continue", kind="story", prompt="a storm arrives", previous_text=ada_output.shown_output,
        previous_checked=True, parent_request_id=ada_first.id,
    )  # fmt: skip
    reply = await core.pipeline.run(BOB, job, RecordingSink())
    await core.recorder.flush()
    [bob_generation] = await all_rows(core, Generation, Generation.request_id == reply.request_id)
    assert ada_output.shown_output[-40:] in bob_generation.rendered_prompt

    await erase_user(core.database, AUTHOR.user_id)

    [bob_generation] = await all_rows(core, Generation, Generation.request_id == reply.request_id)
    assert bob_generation.rendered_prompt.startswith(ERASED), "Bob's prompt quoted Ada's piece"
    assert not bob_generation.shown_output.startswith(ERASED), "Bob's own output stays"
    [bob_request] = await all_rows(core, Request, Request.id == reply.request_id)
    assert bob_request.prompt == "a storm arrives" and bob_request.user_name == "bob"
    await assert_intact(core)


async def test_retention_erases_stories_that_ended_before_the_cutoff(make_core, openai_server):
    from bot.core.story import StoryService
    from storage.models import StoryPlayer, StorySession
    from tests.test_story import BO

    core = await make_core(openai_server)
    service = StoryService(core)
    await service.start(BO, "The Quillon Vault", "A vault under the harbour.", lines="spiders")
    await service.end(BO)
    await service.start(replace(BO, channel_id=56), "Still Young", "A newer story.")
    await service.end(replace(BO, channel_id=56))
    async with core.database.begin() as connection:
        await connection.execute(update(StorySession).where(StorySession.title == "The Quillon Vault").values(ended_at=utcnow() - timedelta(days=40)))

    result = await prune_older_than(core.database, 30)

    assert result.stories == 1
    titles = sorted(row.title for row in await all_rows(core, StorySession))
    assert titles[0] == "Still Young" and titles[1].startswith(ERASED)
    old = next(row for row in await all_rows(core, StorySession) if row.title.startswith(ERASED))
    assert old.lines[0].startswith(ERASED) and old.premise.startswith(ERASED)
    assert [row.name.startswith(ERASED) for row in await all_rows(core, StoryPlayer, StoryPlayer.session_id == old.id)] == [True]
    await assert_intact(core)
