"""Clean shutdown: a real `storyloom local` process, a real signal mid-generation, a clean record and exit 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.core.app import Core
from bot.engines.openai_engine import OpenAIEngine
from storage.models import RequestStatus
from tests.test_observability import AUTHOR, write
from tests.test_pipeline import RecordingSink


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def metrics(url: str) -> dict[tuple[str, tuple], float]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        response = await client.get(f"{url}/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def run_until_signalled(
    tmp_path, server, sig: signal.Signals, grace_s: float
) -> tuple[int, str, str, dict, float]:
    """Start `storyloom local`, have it serve one refusal then a slow generation, signal it mid-generation.

    Returns the exit status, stdout, stderr, the metrics seen before the signal, and seconds from signal to exit."""
    port = free_port()
    env = {
        **os.environ,
        "STORYLOOM_DATA_DIR": str(tmp_path),
        "STORYLOOM_ENGINE": "openai",
        "STORYLOOM_ENGINE_URLS": server.base_url,
        "STORYLOOM_TOXICITY_BACKEND": "embedded",
        "STORYLOOM_METRICS_PORT": str(port),
        "STORYLOOM_LOG_FORMAT": "json",
        "STORYLOOM_SHUTDOWN_GRACE_S": str(grace_s),
    }
    env.pop("DISCORD_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "local",
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        # stdin stays open: the process must stop because of the signal, not at end of input.
        process.stdin.write(b"/write poem\n/write poem about a lighthouse keeper length:short\n")
        await process.stdin.drain()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        seen: dict = {}
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            try:
                seen = await metrics(url)
            except httpx.HTTPError:
                seen = {}
            if seen.get(("storyloom_generations_in_flight", ())) == 1 and server.in_flight:
                break  # the engine is streaming the reply
            await asyncio.sleep(0.05)
        assert seen.get(("storyloom_generations_in_flight", ())) == 1 and server.in_flight, "no generation in flight"
        process.send_signal(sig)
        signalled = time.monotonic()
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        stopped_in = time.monotonic() - signalled
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, stdout.decode(), stderr.decode(), seen, stopped_in


def records(tmp_path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as database:
        requests = database.execute("SELECT prompt, status, status_reason FROM requests ORDER BY created_at").fetchall()
        generations = database.execute("SELECT finish_reason, output_tokens FROM generations").fetchall()
    return requests, generations


def check_common(returncode: int, stderr: str, seen: dict) -> None:
    assert returncode == 0, stderr[-3000:]
    # The metrics endpoint served real numbers before the signal: the refusal, the slot in use.
    assert seen[("storyloom_requests_total", (("command", "write"), ("status", "rejected")))] == 1
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any("shutting down" in line["message"] for line in lines), stderr[-3000:]


async def test_sigterm_lets_the_generation_in_flight_finish_and_exits_zero(tmp_path, openai_server):
    openai_server.token_delay_s = 0.1  # about 1.2 s of generation: well within the grace
    returncode, stdout, stderr, seen, _ = await run_until_signalled(tmp_path, openai_server, signal.SIGTERM, 20)
    check_common(returncode, stderr, seen)
    assert "[delivered]" in stdout
    requests, generations = records(tmp_path)
    assert [(status, reason) for _, status, reason in requests] == [("rejected", "empty"), ("delivered", None)]
    assert generations == [("stop", openai_server.reply_token_count)]


async def test_sigint_past_the_grace_marks_the_generation_interrupted_and_exits_zero(tmp_path, openai_server):
    openai_server.token_delay_s = 1.0  # 12 s of generation: far past a 0.5 s grace
    returncode, stdout, stderr, seen, stopped_in = await run_until_signalled(tmp_path, openai_server, signal.SIGINT, 0.5)
    check_common(returncode, stderr, seen)
    assert stopped_in < 10, "the process waited for the generation, not for the grace"
    assert "[delivered]" not in stdout and "Traceback" not in stderr
    requests, generations = records(tmp_path)
    assert [(status, reason) for _, status, reason in requests] == [("rejected", "empty"), ("interrupted", "shutdown")]
    assert generations == [("cancelled", None)]
    await asyncio.wait_for(openai_server.client_disconnected.wait(), 5)  # the engine request was cancelled too


async def test_drain_in_process_interrupts_what_outlives_the_grace(tmp_path, default_rails, openai_server):
    openai_server.token_delay_s = 1.0
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url])
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    try:
        running = asyncio.create_task(core.pipeline.run(AUTHOR, write("a lighthouse keeper"), RecordingSink()))
        while core.pipeline.gate.running == 0:
            await asyncio.sleep(0.01)
        assert await core.drain(0.1) == 1
        assert running.cancelled()
        assert core.pipeline.open_requests == 0
        await core.recorder.flush()
        with sqlite3.connect(tmp_path / "storyloom.sqlite3") as database:
            statuses = database.execute("SELECT status, status_reason FROM requests").fetchall()
        assert statuses == [(RequestStatus.INTERRUPTED.value, "shutdown")]
    finally:
        await core.close()
        await engine.close()


async def test_the_discord_bot_drains_then_logs_out(tmp_path, fake_discord, default_rails, openai_server):
    from bot.discord.bot import StoryloomBot
    from tests.fakediscord import FAST_CLIENT_OPTIONS

    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], shutdown_grace_s=0)
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    core = await Core.start(settings, engine=engine, rails=default_rails)
    try:
        async with fake_discord.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)) as bot:
            assert bot.gateway_connected()
            await bot.shutdown()
            assert bot.is_closed() and not bot.gateway_connected()
            assert core.pipeline.draining and core.readiness["accepting"]() is False
    finally:
        await core.close()
        await engine.close()


@pytest.mark.slow
async def test_a_discord_mode_process_finishes_the_reply_then_logs_out_on_sigterm(tmp_path, fake_discord, openai_server):
    """`storyloom run` with a token, a real process on the loopback Discord (as through a REST and gateway proxy)."""
    openai_server.token_delay_s = 0.1  # about 1.2 s of generation: well within the grace
    port = free_port()
    env = {
        **os.environ,
        "DISCORD_TOKEN": fake_discord.token,
        "STORYLOOM_DISCORD_API_URL": fake_discord.api_base,
        "STORYLOOM_DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        "STORYLOOM_DISCORD_SYNC_GUILD": str(fake_discord.guild.id),  # a start registers commands only so
        "STORYLOOM_DATA_DIR": str(tmp_path),
        "STORYLOOM_ENGINE": "openai",
        "STORYLOOM_ENGINE_URLS": openai_server.base_url,
        "STORYLOOM_TOXICITY_BACKEND": "embedded",
        "STORYLOOM_METRICS_PORT": str(port),
        "STORYLOOM_LOG_FORMAT": "json",
        "STORYLOOM_SHUTDOWN_GRACE_S": "20",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        ready = None
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline and process.returncode is None:
                try:
                    ready = (await client.get(f"http://127.0.0.1:{port}/ready")).status_code
                except httpx.HTTPError:
                    ready = None
                if ready == 200:
                    break
                await asyncio.sleep(0.1)
        assert ready == 200, "the bot never became ready on the loopback Discord"
        record = await fake_discord.slash("write", {"kind": "poem", "about": "a lighthouse keeper"}, user=fake_discord.alice)
        await fake_discord.wait_for(lambda: bool(openai_server.in_flight), timeout=30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-3000:]
    assert "request `" in record.original.content  # the whole reply with its disclosure line, after the signal
    assert fake_discord.gateway.sessions and all(session.ws is None for session in fake_discord.gateway.sessions)
    with sqlite3.connect(tmp_path / "storyloom.sqlite3") as database:
        assert database.execute("SELECT status FROM requests").fetchall() == [("delivered",)]
