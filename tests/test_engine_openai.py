"""The `openai` engine against real HTTP servers on loopback (`tests/fake_openai.py`): streaming, parameters,
round-robin, failover, cancellation and secrecy of the API key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.config import Settings
from bot.engines.base import Delta, EngineError, SamplingParams, Usage
from bot.engines.openai_engine import OpenAIEngine
from tests.fake_openai import FakeOpenAIServer, prompt_token_count, reply_tokens
from tests.plugins.openai_server import OpenAIServerFactory

MESSAGES = [{"role": "system", "content": "You write tiny poems."}, {"role": "user", "content": "A poem about rain"}]
PARAMS = SamplingParams(max_tokens=64, temperature=0.7, top_p=0.9, seed=7, repetition_penalty=1.1)
API_KEY = "sk-test-0123456789-very-secret"

EngineFactory = Callable[..., OpenAIEngine]


def expected_text(messages: list[dict[str, str]] = MESSAGES, seed: int | None = PARAMS.seed, count: int = 12) -> str:
    return "".join(reply_tokens(messages, seed, count))


@pytest.fixture
async def engine_factory() -> AsyncIterator[EngineFactory]:
    """Build engines over servers or URLs (short timeouts, so that faults show quickly); all close at the end."""
    engines: list[OpenAIEngine] = []

    def build(replicas: list[FakeOpenAIServer | str], model: str = "fake/smollm2", **options: Any) -> OpenAIEngine:
        urls = [replica if isinstance(replica, str) else replica.base_url for replica in replicas]
        # Short timeouts, so that faults show quickly; health checks only where a test asks for them.
        options = {"connect_timeout_s": 1.0, "read_timeout_s": 2.0, "health_interval_s": 0} | options
        engine = OpenAIEngine(urls, model, **options)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.close()


async def collect(
    engine: OpenAIEngine, params: SamplingParams = PARAMS, request_id: str = "req-1"
) -> tuple[list[Delta], Usage]:
    events = [event async for event in engine.stream(MESSAGES, params, request_id)]
    assert isinstance(events[-1], Usage)
    assert all(isinstance(event, Delta) for event in events[:-1])
    return events[:-1], events[-1]  # type: ignore[return-value]


async def test_streams_deltas_then_one_usage(openai_server: FakeOpenAIServer, engine_factory: EngineFactory) -> None:
    engine = engine_factory([openai_server])
    await engine.start()

    deltas, usage = await collect(engine)

    assert "".join(delta.text for delta in deltas) == expected_text()
    assert len(deltas) == 12  # one Delta per token; vLLM's role-only first chunk yields none
    assert (usage.prompt_tokens, usage.output_tokens, usage.finish_reason) == (prompt_token_count(MESSAGES), 12, "stop")
    assert usage.time_to_first_token_s is not None and 0 < usage.time_to_first_token_s < usage.total_time_s
    assert usage.extra == {"replica": openai_server.base_url, "failovers": [], "model": "fake/smollm2"}


async def test_sends_sampling_params_seed_and_request_id(
    openai_server: FakeOpenAIServer, engine_factory: EngineFactory
) -> None:
    engine = engine_factory([openai_server])

    _, usage = await collect(engine, SamplingParams(max_tokens=5, temperature=0.7, top_p=0.9, seed=7), "req-42")
    await collect(engine, SamplingParams(repetition_penalty=1.0, seed=None))

    first, second = openai_server.chat_requests
    assert first.body == {
        "model": "fake/smollm2",
        "messages": MESSAGES,
        "max_tokens": 5,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 7,
        "repetition_penalty": 1.1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert first.headers["X-Request-Id"] == "req-42"
    assert (usage.output_tokens, usage.finish_reason) == (5, "length")
    # A neutral penalty and no seed are left out rather than sent as defaults.
    assert second.body is not None and "repetition_penalty" not in second.body and "seed" not in second.body


@pytest.mark.parametrize("call_start", [True, False], ids=["discovered-at-start", "discovered-on-first-request"])
async def test_alias_or_path_model_is_sent_under_its_served_name(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory, call_start: bool
) -> None:
    server = await openai_server_factory(model_id="/srv/models/smollm2-bf16")
    engine = engine_factory([server], model="smollm2")
    if call_start:
        await engine.start()

    deltas, usage = await collect(engine)

    assert engine.model_id == usage.extra["model"] == "/srv/models/smollm2-bf16"
    assert server.chat_requests[0].body["model"] == "/srv/models/smollm2-bf16"  # type: ignore[index]
    assert "".join(delta.text for delta in deltas) == expected_text()


async def test_hub_model_id_is_sent_as_configured_without_discovery(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    server = await openai_server_factory(model_id="HuggingFaceTB/SmolLM2-135M-Instruct")
    engine = engine_factory([server], model="HuggingFaceTB/SmolLM2-135M-Instruct")

    await collect(engine)

    assert [request.path for request in server.requests] == ["/v1/chat/completions"]


async def test_server_rejecting_vllm_extras_gets_the_request_again_without_them(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    server = await openai_server_factory(reject_unknown_fields=True)
    engine = engine_factory([server])

    first_deltas, _ = await collect(engine)
    second_deltas, _ = await collect(engine)

    assert "".join(delta.text for delta in first_deltas) == "".join(delta.text for delta in second_deltas)
    sent_penalty = ["repetition_penalty" in (request.body or {}) for request in server.chat_requests]
    assert sent_penalty == [True, False, False]  # rejected once, then remembered for that replica


async def test_requests_go_round_robin_across_replicas(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    first, second = await openai_server_factory(), await openai_server_factory()
    engine = engine_factory([first, second])
    await engine.start()

    served_by = [(await collect(engine))[1].extra["replica"] for _ in range(4)]

    assert served_by == [first.base_url, second.base_url, first.base_url, second.base_url]
    assert len(first.chat_requests) == len(second.chat_requests) == 2


@pytest.mark.parametrize("fault", ["http-500", "connection-refused", "hang"])
async def test_failure_before_first_token_fails_over_and_cools_off(
    openai_server_factory: OpenAIServerFactory,
    engine_factory: EngineFactory,
    refused_base_url: str,
    fault: str,
) -> None:
    healthy = await openai_server_factory()
    broken: FakeOpenAIServer | None = None
    if fault == "connection-refused":
        broken_url = refused_base_url
    else:
        broken = await openai_server_factory()
        broken_url = broken.base_url
    engine = engine_factory([broken_url, healthy], read_timeout_s=0.3)
    if broken is not None:
        await engine.start()  # both up at start: the replica breaks later, as in a running bot
        if fault == "http-500":
            broken.fail_status = 500
        else:
            broken.hang_s = 30

    first_deltas, first_usage = await collect(engine)
    _, second_usage = await collect(engine)

    assert "".join(delta.text for delta in first_deltas) == expected_text()
    assert first_usage.extra["replica"] == second_usage.extra["replica"] == healthy.base_url
    [failover] = first_usage.extra["failovers"]
    assert failover["replica"] == broken_url
    assert {"http-500": "HTTP 500", "connection-refused": "ConnectError", "hang": "timeout"}[fault] in failover["error"]
    # In cool-off the broken replica is skipped, although round-robin would have picked it first again.
    assert second_usage.extra["failovers"] == []
    assert len(healthy.chat_requests) == 2
    if broken is not None:
        assert len(broken.chat_requests) == 1


async def test_replica_back_after_cooloff_gets_requests_again(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    flaky, steady = await openai_server_factory(fail_status=503), await openai_server_factory()
    engine = engine_factory([flaky, steady], cooloff_s=0.2)
    await collect(engine)
    flaky.fail_status = None

    await asyncio.sleep(0.25)
    served_by = {(await collect(engine))[1].extra["replica"] for _ in range(2)}

    assert served_by == {flaky.base_url, steady.base_url}


async def test_a_replica_dying_mid_reply_is_continued_on_another(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    dropping, spare = await openai_server_factory(drop_after_tokens=3), await openai_server_factory()
    engine = engine_factory([dropping, spare])
    await engine.start()

    deltas, usage = await collect(engine)

    first_three = "".join(reply_tokens(MESSAGES, PARAMS.seed, 12)[:3])
    assert "".join(delta.text for delta in deltas) == expected_text(), "one text, as if never interrupted"
    assert len(deltas) == 12 and usage.output_tokens == 12 and usage.finish_reason == "stop"
    [continuation] = spare.chat_requests
    assert continuation.body["messages"] == [*MESSAGES, {"role": "assistant", "content": first_three}]
    assert continuation.body["continue_final_message"] is True and continuation.body["add_generation_prompt"] is False
    assert continuation.body["max_tokens"] == PARAMS.max_tokens - 3 and continuation.body["seed"] == PARAMS.seed
    failed, finished = usage.extra["replicas"]
    assert (failed["replica"], failed["shown_chars"]) == (dropping.base_url, len(first_three))
    assert finished == {"replica": spare.base_url} and usage.extra["replica"] == spare.base_url


async def test_a_reply_cut_off_everywhere_raises_with_what_was_shown(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    # The second replica is a server without vLLM's extensions: it cannot continue a reply, so it is not asked to
    # start a new one in its place either (the member has seen the start of this one).
    dropping = await openai_server_factory(drop_after_tokens=3)
    plain = await openai_server_factory(reject_unknown_fields=True)
    engine = engine_factory([dropping, plain])
    received: list[str] = []

    with pytest.raises(EngineError) as raised:
        async for event in engine.stream(MESSAGES, PARAMS, "req-drop"):
            assert isinstance(event, Delta)
            received.append(event.text)

    assert "".join(received) == "".join(reply_tokens(MESSAGES, PARAMS.seed, 12)[:3])
    message = str(raised.value)
    assert message.startswith(f"all 2 engine replicas failed after streaming {len(''.join(received))} characters")
    assert dropping.base_url in message and f"{plain.base_url}: cannot continue" in message


async def test_a_replica_dying_on_each_token_is_continued_twice(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    replicas = [await openai_server_factory(drop_after_tokens=4) for _ in range(2)] + [await openai_server_factory()]
    engine = engine_factory(replicas)

    deltas, usage = await collect(engine)

    assert "".join(delta.text for delta in deltas) == expected_text() and usage.output_tokens == 12
    assert [entry["replica"] for entry in usage.extra["replicas"]] == [replica.base_url for replica in replicas]
    assert [entry.get("shown_chars", 0) > 0 for entry in usage.extra["replicas"]] == [True, True, False]


async def test_a_replica_failing_its_health_check_is_skipped_until_it_passes(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sick, well = await openai_server_factory(), await openai_server_factory()
    engine = engine_factory([sick, well], health_interval_s=0.05)
    await engine.start()
    caplog.set_level(logging.INFO, logger="bot.engines.openai_engine")

    sick.healthy = False
    await wait_for(lambda: f"{sick.base_url} is down until its health check passes" in caplog.text)
    served_by = [(await collect(engine))[1].extra["replica"] for _ in range(4)]
    assert served_by == [well.base_url] * 4 and sick.chat_requests == []

    sick.healthy = True
    await wait_for(lambda: f"{sick.base_url} is healthy again" in caplog.text)
    served_by = [(await collect(engine))[1].extra["replica"] for _ in range(4)]
    assert sorted(served_by) == sorted([sick.base_url, well.base_url] * 2)
    health_checks = [request for request in sick.requests if request.path == "/health"]
    assert len(health_checks) >= 2


async def test_a_replica_that_stopped_answering_health_checks_is_still_tried_when_nothing_else_is_up(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory, refused_base_url: str
) -> None:
    # The health check can be wrong (a proxy's /health, a slow answer): a request is never refused on its word alone.
    sick = await openai_server_factory(healthy=False)
    engine = engine_factory([refused_base_url, sick], health_interval_s=0.05)
    await engine.start()
    await asyncio.sleep(0.2)

    deltas, usage = await collect(engine)

    assert "".join(delta.text for delta in deltas) == expected_text() and usage.extra["replica"] == sick.base_url


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_all_replicas_down_raises_a_summary_without_secrets(
    openai_server_factory: OpenAIServerFactory,
    engine_factory: EngineFactory,
    refused_base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = await openai_server_factory(fail_status=500, api_key=API_KEY)
    url_with_password = refused_base_url.replace("http://", "http://bot:hunter2@")
    engine = engine_factory([failing, url_with_password], api_key=API_KEY)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(EngineError) as raised:
        await collect(engine)

    message = str(raised.value)
    assert message.startswith("all 2 engine replicas failed")
    assert failing.base_url in message and "HTTP 500" in message
    assert refused_base_url in message and "ConnectError" in message
    for secret in (API_KEY, "hunter2"):
        assert secret not in message
        assert secret not in caplog.text


async def test_aclose_cancels_the_request_on_the_server(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    server = await openai_server_factory(reply_token_count=200, token_delay_s=0.02)
    engine = engine_factory([server])
    stream = engine.stream(MESSAGES, PARAMS, "req-cancel")

    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert isinstance(first, Delta)
    await asyncio.wait_for(server.client_disconnected.wait(), timeout=2)
    assert server.disconnects == 1 and server.in_flight == 0


async def test_api_key_is_sent_as_bearer_and_never_logged(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await openai_server_factory(api_key=API_KEY)
    engine = engine_factory([server], api_key=API_KEY)
    caplog.set_level(logging.DEBUG)

    await engine.start()
    await collect(engine)

    assert {request.headers["Authorization"] for request in server.requests} == {f"Bearer {API_KEY}"}
    assert caplog.records  # the engine and httpx did log: just not the key
    assert API_KEY not in caplog.text


async def test_engine_is_built_from_settings(openai_server_factory: OpenAIServerFactory) -> None:
    server = await openai_server_factory(api_key=API_KEY)
    settings = Settings(engine="openai", engine_urls=f"{server.base_url}/", engine_api_key=API_KEY, model="smollm2")
    engine = OpenAIEngine.from_settings(settings)
    try:
        text, _ = await engine.complete(MESSAGES, PARAMS, "req-settings")
    finally:
        await engine.close()

    assert text == expected_text()
    assert server.chat_requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


async def test_rejected_request_raises_at_once_without_trying_other_replicas(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    first, second = await openai_server_factory(api_key=API_KEY), await openai_server_factory(api_key=API_KEY)
    engine = engine_factory([first, second], api_key="sk-wrong-key-0000")

    with pytest.raises(EngineError, match="HTTP 401: Unauthorized") as raised:
        await collect(engine)

    assert "sk-wrong-key-0000" not in str(raised.value)
    assert len(first.chat_requests) + len(second.chat_requests) == 1  # a bad request is bad on every replica


async def test_usage_is_estimated_when_the_server_sends_none(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    server = await openai_server_factory(send_usage=False)
    engine = engine_factory([server])

    deltas, usage = await collect(engine)

    assert (usage.prompt_tokens, usage.output_tokens) == (0, len(deltas))
    assert usage.extra["usage_estimated"] is True


async def test_start_reports_replicas_and_survives_down_ones(
    openai_server: FakeOpenAIServer,
    engine_factory: EngineFactory,
    refused_base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = engine_factory([refused_base_url, openai_server])
    caplog.set_level(logging.INFO, logger="bot.engines.openai_engine")

    await engine.start()
    served_by = {(await collect(engine))[1].extra["replica"] for _ in range(3)}

    assert f"{openai_server.base_url} is up" in caplog.text
    assert f"{refused_base_url} is down" in caplog.text
    assert served_by == {openai_server.base_url}  # the replica found down at start is skipped


async def test_eight_concurrent_requests_all_complete(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    replicas = [await openai_server_factory(token_delay_s=0.01), await openai_server_factory(token_delay_s=0.01)]
    engine = engine_factory(replicas)
    prompts = [[{"role": "user", "content": f"Story number {index}"}] for index in range(8)]

    results = await asyncio.gather(
        *(engine.complete(prompt, PARAMS, f"req-{index}") for index, prompt in enumerate(prompts))
    )

    assert [text for text, _ in results] == [expected_text(prompt) for prompt in prompts]
    assert all(usage.output_tokens == 12 and usage.extra["failovers"] == [] for _, usage in results)
    assert [len(replica.chat_requests) for replica in replicas] == [4, 4]
    assert all(replica.max_in_flight > 1 for replica in replicas)  # really concurrent, not queued one by one


async def test_fake_server_answers_without_streaming_too(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{openai_server.base_url}/chat/completions",
            json={"model": "fake/smollm2", "messages": MESSAGES, "seed": 7},
        )

    body = response.json()
    assert body["choices"][0]["message"]["content"] == expected_text()
    assert body["usage"]["completion_tokens"] == 12


async def test_a_replica_dying_on_the_last_token_ends_the_reply_without_another_request(
    openai_server_factory: OpenAIServerFactory, engine_factory: EngineFactory
) -> None:
    dropping, spare = await openai_server_factory(drop_after_tokens=5), await openai_server_factory()
    engine = engine_factory([dropping, spare])

    deltas, usage = await collect(engine, SamplingParams(max_tokens=5, seed=7))

    assert "".join(delta.text for delta in deltas) == expected_text(count=5) and usage.output_tokens == 5
    assert usage.finish_reason == "length" and spare.chat_requests == []
    [failed] = usage.extra["replicas"]
    assert failed["replica"] == dropping.base_url and failed["shown_chars"] == len(expected_text(count=5))


async def test_settings_size_the_pool_for_every_concurrent_generation(openai_server_factory: OpenAIServerFactory) -> None:
    """Each streaming request holds a connection for its whole reply: with 160 generations allowed at once (past
    the default pool of 128), all 160 stream together and none fails for want of a connection."""
    server = await openai_server_factory(token_delay_s=0.05)
    settings = Settings(engine="openai", engine_urls=server.base_url, model="fake/smollm2", max_concurrent_generations=160,
                        engine_health_interval_s=0)  # fmt: skip
    engine = OpenAIEngine.from_settings(settings)
    try:
        results = await asyncio.gather(*(engine.complete(MESSAGES, PARAMS, f"req-{n}") for n in range(160)))
    finally:
        await engine.close()

    assert [text for text, _ in results] == [expected_text()] * 160
    assert server.max_in_flight == 160
