"""``python -m bridge.agentbridge`` and ``python -m handlers.agent_decide`` as real processes:
served end to end, metrics scraped, SIGTERM exits 0, a taken port is one clear line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from ops.ports import free_port
from schemas import agent_bridge_pb2 as pb
from schemas import agent_bridge_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

ROOT = Path(__file__).parents[2]


def start(module: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="agentbridge.AgentBridge")
        with anyio.fail_after(20):
            while True:
                try:
                    reply = await stub.Check(request, timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await anyio.sleep(0.1)


async def test_the_shim_and_the_handler_as_processes_serve_and_stop_cleanly(
    nats_url: str, names: Names, nc: Client
) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    common = {"NATS_URL": nats_url, "EVENT_BUS_TOPIC_PREFIX": names.prefix}
    shim = start(
        "bridge.agentbridge",
        {**common, "JIMBOT_GRPC_PORT": str(grpc_port), "METRICS_PORT": str(metrics_port)},
    )
    handler = start("handlers.agent_decide", {**common, "METRICS_PORT": "0"})
    try:
        await wait_serving(grpc_port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.AgentBridgeStub(channel)
            with anyio.fail_after(20):
                while True:  # the handler process may still be starting
                    reply = await stub.RequestAction(pb.ActionRequest(agent="p", context="search"))
                    if reply.status == pb.ACTION_STATUS_OK:
                        break
                    await anyio.sleep(0.1)
        assert reply.action == "explore"
        text = await anyio.to_thread.run_sync(scrape, metrics_port)
        assert 'bridge_requests_total{method="RequestAction",status="ok"}' in text
        assert "bridge_request_duration_seconds_bucket" in text
    finally:
        for proc in (shim, handler):
            proc.send_signal(signal.SIGTERM)
        errors = [p.communicate(timeout=15)[1] for p in (shim, handler)]
    assert [shim.returncode, handler.returncode] == [0, 0], errors


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text: str = reply.read().decode()
        return text


def test_a_taken_port_is_one_clear_line(nats_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(
            "bridge.agentbridge",
            {"NATS_URL": nats_url, "JIMBOT_GRPC_PORT": str(port), "METRICS_PORT": "0"},
        )
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("jimbot:")]
    assert lines == [
        f"jimbot: the AgentBridge shim cannot bind 127.0.0.1:{port} (in use or not a local "
        "address): set JIMBOT_GRPC_PORT to a free port"
    ]
    assert "Traceback" not in err


def test_nats_down_at_start_is_one_clear_line() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    proc = start(
        "bridge.agentbridge", {"NATS_URL": url, "JIMBOT_GRPC_PORT": "0", "METRICS_PORT": "0"}
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("jimbot:")]
    assert len(lines) == 1 and f"cannot reach NATS at {url}" in lines[0]
    assert "Traceback" not in err
