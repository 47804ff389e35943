"""Audit queries (storage/audit/) on both backends, their isolation between guilds, the readable answers, the
exports (CSV, JSONL, PROV-JSON) and `storyloom audit message|user|flagged|stats|export`; `/audit` typed in the
terminal mode."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from bot.audit.commands import AuditUsageError, parse_audit, run_typed_audit
from bot.audit.render import DISCORD, PLAIN, card_lines, list_lines, paginate, stats_lines
from bot.terminal.parser import parse
from storage.audit import (
    ALL_GUILDS,
    Target,
    count_requests,
    find_request,
    iter_records,
    list_requests,
    owner_guild,
    parse_since,
    parse_target,
    provenance,
    provenance_for,
    stats,
)
from storage.db import create_engine, upgrade
from storage.export import CSV_COLUMNS, FORMATS, export_bytes
from storage.models import ChainEntry, ModerationAction, RequestStatus
from storage.recorder import Recorder
from storage.reviews import create_review, decide_review, set_review_message

GUILD, OTHER = 5, 6
ALICE, BOB = 7, 8
CHANNEL = 50
DELIVERED, BLOCKED, REDACTED, OLD_FLAGGED, REJECTED, HELD, ELSEWHERE = (c * 32 for c in "abcd0ef")
INSULT = "You are a worthless pathetic idiot."
NOW = datetime.now(UTC)


_SEEDED: dict[str, tuple[int, datetime]] = {}


def _verdict(request_id, generation_id, stage, rail, decision, category=None, scores=None, thresholds=None,
             sentence=None, chunk_index=None) -> dict:  # fmt: skip
    guild, created = _SEEDED[request_id]  # as the pipeline writes them: the request's guild, at its time
    return {
        "guild_id": guild, "created_at": created,
        "request_id": request_id, "generation_id": generation_id, "stage": stage, "rail": rail, "backend": "embedded",
        "version": "1.0", "decision": decision, "category": category, "scores": scores or {},
        "thresholds": thresholds or {}, "sentence": sentence, "explanation": "", "chunk_index": chunk_index,
        "policy_hash": "p" * 64, "latency_ms": 1.0,
    }  # fmt: skip


def _request(recorder: Recorder, request_id: str, *, guild=GUILD, user=ALICE, name="alice", ago=timedelta(hours=1),
             prompt="a lighthouse keeper", kind="poem") -> datetime:  # fmt: skip
    created = NOW - ago
    _SEEDED[request_id] = (guild, created)
    recorder.request_arrived(
        id=request_id, interface="discord", guild_id=guild, channel_id=CHANNEL, user_id=user, user_name=name,
        command="write", kind=kind, options={"genre": None, "tone": "eerie", "length": "short", "rating": "PG-13"},
        prompt=prompt, policy_hash="p" * 64, created_at=created, updated_at=created + timedelta(seconds=3),
    )  # fmt: skip
    return created


def _generation(recorder: Recorder, request_id: str, attempt: int, created: datetime, *, shown: str, raw: str | None = None,
                seed=1234) -> str:  # fmt: skip
    generation_id = f"{request_id[:30]}g{attempt}"
    recorder.generation(
        id=generation_id, request_id=request_id, attempt=attempt, engine="openai", model_id="HuggingFaceTB/SmolLM2-135M",
        params={"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 256}, seed=seed, template_version="v3",
        rendered_prompt='[{"role": "user"}]', raw_output=raw if raw is not None else shown, shown_output=shown,
        prompt_tokens=40, output_tokens=60, finish_reason="stop", total_ms=900.0, created_at=created,
    )  # fmt: skip
    return generation_id


async def seed(engine) -> None:
    """Guild 5: delivered, blocked (two attempts), redacted, an old flagged one, a rejected one, one held then
    approved. Guild 6: one delivered output."""
    recorder = Recorder(engine)
    created = _request(recorder, DELIVERED)
    g = _generation(recorder, DELIVERED, 1, created, shown="The keeper climbed the stairs at dusk.")
    recorder.verdicts([
        _verdict(DELIVERED, None, "input", "toxicity", "pass", scores={"toxicity": 0.02}, thresholds={"toxicity": 0.9}),
        _verdict(DELIVERED, g, "output", "toxicity", "pass", scores={"toxicity": 0.01, "insult": 0.03},
                 thresholds={"toxicity": 0.55, "insult": 0.55}, chunk_index=0),
    ])  # fmt: skip
    recorder.delivery(request_id=DELIVERED, channel_id=CHANNEL, message_id=1001, kind="message")
    recorder.request_status(DELIVERED, RequestStatus.DELIVERED)

    created = _request(recorder, BLOCKED, ago=timedelta(hours=2), kind="story")
    for attempt in (1, 2):
        g = _generation(recorder, BLOCKED, attempt, created, shown="The keeper climbed. ", raw=f"The keeper climbed. {INSULT}", seed=1234 + attempt)
        recorder.verdicts([
            _verdict(BLOCKED, g, "output", "toxicity", "block", "insult", {"insult": 0.93, "toxicity": 0.91},
                     {"insult": 0.55, "toxicity": 0.55}, sentence=INSULT, chunk_index=1),
        ])  # fmt: skip
    recorder.delivery(request_id=BLOCKED, channel_id=CHANNEL, message_id=1002, kind="notice")
    recorder.request_status(BLOCKED, RequestStatus.BLOCKED, "output toxicity: insult")

    created = _request(recorder, REDACTED, user=BOB, name="bob", ago=timedelta(hours=3), kind="story")
    g = _generation(recorder, REDACTED, 1, created, shown="The duel began. [sentence removed] The end.",
                    raw="The duel began. I will cut your throat. The end.")  # fmt: skip
    recorder.verdicts([
        _verdict(REDACTED, g, "output", "toxicity", "redact", "threat", {"threat": 0.81}, {"threat": 0.6},
                 sentence="I will cut your throat.", chunk_index=1),
    ])  # fmt: skip
    recorder.delivery(request_id=REDACTED, channel_id=CHANNEL, message_id=1003, kind="message")
    recorder.request_status(REDACTED, RequestStatus.DELIVERED)

    created = _request(recorder, OLD_FLAGGED, ago=timedelta(days=10))
    g = _generation(recorder, OLD_FLAGGED, 1, created, shown="Bats are blind.\n-# Fact check: Bats can see.")
    recorder.verdicts([
        _verdict(OLD_FLAGGED, g, "output", "misinformation", "flag", "misinformation", {"misinformation": 0.9},
                 {"misinformation": 0.7}, sentence="Bats are blind.", chunk_index=0),
    ])  # fmt: skip
    recorder.delivery(request_id=OLD_FLAGGED, channel_id=CHANNEL, message_id=1004, kind="message")
    recorder.request_status(OLD_FLAGGED, RequestStatus.DELIVERED)

    _request(recorder, REJECTED, user=BOB, name="bob", ago=timedelta(minutes=30), prompt="")
    recorder.request_status(REJECTED, RequestStatus.REJECTED, "rate_limited")

    created = _request(recorder, HELD, ago=timedelta(hours=4), kind="story")
    g = _generation(recorder, HELD, 1, created, shown="", raw="A rough tale. You utter fool.")
    recorder.verdicts([
        _verdict(HELD, g, "output", "toxicity", "block", "toxicity", {"toxicity": 0.7}, {"toxicity": 0.55},
                 sentence="You utter fool.", chunk_index=1),
    ])  # fmt: skip
    recorder.request_status(HELD, RequestStatus.HELD, "output toxicity: toxicity")

    created = _request(recorder, ELSEWHERE, guild=OTHER, prompt="the other guild's secret")
    g = _generation(recorder, ELSEWHERE, 1, created, shown="Another guild's poem.")
    recorder.delivery(request_id=ELSEWHERE, channel_id=60, message_id=2001, kind="message")
    recorder.request_status(ELSEWHERE, RequestStatus.DELIVERED)
    await recorder.flush()

    review = await create_review(
        engine, request_id=HELD, guild_id=GUILD, channel_id=CHANNEL, author_id=ALICE, review_channel_id=51,
        rail="toxicity", category="toxicity", text="A rough tale. You utter fool.",
    )  # fmt: skip
    await set_review_message(engine, review, 3001)
    assert await decide_review(engine, review, approve=True, user_id=99)
    recorder.delivery(request_id=HELD, channel_id=CHANNEL, message_id=1005, kind="message")
    recorder.request_status(HELD, RequestStatus.DELIVERED, "review #1: approved")
    await recorder.close()


@pytest.fixture
async def seeded(database):
    await seed(database)
    return database


# -- parsing ----------------------------------------------------------------------------------------------------------


def test_since_accepts_spans_and_dates():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2w", now=now) == now - timedelta(days=14)
    assert parse_since("2026-11-01", now=now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T18:30+01:00", now=now) == datetime(2026, 11, 1, 17, 30, tzinfo=UTC)
    assert parse_since(None) is None and parse_since("  ") is None
    for bad in ("yesterday", "7x", "2026-13-01"):
        with pytest.raises(ValueError, match="not a time I understand"):
            parse_since(bad, now=now)
    with pytest.raises(ValueError, match="future"):
        parse_since("2027-01-01", now=now)


def test_targets_are_links_message_ids_or_request_ids():
    link = parse_target("https://discord.com/channels/111111111111111111/222222222222222222/333333333333333333")
    assert link == Target(message_id=333333333333333333, link_guild_id=111111111111111111)
    assert parse_target(" 333333333333333333 ") == Target(message_id=333333333333333333)
    assert parse_target("`" + "A" * 32 + "`") == Target(request_id="a" * 32)
    with pytest.raises(ValueError, match="message link"):
        parse_target("hello")


def test_typed_audit_commands_parse():
    assert parse("/audit stats 7d").name == "audit"
    query = parse_audit("flagged insult 24h")
    assert (query.action, query.category, query.since_text) == ("flagged", "insult", "24h")
    query = parse_audit("export prov-json since:2026-11-01")
    assert (query.fmt, query.since_text) == ("prov-json", "2026-11-01")
    assert parse_audit("user <@123456> 7d").user_id == 123456
    assert parse_audit("message https://discord.com/channels/1/2/3").target == "https://discord.com/channels/1/2/3"
    for bad in ("", "dance", "user alice", "export xml", "stats tomorrowish", "message"):
        with pytest.raises(AuditUsageError):
            parse_audit(bad)


# -- queries ----------------------------------------------------------------------------------------------------------


async def test_a_delivered_output_has_its_whole_provenance(seeded):
    record = await provenance_for(seeded, GUILD, Target(message_id=1001))
    assert record is not None and record.id == DELIVERED
    assert record.request["user_id"] == ALICE and record.request["prompt"] == "a lighthouse keeper"
    assert [g["seed"] for g in record.generations] == [1234]
    assert [(v["stage"], v["decision"]) for v in record.verdicts] == [("input", "pass"), ("output", "pass")]
    assert [d["message_id"] for d in record.deliveries] == [1001]
    async with seeded.connect() as connection:
        entries = (
            await connection.execute(
                select(ChainEntry.seq, ChainEntry.chain_hash, ChainEntry.chain)
                .where(ChainEntry.kind == "request", ChainEntry.record_id == DELIVERED)
                .order_by(ChainEntry.seq)
            )
        ).all()
    assert entries and (record.chain.seq, record.chain.chain_hash, record.chain.chain) == tuple(entries[-1])

    card = "\n".join(card_lines(record, DISCORD))
    for expected in (
        f"request `{DELIVERED}` · **delivered**", f"<@{ALICE}> (alice)", f"<#{CHANNEL}>", "> a lighthouse keeper",
        "`HuggingFaceTB/SmolLM2-135M`", "seed 1234", "temperature 0.8", "40 prompt + 60 output tokens",
        "input` toxicity/embedded 1.0: pass · toxicity 0.02 / 0.90", "Policy hash: `" + "p" * 64,
        f"https://discord.com/channels/{GUILD}/{CHANNEL}/1001", f"Chain: entry {record.chain.seq} of chain {GUILD}",
        "unfiltered: the same as shown",
    ):  # fmt: skip
        assert expected in card, expected


async def test_a_blocked_output_shows_every_attempt_and_why(seeded):
    record = await provenance(seeded, GUILD, BLOCKED)
    assert [g["attempt"] for g in record.generations] == [1, 2]
    card = "\n".join(card_lines(record, PLAIN))
    assert "Why blocked: output toxicity: insult" in card
    assert "Attempt 1" in card and "Attempt 2" in card and "seed 1236" in card
    assert f"a1 output#1 toxicity/embedded 1.0: block · insult 0.93 / 0.55 · “{INSULT}”" in card
    assert "Model output, unfiltered" in card and INSULT in card, "the raw text differs from what was shown"
    assert "notice (terminal)" not in card and "notice https://discord.com/channels" in card


async def test_a_review_post_leads_to_its_request_with_the_decision(seeded):
    record = await provenance_for(seeded, GUILD, Target(message_id=3001))
    assert record is not None and record.id == HELD
    card = "\n".join(card_lines(record, DISCORD))
    assert "Review #1: approved by <@99>" in card and "chained 3 times" in card


async def test_every_query_sees_only_its_guild(seeded):
    elsewhere = Target(message_id=2001)
    assert await provenance_for(seeded, GUILD, elsewhere) is None
    assert await find_request(seeded, GUILD, Target(request_id=ELSEWHERE)) is None
    assert await provenance(seeded, GUILD, ELSEWHERE) is None
    linked = Target(message_id=1001, link_guild_id=OTHER)
    assert await find_request(seeded, GUILD, linked) is None, "a link into another guild is not followed"
    assert await owner_guild(seeded, elsewhere) == (True, OTHER)
    assert await owner_guild(seeded, Target(message_id=999)) == (False, None)
    assert (await provenance_for(seeded, OTHER, elsewhere)).id == ELSEWHERE
    assert (await provenance_for(seeded, ALL_GUILDS, elsewhere)).id == ELSEWHERE, "operators see every guild"

    alice_here = await list_requests(seeded, GUILD, user_id=ALICE)
    assert ELSEWHERE not in [row.id for row in alice_here.rows]
    assert (await list_requests(seeded, OTHER, flagged=True)).total == 0
    assert (await stats(seeded, OTHER)).requests == 1
    assert await count_requests(seeded, GUILD) == 6 and await count_requests(seeded, ALL_GUILDS) == 7
    assert ELSEWHERE not in [r.id async for r in iter_records(seeded, GUILD)]


async def test_a_members_requests_newest_first_and_since(seeded):
    page = await list_requests(seeded, GUILD, user_id=ALICE)
    assert [row.id for row in page.rows] == [DELIVERED, BLOCKED, HELD, OLD_FLAGGED] and page.total == 4
    recent = await list_requests(seeded, GUILD, user_id=ALICE, since=parse_since("7d"))
    assert [row.id for row in recent.rows] == [DELIVERED, BLOCKED, HELD]
    # An offset in `since` means the same instant on every backend: 90 minutes ago, written in UTC+05:00.
    shifted = (NOW - timedelta(minutes=90)).astimezone(timezone(timedelta(hours=5))).isoformat()
    assert parse_since(shifted).utcoffset() == timedelta(0)
    assert [row.id for row in (await list_requests(seeded, GUILD, since=parse_since(shifted))).rows] == [REJECTED, DELIVERED]
    paged = await list_requests(seeded, GUILD, user_id=ALICE, limit=2, offset=2)
    assert [row.id for row in paged.rows] == [HELD, OLD_FLAGGED] and paged.total == 4
    text_out = "\n".join(list_lines("Requests by alice", page, DISCORD))
    assert "4 requests" in text_out and f"`{BLOCKED}`" in text_out and "toxicity block insult 0.93" in text_out


async def test_flagged_requests_by_category(seeded):
    flagged = await list_requests(seeded, GUILD, flagged=True)
    assert [row.id for row in flagged.rows] == [BLOCKED, REDACTED, HELD, OLD_FLAGGED]
    assert {f["decision"] for row in flagged.rows for f in row.flags} == {"block", "redact", "flag"}
    insults = await list_requests(seeded, GUILD, flagged=True, category="insult")
    assert [row.id for row in insults.rows] == [BLOCKED] and len(insults.rows[0].flags) == 2
    assert (await list_requests(seeded, GUILD, category="misinformation", since=parse_since("7d"))).total == 0


async def test_stats_count_statuses_rails_and_categories(seeded):
    result = await stats(seeded, GUILD)
    assert (result.requests, result.members, result.flagged_requests) == (6, 2, 4)
    assert result.by_status == {"delivered": 4, "blocked": 1, "rejected": 1}
    assert result.by_rail == {
        ("toxicity", "pass"): 2, ("toxicity", "block"): 3, ("toxicity", "redact"): 1, ("misinformation", "flag"): 1,
    }  # fmt: skip
    assert result.top_categories[0] == ("insult", 2)
    assert set(result.top_categories) == {("insult", 2), ("threat", 1), ("toxicity", 1), ("misinformation", 1)}
    recent = await stats(seeded, GUILD, since=parse_since("7d"))
    assert recent.requests == 5 and ("misinformation", "flag") not in recent.by_rail
    shown = "\n".join(stats_lines(result, DISCORD))
    assert "Requests: 6 from 2 members" in shown and "delivered 4" in shown and "toxicity: block 3, pass 2, redact 1" in shown


def test_pages_stay_under_discords_limit():
    lines = [f"line {n} " + "x" * 150 for n in range(60)] + ["y" * 4500]
    pages = paginate(lines)
    assert len(pages) > 3 and all(len(page) <= 1900 for page in pages)
    assert "".join(pages).count("y") == 4500


# -- exports ----------------------------------------------------------------------------------------------------------


async def test_csv_export_has_a_row_per_request(seeded):
    data, count = await export_bytes(iter_records(seeded, GUILD), "csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert count == len(rows) == 6 and tuple(rows[0]) == CSV_COLUMNS
    by_id = {row["request_id"]: row for row in rows}
    assert set(by_id) == {DELIVERED, BLOCKED, REDACTED, OLD_FLAGGED, REJECTED, HELD}
    blocked = by_id[BLOCKED]
    assert (blocked["status"], blocked["attempts"], blocked["seed"], blocked["not_passed_categories"]) == ("blocked", "2", "1236", "insult")
    assert by_id[HELD]["review"] == "#1 approved" and by_id[DELIVERED]["message_ids"] == "1001"
    assert by_id[DELIVERED]["chain"] == str(GUILD) and len(by_id[DELIVERED]["chain_hash"]) == 64
    assert [row["request_id"] for row in rows][0] == OLD_FLAGGED, "oldest first"


async def test_jsonl_export_has_a_whole_record_per_line(seeded):
    data, count = await export_bytes(iter_records(seeded, GUILD, since=parse_since("7d"), batch=2), "jsonl")
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert count == len(lines) == 5, "since, across several batches"
    blocked = next(line for line in lines if line["request"]["id"] == BLOCKED)
    assert [g["attempt"] for g in blocked["generations"]] == [1, 2]
    assert blocked["verdicts"][0]["scores"] == {"insult": 0.93, "toxicity": 0.91}
    assert blocked["chain"]["seq"] >= 1 and blocked["request"]["created_at"].endswith("+00:00")


async def test_prov_json_export_is_a_prov_document(seeded):
    data, count = await export_bytes(iter_records(seeded, GUILD), "prov-json")
    document = json.loads(data)
    assert count == 6
    assert {"prefix", "entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith", "wasAttributedTo"} <= set(document)
    assert document["prefix"]["prov"] == "http://www.w3.org/ns/prov#"
    entities, activities, agents = document["entity"], document["activity"], document["agent"]
    assert entities[f"storyloom:prompt_{DELIVERED}"]["prov:value"] == "a lighthouse keeper"
    output = entities[f"storyloom:output_{DELIVERED[:30]}g1"]
    assert output["prov:value"] == "The keeper climbed the stairs at dusk." and output["storyloom:shown"] is True
    assert agents[f"storyloom:member_{ALICE}"]["prov:type"] == {"$": "prov:Person", "type": "prov:QUALIFIED_NAME"}
    assert any(agent["prov:type"]["$"] == "prov:SoftwareAgent" for agent in agents.values())
    assert any(agent["prov:type"]["$"] == "storyloom:GuardrailPolicy" for agent in agents.values())
    generation = f"storyloom:generation_{DELIVERED[:30]}g1"
    assert activities[generation]["prov:startTime"]["type"] == "xsd:dateTime"
    assert any(u["prov:activity"] == generation and u["prov:entity"] == f"storyloom:prompt_{DELIVERED}" for u in document["used"].values())
    assert any(g["prov:entity"] == f"storyloom:output_{DELIVERED[:30]}g1" and g["prov:activity"] == generation
               for g in document["wasGeneratedBy"].values())  # fmt: skip
    associated = {a["prov:agent"] for a in document["wasAssociatedWith"].values() if a["prov:activity"] == generation}
    assert {f"storyloom:member_{ALICE}", "storyloom:model_openai_HuggingFaceTB_SmolLM2-135M", f"storyloom:policy_{'p' * 32}"} == associated
    # Every relation names elements the document declares.
    declared = set(entities) | set(activities) | set(agents)
    for section in ("used", "wasGeneratedBy", "wasAssociatedWith", "wasAttributedTo", "wasDerivedFrom", "wasInformedBy"):
        for relation in document[section].values():
            for key in ("prov:activity", "prov:entity", "prov:agent", "prov:generatedEntity", "prov:usedEntity",
                        "prov:informed", "prov:informant"):  # fmt: skip
                if key in relation:
                    assert relation[key] in declared, (section, relation)
    assert not any(ELSEWHERE in key for key in declared)


async def test_prov_json_reads_back_with_the_prov_library(seeded):
    from prov import model as prov_model  # the W3C PROV reference implementation for Python

    data, _ = await export_bytes(iter_records(seeded, GUILD), "prov-json")
    document = prov_model.ProvDocument.deserialize(content=data.decode(), format="json")
    assert len(list(document.get_records(prov_model.ProvEntity))) == 6 + 6  # six prompts, six attempts' outputs
    assert len(list(document.get_records(prov_model.ProvAgent))) == 4  # alice, bob, the model, the policy
    assert len(list(document.get_records(prov_model.ProvGeneration))) == 6


# -- indexes ----------------------------------------------------------------------------------------------------------


async def test_the_audit_queries_use_their_indexes(sqlite_database):
    """SQLite's plan for each audit query names an index, not a scan of the table."""

    async def plan(sql: str) -> str:
        async with sqlite_database.connect() as connection:
            rows = (await connection.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
        return " | ".join(row[-1] for row in rows)

    user = await plan("SELECT id FROM requests WHERE guild_id = 5 AND user_id = 7 ORDER BY created_at DESC LIMIT 50")
    assert "ix_requests_guild_user_created" in user
    flagged = await plan(
        "SELECT request_id FROM verdicts WHERE guild_id = 5 AND decision IN ('block','redact','flag','error') "
        "AND category = 'insult'"
    )
    assert "ix_verdicts_guild_decision" in flagged
    delivered = await plan("SELECT request_id FROM deliveries WHERE message_id = 1001")
    assert "ix_deliveries_message_id" in delivered
    reviewed = await plan("SELECT request_id FROM reviews WHERE review_message_id = 3001")
    assert "ix_reviews_review_message_id" in reviewed
    by_rail = await plan(
        "SELECT rail, decision, count(*) FROM verdicts WHERE guild_id = 5 AND created_at >= '2026-11-01' "
        "GROUP BY rail, decision"
    )
    assert "COVERING INDEX ix_verdicts_guild_rail" in by_rail and "TEMP B-TREE" not in by_rail


# -- command line and terminal mode --------------------------------------------------------------------------------


def test_the_command_line_answers_every_query(tmp_path, monkeypatch, capsys):
    from bot.cli.main import main

    async def prepare() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'storyloom.sqlite3'}")
        await upgrade(engine)
        await seed(engine)
        await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("STORYLOOM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STORYLOOM_DATABASE_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["audit", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, _ = run("message", "1002", "--guild", str(GUILD))
    assert code == 0 and f"request {BLOCKED}" in out and "alice (7)" in out and "block · insult 0.93 / 0.55" in out
    code, _, err = run("message", "2001", "--guild", str(GUILD))
    assert code == 1 and "no Storyloom output" in err
    code, out, _ = run("message", "2001")
    assert code == 0 and "the other guild's secret" in out, "operators may omit --guild"

    code, out, _ = run("user", str(ALICE), "--guild", str(GUILD), "--since", "7d")
    header, rule, *rows = out.splitlines()
    assert header.split()[:3] == ["request", "created", "(UTC)"] and set(rule) <= {"-", " "}
    assert [row.split()[0] for row in rows[:3]] == [DELIVERED, BLOCKED, HELD] and "3 in all" in out

    code, out, _ = run("flagged", "--category", "insult")
    assert code == 0 and BLOCKED in out and "toxicity:block:insult" in out and REDACTED not in out
    code, out, _ = run("stats", "--guild", str(GUILD))
    assert "6 requests from 2 members" in out and "delivered" in out and "misinformation" in out

    target = tmp_path / "all.jsonl"
    code, out, err = run("export", "--format", "jsonl", "-o", str(target))
    assert code == 0 and "exported 7 records" in out and "exporting" not in err, "no progress bar off a terminal"
    assert len(target.read_text().splitlines()) == 7
    code, out, _ = run("export", "--format", "csv", "--guild", str(OTHER), "-o", "-")
    assert [row["request_id"] for row in csv.DictReader(io.StringIO(out))] == [ELSEWHERE]


async def test_audit_typed_in_the_terminal_sees_the_local_guild(seeded, tmp_path):
    async def flush() -> None:
        return None

    core = SimpleNamespace(database=seeded, recorder=SimpleNamespace(flush=flush), settings=SimpleNamespace(data_dir=tmp_path))
    author = SimpleNamespace(guild_id=GUILD, channel_id=None, user_id=1)
    out = io.StringIO()
    from bot.terminal.repl import run_command

    assert await run_command(core, author, parse("/audit stats 7d"), out) is None  # the terminal mode's own path
    await run_typed_audit(core, author, "message 2001", out)
    await run_typed_audit(core, author, f"message {DELIVERED}", out)
    await run_typed_audit(core, author, "export prov-json", out)
    await run_typed_audit(core, author, "sing", out)
    said = out.getvalue()
    assert "Requests: 5 from 2 members" in said
    assert "I have no Storyloom output for that in this server." in said
    assert f"request {DELIVERED} · delivered" in said and "alice (7)" in said
    assert "exported 6 records (prov-json) to" in said and "Audit commands:" in said
    exported = next((tmp_path / "exports").glob("*.prov.json"))
    assert "entity" in json.loads(exported.read_text())
    async with seeded.connect() as connection:
        actions = (await connection.execute(select(ModerationAction.action, ModerationAction.details))).all()
    assert [details["command"] for action, details in actions if action == "audit_query"] == ["stats", "message", "message", "export"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_empty_guild_exports_cleanly(database, fmt):
    data, count = await export_bytes(iter_records(database, 12345), fmt)
    assert count == 0
    if fmt == "csv":
        assert data.decode().splitlines() == [",".join(CSV_COLUMNS)]
    elif fmt == "prov-json":
        assert json.loads(data)["prefix"]["storyloom"] == "urn:storyloom:"
    else:
        assert data == b""
