"""Fixtures for OpenAI-compatible servers: fake replicas on loopback, and a URL where nothing listens."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAIServer

OpenAIServerFactory = Callable[..., Awaitable[FakeOpenAIServer]]


@pytest.fixture
async def openai_server_factory() -> AsyncIterator[OpenAIServerFactory]:
    """`await openai_server_factory(**knobs)` starts one more fake replica; all stop when the test ends."""
    servers: list[FakeOpenAIServer] = []

    async def start(**knobs: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(**knobs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def openai_server(openai_server_factory: OpenAIServerFactory) -> FakeOpenAIServer:
    """One fake replica with default knobs."""
    return await openai_server_factory()


@pytest.fixture
def refused_base_url() -> str:
    """A base URL on loopback whose port has no listener, so connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
