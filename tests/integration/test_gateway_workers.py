"""Several gateway processes on one port (``JIMBOT_HTTP_WORKERS``), against a real nats-server."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from ops._bench_games import gateway_process, health_pids
from ops.ports import free_port
from schemas import JimbotError

if TYPE_CHECKING:
    from pathlib import Path

    from ops.natsserver import NatsServer


def batch(tag: str, count: int) -> bytes:
    events = ",".join(
        f'{{"type":"money_changed","event_id":"{tag}-{n}","timestamp":1700000000.5,'
        f'"source":"BalatroMCP","payload":{{"old_value":{n},"new_value":{n + 1}}}}}'
        for n in range(count)
    )
    return f'{{"events":[{events}],"batch_id":"{tag}"}}'.encode()


async def test_two_workers_share_the_port_and_both_store_events(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    port = free_port()
    async with AsyncExitStack() as stack:
        workers = [
            await stack.enter_async_context(
                gateway_process(nats_server.url, "workers", tmp_path, port=port, workers=2)
            )
            for _ in range(2)
        ]
        base = workers[0].base_url
        answered = await health_pids(base, tries=64)
        stored = 0
        for n in range(20):  # a new connection each: the kernel spreads them over both
            async with httpx.AsyncClient(timeout=10) as http:
                reply = await http.post(f"{base}/api/v1/events/batch", content=batch(f"b{n}", 5))
            assert reply.status_code == 200, reply.text
            stored += reply.json()["stored"]
    assert answered == {w.pid for w in workers}
    assert stored == 100


async def test_without_workers_a_second_gateway_on_the_port_is_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    port = free_port()
    async with gateway_process(nats_server.url, "single", tmp_path, port=port):
        with pytest.raises(JimbotError) as caught:
            async with gateway_process(nats_server.url, "single", tmp_path, port=port):
                pass
    assert "JIMBOT_HTTP_PORT" in str(caught.value)
