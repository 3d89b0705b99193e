"""Shared fixtures: one real nats-server per test run, a unique prefix per test.

The server comes from ``ops.natsserver`` (the same harness ``jimbot up`` uses): port ``-1``, a
temporary store, loopback only. Tests that kill or restart a server start their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from handlers import Settings, connect
from ops.natsserver import NatsServer
from subjects import Names, provision
from tests._loop import GrpcTolerantLoop

if TYPE_CHECKING:
    from nats.aio.client import Client

_OUR_ENV = (
    "NATS_URL",
    "EVENT_BUS_URL",
    "EVENT_BUS_TOPIC_PREFIX",
    "COMPONENT_NAME",
    "METRICS_PORT",
    "TRACE_ENDPOINT",
    "LOG_LEVEL",
    "ANTHROPIC_API_KEY",
)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return "asyncio", {"loop_factory": GrpcTolerantLoop}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our variables from the caller's shell must not leak into a test."""
    for key in list(os.environ):
        if key in _OUR_ENV or key.startswith("JIMBOT_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path_factory.mktemp("jetstream"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
def prefix() -> str:
    """A fresh prefix per test: tests share the server, never each other's messages."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def names(prefix: str) -> Names:
    return Names(prefix)


@pytest.fixture
def settings(nats_url: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        nats_url=nats_url,
        prefix=prefix,
        component_name="test",
        metrics_port=0,
        data_dir=tmp_path,
        drain_timeout=5.0,
    )


@pytest.fixture
async def nc(nats_url: str, names: Names) -> AsyncIterator[Client]:
    """A connection with the test's prefix provisioned."""
    client = await connect(nats_url, name="pytest")
    await provision(client.jetstream(), names)
    yield client
    await client.close()
