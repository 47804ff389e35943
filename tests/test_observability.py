"""Observability: Prometheus metrics after real pipeline runs, `/health` and `/ready`, JSON logs, secrets kept out."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Settings
from bot.core.app import Core
from bot.core.request import Author, Outcome, WriteJob
from bot.discord.bot import StoryloomBot
from bot.engines.openai_engine import OpenAIEngine
from bot.logs import MASK, REQUEST_ID, make_handler
from bot.metrics import MetricsServer
from storage.models import Request, RequestStatus
from tests.fakediscord import FAST_CLIENT_OPTIONS
from tests.test_pipeline import BENIGN, RecordingSink

AUTHOR = Author(interface="local", user_id=42, user_name="ada", guild_id=7, channel_id=10, exempt_from_rate_limit=True)


def write(about: str | None) -> WriteJob:
    return WriteJob(command="write", kind="poem", prompt=about, length="short")


@pytest.fixture
async def core(tmp_path, default_rails, openai_server):
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url])
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    yield core
    await core.close()
    await engine.close()


@pytest.fixture
async def server(core):
    server = MetricsServer("127.0.0.1", 0, core.readiness)
    await server.start()
    yield server
    await server.close()


async def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_requests_latencies_tokens_verdicts_and_engine_errors(core, server, openai_server):
    openai_server.scripted_reply = BENIGN
    before = await scrape(server)

    delivered = await core.pipeline.run(AUTHOR, write("a lighthouse keeper"), RecordingSink())
    rejected = await core.pipeline.run(AUTHOR, write(""), RecordingSink())
    openai_server.fail_status = 500
    failed = await core.pipeline.run(AUTHOR, write("a storm at sea"), RecordingSink())
    assert [o.status for o in (delivered, rejected, failed)] == ["delivered", "rejected", "failed"]

    after = await scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    for status in ("delivered", "rejected", "failed"):
        assert delta("storyloom_requests_total", command="write", status=status) == 1
    assert delta("storyloom_request_duration_seconds_count", command="write") == 3
    assert delta("storyloom_queue_wait_seconds_count") == 2, "the rejected request never queued"
    assert delta("storyloom_time_to_first_token_seconds_count", engine="openai") == 1
    assert delta("storyloom_generation_duration_seconds_count", engine="openai") == 1
    assert delta("storyloom_output_tokens_total", engine="openai") == len(BENIGN.split(" "))
    assert delta("storyloom_engine_errors_total", engine="openai") == 1
    assert value(after, "storyloom_queue_depth") == 0 and value(after, "storyloom_generations_in_flight") == 0

    expected = Counter((v.stage, v.rail, v.decision) for o in (delivered, failed) for v in o.verdicts)
    assert expected[("output", "toxicity", "pass")] >= 1 and expected[("input", "injection", "pass")] == 2
    for (stage, rail, decision), count in expected.items():
        assert delta("storyloom_verdicts_total", stage=stage, rail=rail, decision=decision) == count


async def test_health_and_ready(core, server, tmp_path):
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{server.url}/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await client.get(f"{server.url}/ready")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checks": {"database": True, "engine": True, "records": True}}

        core.engine_started = False
        not_started = await client.get(f"{server.url}/ready")
        assert not_started.status_code == 503 and not_started.json()["checks"]["engine"] is False
        core.engine_started = True

        real, core.database = core.database, create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/gone/x.sqlite3")
        try:
            gone = await client.get(f"{server.url}/ready")
        finally:
            await core.database.dispose()
            core.database = real
        assert gone.status_code == 503
        assert gone.json()["checks"] == {"database": False, "engine": True, "records": True}

        assert (await client.get(f"{server.url}/ready")).status_code == 200
        await core.drain(0)  # shutting down: no longer ready, still alive
        assert (await client.get(f"{server.url}/ready")).status_code == 503
        assert (await client.get(f"{server.url}/health")).status_code == 200


async def test_draining_refuses_new_requests_with_a_record(core, server):
    await core.drain(0)
    sink = RecordingSink()
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse keeper"), sink)
    assert outcome.status == RequestStatus.REJECTED and "shutting down" in sink.refused
    await core.recorder.flush()
    async with core.database.connect() as connection:
        [row] = (await connection.execute(select(Request).where(Request.id == outcome.request_id))).all()
    assert (row.status, row.status_reason) == ("rejected", "shutting_down")
    assert value(await scrape(server), "storyloom_shutting_down") == 1


async def test_json_log_lines_parse_and_carry_the_request_id(core, openai_server):
    stream = io.StringIO()
    handler = make_handler("json", stream=stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("storyloom.test").warning("before any request")
        openai_server.fail_status = 500  # the pipeline logs a warning about this request
        outcome: Outcome = await core.pipeline.run(AUTHOR, write("a storm at sea"), RecordingSink())
        logging.getLogger("storyloom.test").warning("after it")
    finally:
        root.removeHandler(handler)
    assert REQUEST_ID.get() is None, "the request id does not leak out of Pipeline.run"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert "request_id" not in lines[0] and "request_id" not in lines[-1]
    about = [line for line in lines if line.get("request_id") == outcome.request_id]
    assert any(line["logger"] == "bot.core.pipeline" and line["level"] == "WARNING" for line in about), lines


async def test_the_discord_token_never_reaches_the_logs(tmp_path, fake_discord, default_rails, openai_server):
    token = fake_discord.token
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], discord_token=token,
        engine_api_key="sk-very-secret-key",
    )  # fmt: skip
    assert token in settings.secrets() and "sk-very-secret-key" in settings.secrets()
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    streams = {fmt: io.StringIO() for fmt in ("text", "json")}
    handlers = [make_handler(fmt, settings.secrets(), stream) for fmt, stream in streams.items()]
    root, level = logging.getLogger(), logging.getLogger().level
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
        assert core.readiness["gateway"]() is False  # /ready says no from the bot's construction until its gateway is up
        async with fake_discord.run_bot(bot):
            assert core.readiness["gateway"]() is True
            log = logging.getLogger("storyloom.test")
            log.info("logging in with %s", token)
            try:
                raise RuntimeError(f"bad token {token!r} / key sk-very-secret-key")
            except RuntimeError:
                log.exception("login failed")
        assert bot.gateway_connected() is False
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)
        await core.close()
        await engine.close()
    for fmt, stream in streams.items():
        text = stream.getvalue()
        assert "discord" in text, f"{fmt}: discord.py's own debug lines were captured too"
        assert token not in text and "sk-very-secret-key" not in text, fmt
        assert MASK in text
    for line in streams["json"].getvalue().splitlines():
        json.loads(line)
