"""What a new operator, a careless one and a hostile member get wrong (issue 15, items 6-14 and the smaller list):
each gets one short line and a sensible exit status, never a traceback, and nothing is lost or created by mistake.

The CLI runs as a real process where what matters is what a terminal sees (tracebacks, a closed pipe), and
in-process (`bot.cli.main.main`) where the exit status and the message are enough.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.audit.commands import AuditUsageError, parse_audit
from bot.audit.render import DISCORD, PLAIN, card_lines, requests_table
from bot.terminal.parser import CommandError, parse
from bot.config import Settings
from bot.core.request import Author
from bot.core.story import StoryError, StoryService
from storage.audit import ALL_GUILDS, iter_records, list_requests, parse_target, provenance
from storage.db import create_engine, upgrade
from storage.export import export_bytes
from storage.models import Request, RequestStatus
from storage.recorder import Recorder
from tests.test_pipeline import RecordingSink, make_core, rows, write  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "a lighthouse\x1b[2J\x1b]0;pwned\x07 keeper\x00\x08\x08 \u202eevil\u202c \u2066x\u2069\r overwritten"
CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\n\t"] + list(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STORYLOOM_")}
    env.pop("DISCORD_TOKEN", None)
    env.update({"STORYLOOM_DATA_DIR": str(tmp_path), "STORYLOOM_METRICS_PORT": "0", "PYTHONPATH": str(REPO), **settings})
    return env


def storyloom(tmp_path: Path, *argv: str, stdin: str = "", **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *argv], input=stdin, env=env_for(tmp_path, **settings), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def seed_database(path: Path, *prompts: str) -> list[str]:
    """A Storyloom database with one delivered request per prompt (guild 5, user 7); their ids."""

    async def work() -> list[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        recorder = Recorder(engine)
        ids = []
        for n, prompt in enumerate(prompts):
            request_id = f"{n:032x}"
            recorder.request_arrived(
                id=request_id, interface="discord", guild_id=5, channel_id=50, user_id=7, user_name=f"alice{prompt[:3]}",
                command="write", kind="poem", options={"tone": prompt[:20]}, prompt=prompt, policy_hash="p" * 64,
            )  # fmt: skip
            recorder.generation(
                id=f"g{n:031x}", request_id=request_id, attempt=1, engine="openai", model_id="m",
                params={}, seed=1, template_version="v3", rendered_prompt="x", raw_output=prompt, shown_output=prompt,
            )  # fmt: skip
            recorder.delivery(request_id=request_id, channel_id=50, message_id=1000 + n, kind="message")
            recorder.request_status(request_id, RequestStatus.DELIVERED)
            ids.append(request_id)
        await recorder.close()
        await engine.dispose()
        return ids

    return asyncio.run(work())


# -- 6. every number a member or operator types is bounded --------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "/story ai choices:²",
        "/story ai choices:4",
        "/story ai choices:٣",
        "/story vote ²",
        "/story vote 99999999999999999999",
        '/story start T premise:"x" timeout:99999999999999999999999',
        '/story start T premise:"x" timeout:9',
        '/story start T premise:"x" timeout:¹⁰⁰',
    ],
)
def test_story_numbers_out_of_range_are_a_short_message(line):
    with pytest.raises(CommandError) as refused:
        parse(line)
    assert "whole number" in str(refused.value) or "choice's number" in str(refused.value)
    assert len(str(refused.value)) < 120


def test_story_numbers_in_range_still_parse():
    assert parse("/story ai choices:3").options["choices"] == "3"
    assert parse('/story start T premise:"x" timeout:86400').options["timeout"] == "86400"
    assert parse("/story vote 2").text == "2"


async def test_the_story_service_bounds_the_turn_timeout_too(make_core, openai_server):
    core = await make_core(openai_server)
    author = Author("discord", 1, "ada", 7, 55, exempt_from_rate_limit=True)
    with pytest.raises(StoryError, match="86,400"):
        await StoryService(core).start(author, "T", "Two rivals in a lighthouse.", turn_timeout_s=10**23)


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "user", "1", "--limit", "99999999999999999999999"],
        ["audit", "user", "99999999999999999999999999"],
        ["audit", "user", "1", "--limit", "²"],
        ["audit", "flagged", "--offset", "-1"],
        ["audit", "stats", "--guild", "99999999999999999999"],
        ["audit", "erase", "--user", "99999999999999999999"],
        ["audit", "verify", "--guild", "-5"],
    ],
)
def test_audit_numbers_out_of_range_are_refused_by_the_parser(argv, tmp_path, monkeypatch, capsys):
    from bot.cli.main import main

    seed_database(tmp_path / "storyloom.sqlite3", "a poem")
    monkeypatch.setenv("STORYLOOM_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "whole number" in capsys.readouterr().err


def test_message_ids_past_a_bigint_are_no_target():
    for text in ("99999999999999999999999", "https://discord.com/channels/99999999999999999999999/1/2", "١٢٣"):
        with pytest.raises(ValueError, match="message link"):
            parse_target(text)
    assert parse_target(str(2**63 - 1)).message_id == 2**63 - 1


def test_audit_message_with_an_overflowing_id_exits_2(tmp_path):
    seed_database(tmp_path / "storyloom.sqlite3", "a poem")
    result = storyloom(tmp_path, "audit", "message", "99999999999999999999")  # 20 digits: past a BIGINT
    assert result.returncode == 2 and "message link" in one_line(result.stderr)


def test_typed_audit_numbers_are_bounded():
    for text in ("user 99999999999999999999", "user <@99999999999999999999>", "user 1 --limit 99999999999999999999999",
                 "user 1 --limit ²", "user 1 limit:0", "flagged --offset x", "user 1 --limit"):  # fmt: skip
        with pytest.raises(AuditUsageError):
            parse_audit(text)


# -- 7. misconfiguration: one line naming the setting, exit 2 ------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"STORYLOOM_DATABASE_URL": "sqlite+aiosqlite:////dev/null/x/storyloom.sqlite3"}, "STORYLOOM_DATABASE_URL"),
        ({"STORYLOOM_DATABASE_URL": "not a url"}, "STORYLOOM_DATABASE_URL"),
        ({"STORYLOOM_DATABASE_URL": "sqlite:///storyloom.sqlite3"}, "async driver"),
        ({"STORYLOOM_DATABASE_URL": "nosuchdb://host/db"}, "STORYLOOM_DATABASE_URL"),
        ({"STORYLOOM_DATA_DIR": "/dev/null/data"}, "STORYLOOM_DATA_DIR"),
        ({"STORYLOOM_MODEL": "/no/such/model/folder"}, "STORYLOOM_MODEL"),
        ({"STORYLOOM_MAX_ATTEMPTS": "abc"}, "STORYLOOM_MAX_ATTEMPTS"),
        ({"STORYLOOM_METRICS_PORT": "99999"}, "STORYLOOM_METRICS_PORT"),
        ({"STORYLOOM_ENGINE": "foo"}, "STORYLOOM_ENGINE"),
        ({"STORYLOOM_ENGINE": "openai"}, "STORYLOOM_ENGINE_URLS"),
        ({"STORYLOOM_ENGINE": "openai", "STORYLOOM_ENGINE_URLS": "localhost:8000"}, "STORYLOOM_ENGINE_URLS"),
        ({"STORYLOOM_CONFIG": "broken.toml"}, "not valid TOML"),
        ({"STORYLOOM_CONFIG": "missing.toml"}, "STORYLOOM_CONFIG"),
        ({"STORYLOOM_CONFIG": "missing.env"}, "STORYLOOM_CONFIG"),
        ({"STORYLOOM_SHARD_IDS": "3"}, "STORYLOOM_SHARD_COUNT"),
    ],
)
def test_misconfiguration_is_one_line_and_exit_2(settings, named, tmp_path):
    (tmp_path / "broken.toml").write_text('engine = "vllm\nmodel = [\n')
    result = storyloom(tmp_path, "local", stdin="/write poem about the sea\n", **settings)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert named in line and len(line) < 300
    assert not (tmp_path / "storyloom.sqlite3").exists(), "nothing was started"


def test_a_secret_in_a_bad_setting_is_not_echoed(tmp_path):
    result = storyloom(tmp_path, "config", "show", STORYLOOM_ENGINE="foo", DISCORD_TOKEN="MTIz.sekrit-token")
    assert result.returncode == 2 and "sekrit" not in result.stderr + result.stdout


def test_config_show_prints_the_effective_instance(tmp_path):
    shown = json.loads(storyloom(tmp_path, "config", "show", "--json").stdout)
    assert shown["instance"] == "main"
    assert Settings(shard_count=4, shard_ids=[0, 1]).masked()["instance"] == "shards-0-1"


# -- 8. the metrics port is taken --------------------------------------------------------------------------------


async def test_a_taken_metrics_port_is_one_warning_and_the_bot_serves(make_core, openai_server, caplog):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with caplog.at_level(logging.WARNING, logger="bot.core.app"):
            core = await make_core(openai_server, metrics_port=port)
        assert core.metrics_server is None
        [warning] = [r.getMessage() for r in caplog.records if "metrics" in r.getMessage()]
        assert str(port) in warning and "STORYLOOM_METRICS_PORT" in warning and "\n" not in warning
        sink = RecordingSink()
        outcome = await core.pipeline.run(Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True), write("the sea"), sink)
        assert outcome.status == RequestStatus.DELIVERED
    finally:
        taken.close()


# -- 9. audit commands where there is no database -------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["audit", "stats"], ["audit", "verify"], ["audit", "user", "1"], ["audit", "flagged"], ["audit", "export", "-o", "-"],
     ["audit", "message", "1234"], ["audit", "erase", "--user", "1"]],
)  # fmt: skip
def test_audit_without_a_database_says_so_and_creates_nothing(argv, tmp_path, monkeypatch, capsys):
    from bot.cli.main import main

    data = tmp_path / "data"
    monkeypatch.setenv("STORYLOOM_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"no Storyloom database at {data / 'storyloom.sqlite3'}" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == [], "nothing created: no folder, no empty database, no export file"


def test_audit_on_a_file_that_is_no_storyloom_database(tmp_path):
    (tmp_path / "empty.sqlite3").touch()
    (tmp_path / "junk.sqlite3").write_text("not a database at all " * 100)
    empty = storyloom(tmp_path, "audit", "stats", STORYLOOM_DATABASE_URL="sqlite+aiosqlite:///empty.sqlite3")
    assert empty.returncode == 2 and "no Storyloom tables" in one_line(empty.stderr)
    junk = storyloom(tmp_path, "audit", "verify", STORYLOOM_DATABASE_URL="sqlite+aiosqlite:///junk.sqlite3")
    assert junk.returncode == 2 and "cannot open the database" in one_line(junk.stderr)


# -- 10. export to a missing folder; a closed pipe -----------------------------------------------------------------


def test_export_to_a_missing_folder_is_one_line(tmp_path):
    seed_database(tmp_path / "storyloom.sqlite3", "a poem")
    result = storyloom(tmp_path, "audit", "export", "-o", "/missing/dir/x.csv")
    assert result.returncode == 2
    assert "cannot write /missing/dir/x.csv" in one_line(result.stderr)


@pytest.mark.parametrize("argv", [["audit", "export", "-o", "-"], ["audit", "message", "1000"], ["audit", "user", "7"]])
def test_a_reader_that_leaves_early_is_no_traceback(argv, tmp_path):
    """`storyloom audit ... | head`: the pipe closes before the command writes."""
    seed_database(tmp_path / "storyloom.sqlite3", *[f"a poem about the sea, number {n}" for n in range(3)])
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", *argv], env=env_for(tmp_path), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    process.stdout.close()  # the reader is gone before a byte was written
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr[-3000:]
    assert process.returncode == 1


# -- 11. eval checks its arguments first ---------------------------------------------------------------------------


def test_eval_on_a_missing_file_answers_before_loading_the_rails(tmp_path):
    probe = (
        "import sys; from bot.cli import main; code = main(['eval', 'missing.csv']); "
        "print(code, 'torch' in sys.modules, 'bot.core.app' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env_for(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["2", "False", "False"], result.stdout + result.stderr[-2000:]
    assert "no such file: missing.csv" in one_line(result.stderr)


# -- 12. control and bidi characters in stored text are shown visibly -----------------------------------------------


def test_visible_renders_every_control_and_bidi_character():
    from bot.core.visible import visible

    for char in CONTROL:
        shown = visible(f"a{char}b")
        assert char not in shown and shown.startswith("a") and shown.endswith("b") and len(shown) > 2, repr(char)
    assert visible("line one\n\tline two", keep_newlines=True) == "line one\n\tline two"
    assert visible("a\r\nb", keep_newlines=True) == "a\nb"
    assert visible("a\nb") == "a\u240ab", "one line stays one line"
    assert visible("@\u200beveryone") == "@\u200beveryone", "zero-width defusing is kept"


def test_audit_cards_and_tables_show_hostile_text_visibly(tmp_path):
    [request_id] = seed_database(tmp_path / "storyloom.sqlite3", HOSTILE)

    async def read():  # noqa: ANN202
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'storyloom.sqlite3'}")
        try:
            return await provenance(engine, 5, request_id), await list_requests(engine, ALL_GUILDS, user_id=7)
        finally:
            await engine.dispose()

    record, page = asyncio.run(read())
    assert record.request["prompt"] == HOSTILE, "stored raw"
    for rendered in ("\n".join(card_lines(record, PLAIN)), "\n".join(card_lines(record, DISCORD)), requests_table(page)):
        assert not any(char in rendered for char in CONTROL), repr(rendered)
    card = "\n".join(card_lines(record, PLAIN))
    assert "\u241b[2J" in card and "<U+202E>evil" in card and "\u2400" in card

    result = storyloom(tmp_path, "audit", "message", request_id)
    assert result.returncode == 0 and "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\u241b[2J" in result.stdout


async def test_the_terminal_mode_shows_stored_text_visibly(make_core, openai_server):
    from bot.terminal.repl import run_command

    openai_server.scripted_reply = "The keeper\x1b[31m lit the lamp\x07. The sea was calm\u202e tonight."
    core = await make_core(openai_server)
    author = Author("local", 1, "ada\x1b[2J", 1, None, exempt_from_rate_limit=True)
    out = io.StringIO()
    await run_command(core, author, parse("/write poem about the sea\x1b]0;pwned\x07"), out)
    await run_command(core, author, parse("/audit user 1"), out)
    await run_command(core, author, parse('/story start The\x1b[5m Light premise:"two rivals\u202e in a lighthouse"'), out)
    shown = out.getvalue()
    assert not any(char in shown for char in CONTROL), repr(shown)
    assert "[delivered]" in shown and "\u241b[31m" in shown and "<U+202E>" in shown


# -- 13. CSV formula injection -------------------------------------------------------------------------------------


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(sqlite_database):
    formulas = ['=HYPERLINK("https://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\r=1"]
    recorder = Recorder(sqlite_database)
    for n, prompt in enumerate(formulas):
        recorder.request_arrived(
            id=f"{n:032x}", interface="discord", guild_id=5, channel_id=50, user_id=7, user_name=prompt,
            command="write", kind="poem", options={}, prompt=prompt, policy_hash="p" * 64,
        )  # fmt: skip
        recorder.request_status(f"{n:032x}", RequestStatus.REJECTED, prompt)
    await recorder.close()
    data, count = await export_bytes(iter_records(sqlite_database, ALL_GUILDS), "csv")
    rows_ = list(csv.DictReader(io.StringIO(data.decode())))
    assert count == len(rows_) == len(formulas)
    for row in rows_:
        for column in ("prompt", "user_name", "status_reason"):
            assert row[column].startswith("'") and row[column][1:] in formulas, row[column]
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
    jsonl, _ = await export_bytes(iter_records(sqlite_database, ALL_GUILDS), "jsonl")
    assert sorted(json.loads(line)["request"]["prompt"] for line in jsonl.decode().splitlines()) == sorted(formulas)


# -- 14. an empty topic --------------------------------------------------------------------------------------------


async def test_write_about_nothing_is_refused_at_admission_and_recorded(make_core, openai_server):
    from bot.terminal.repl import run_command

    assert parse("/write poem about").text == "" and parse("/write poem about   ").text == ""
    assert parse("/write poem about about").text == "about" and parse("/write poem about the sea").text == "the sea"
    core = await make_core(openai_server)
    out = io.StringIO()
    outcome = await run_command(core, Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True), parse("/write poem about"), out)
    assert outcome.status == RequestStatus.REJECTED and "Tell me what to write about" in out.getvalue()
    assert openai_server.chat_requests == [], "the engine never saw it"
    [request] = await rows(core, Request, Request.id == outcome.request_id)
    assert request.status == "rejected" and request.prompt == ""


# -- the smaller things --------------------------------------------------------------------------------------------


async def test_refusals_carry_no_ai_disclosure(make_core, openai_server):
    from bot.terminal.repl import run_command

    core = await make_core(openai_server)
    author = Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True)
    out = io.StringIO()
    outcome = await run_command(core, author, parse("/write poem about"), out)
    assert outcome.status == RequestStatus.REJECTED
    assert "AI-generated" not in out.getvalue() and f"Storyloom · request `{outcome.request_id}`" in out.getvalue()

    openai_server.fail_status = 500  # the engine is down: nothing AI-generated is shown either
    down = io.StringIO()
    outcome = await run_command(core, author, parse("/write poem about the sea"), down)
    assert outcome.status == RequestStatus.FAILED and "AI-generated" not in down.getvalue()

    openai_server.fail_status = None
    delivered = io.StringIO()
    outcome = await run_command(core, author, parse("/write poem about the sea"), delivered)
    assert outcome.status == RequestStatus.DELIVERED and f"AI-generated by Storyloom · request `{outcome.request_id}`" in delivered.getvalue()


async def test_refused_turns_do_not_use_up_turn_numbers(make_core, openai_server):
    core = await make_core(openai_server)
    service = StoryService(core)
    ada = Author("discord", 1, "ada", 7, 55, exempt_from_rate_limit=True)
    await service.start(ada, "The Lighthouse", "Two rivals are stranded in a lighthouse.", mode="free")
    assert (await service.add_turn(ada, "Ada climbed the stairs.")).message == "Turn 1 by ada added."
    refused = await service.add_turn(ada, "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash.")
    assert refused.status == "blocked"
    assert (await service.add_turn(ada, "The lamp caught at last.")).message == "Turn 2 by ada added."
    assert (await service.status(ada)).turn_count == 2
    assert (await service.undo(ada, moderator=True)).message.startswith("Turn 2 (ada)")


async def test_ending_a_story_during_a_tied_vote_says_which_choice_won_and_why(make_core, openai_server):
    openai_server.scripted_replies = [
        "The lighthouse lamp flickered twice.", "Mira found a second key under the stair.", "The fog lifted at noon."
    ]
    core = await make_core(openai_server)
    service = StoryService(core)
    ada = Author("discord", 1, "ada", 7, 55, exempt_from_rate_limit=True)
    await service.start(ada, "The Lighthouse", "Two rivals are stranded in a lighthouse.", mode="free")
    ai = await service.ai_turn(ada, 3)
    assert len(ai.choices) == 3
    ended = await service.end(ada)
    assert ended.note == "The open vote was closed: choice 1 is the last turn (a tie: the earliest-written choice wins)."
    assert ended.describe().startswith(ended.note)


async def test_the_terminal_audit_takes_the_command_lines_grammar(make_core, openai_server):
    from bot.terminal.repl import run_command

    query = parse_audit("user 1 --limit 3 --since 7d --offset=1")
    assert (query.user_id, query.limit, query.offset, query.since_text) == (1, 3, 1, "7d")
    assert parse_audit("flagged --category insult").category == "insult"
    with pytest.raises(AuditUsageError, match="--bogus"):
        parse_audit("user 1 --bogus 3")
    core = await make_core(openai_server)
    author = Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True)
    out = io.StringIO()
    for about in ("the sea", "a lighthouse", "the fog"):
        await run_command(core, author, parse(f"/write poem about {about} length:short"), out)
    out = io.StringIO()
    await run_command(core, author, parse("/audit user 1 --limit 2"), out)
    assert "3 requests, the newest 2 here" in out.getvalue()


def test_local_help_lists_every_command(tmp_path):
    result = storyloom(tmp_path, "local", "--help")
    assert result.returncode == 0
    for command in ("/write", "/continue", "/story", "/audit", "/help", "/quit"):
        assert command in result.stdout


async def test_pipe_mode_says_it_is_writing_before_the_first_sentence(make_core, openai_server):
    from bot.terminal.repl import run_command

    openai_server.token_delay_s = 0.1  # 12 tokens: the first sentence is over a second away
    core = await make_core(openai_server)
    out = io.StringIO()
    await run_command(core, Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True), parse("/write poem about the sea"), out)
    shown = out.getvalue()
    assert shown.startswith("writing…\n") and shown.count("writing…") == 1 and "[delivered]" in shown

    quick = io.StringIO()
    await run_command(core, Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True), parse("/write poem about"), quick)
    assert "writing…" not in quick.getvalue(), "a refusal at admission comes at once"
