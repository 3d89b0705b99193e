"""The gateway when NATS goes away, and several gateways sharing one command queue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from bridge.gateway import Gateway, create_app
from handlers import connect
from ops.natsserver import NatsServer
from subjects import Names, provision
from tests.integration.test_gateway import batch, event

if TYPE_CHECKING:
    from nats.aio.client import Client


def client_for(nc: Client, names: Names) -> httpx.AsyncClient:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "js")
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
async def test_nats_down_gets_a_quick_5xx_and_the_retry_stores_everything_once(
    own_server: NatsServer, names: Names
) -> None:
    nc = await connect(own_server.url, name="gateway", reconnect_time_wait=0.2)
    await provision(nc.jetstream(), names)
    body = batch(
        *[
            event("HAND_PLAYED", '{"hands_remaining":3,"hand_number":1}', f"e-{i}")
            for i in range(20)
        ]
    )
    async with client_for(nc, names) as client:
        port = own_server.port
        own_server.stop()
        with anyio.fail_after(5):
            while nc.is_connected:
                await anyio.sleep(0.02)
        started = time.monotonic()
        refused = await client.post("/api/v1/events/batch", content=body)
        took = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert took < 1.0  # the game's frame is waiting on this call

        restarted = NatsServer(store_dir=own_server.store_dir, port=port).start()
        try:
            with anyio.fail_after(10):
                while not nc.is_connected:
                    await anyio.sleep(0.05)
            retried = await client.post("/api/v1/events/batch", content=body)
            again = await client.post("/api/v1/events/batch", content=body)
            info = await nc.jetstream().stream_info(names.events_stream)
            await nc.close()
        finally:
            restarted.stop()
    assert retried.status_code == 200, retried.text
    assert retried.json()["stored"] == 20
    assert again.json()["duplicates"] == 20
    assert info.state.messages == 20


async def test_two_gateways_deliver_each_command_exactly_once(nc: Client, names: Names) -> None:
    other = await connect(nc.connected_url.geturl() if nc.connected_url else "", name="gw2")
    lines = [f"select_card:{i % 8}" for i in range(200)]
    received: list[str] = []
    async with client_for(nc, names) as first, client_for(other, names) as second:
        await first.post("/api/v1/commands", content="\n".join(lines[:100]).encode())
        await second.post("/api/v1/commands", content="\n".join(lines[100:]).encode())

        async def drain(client: httpx.AsyncClient) -> None:
            for _ in range(40):
                reply = await client.get("/api/v1/commands/poll")
                assert reply.status_code == 200
                received.extend(reply.text.splitlines())

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, first)
            tg.start_soon(drain, second)
    await other.close()
    assert sorted(received) == sorted(lines)
