"""Faults: a late, failing or missing policy, a client deadline, a NATS restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

from bridge.agentbridge import BridgeConfig
from bridge.agentbridge import _service as agentbridge_service
from handlers import ServiceError, Settings, connect
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agentpolicy import PolicyRequest, reference_decide
from ops.natsserver import NatsServer
from schemas import agent_bridge_pb2 as pb
from tests.interop.harness import client, policies, server_action, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

POLICIES = "JIMBOT_AGENT_POLICIES"


async def slow_policy(request: PolicyRequest) -> pb.ActionResponse:
    await anyio.sleep(2.0)
    return reference_decide(request)


def teapot_policy(request: PolicyRequest) -> pb.ActionResponse:
    raise ServiceError("418", "I am a teapot")


def broken_policy(request: PolicyRequest) -> pb.ActionResponse:
    raise RuntimeError("bug in the policy")


def wrong_type_policy(request: PolicyRequest) -> str:
    return "idle"


def _count(method: str, status: str) -> float:
    labels = {"method": method, "status": status}
    return REGISTRY.get_sample_value("bridge_requests_total", labels) or 0.0


async def test_a_policy_slower_than_the_budget_gets_policy_timeout_in_time(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"slowpoke={__name__}:slow_policy")
    before = _count("RequestAction", "policy_timeout")
    config = BridgeConfig(budget=0.2)
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        async with client(port) as stub:
            started = time.perf_counter()
            late = await stub.RequestAction(pb.ActionRequest(agent="slowpoke", context="go"))
            elapsed = time.perf_counter() - started
            other = await stub.RequestAction(pb.ActionRequest(agent="quick", context="go"))
    assert (late.action, late.status, late.error_detail) == (
        "idle",
        pb.ACTION_STATUS_ERROR,
        "policy_timeout",
    )
    assert 0.19 <= elapsed < 1.0  # at the 0.2 s budget, not after the policy's 2 s
    assert server_action(late) == 'server_action("idle", ";status=error;detail=policy_timeout")'
    assert other.status == pb.ACTION_STATUS_OK
    assert _count("RequestAction", "policy_timeout") == before + 1


async def test_a_client_deadline_bounds_the_wait_and_still_gets_the_fallback(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"*={__name__}:slow_policy")
    # The shim keeps min(REPLY_MARGIN, a fifth) of the client's deadline to build, audit and
    # send the fallback: 0.2 s here, not 50 ms, so a loaded machine's stall fits in it. The
    # policy (2 s) and the shim's own budget (5 s) both outlast the client's 1 s deadline.
    monkeypatch.setattr(agentbridge_service, "REPLY_MARGIN", 0.25)
    config = BridgeConfig(budget=5.0)
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        async with client(port) as stub:
            started = time.perf_counter()
            reply = await stub.RequestAction(
                pb.ActionRequest(agent="python_link", context="go"), timeout=1.0
            )
            elapsed = time.perf_counter() - started
    assert reply.error_detail == "policy_timeout"
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("policy", "detail"),
    [
        ("teapot_policy", "policy_error:418"),
        ("broken_policy", "policy_error:500"),
        ("wrong_type_policy", "policy_error:500"),
    ],
)
async def test_a_failing_policy_answers_error_with_its_code(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch, policy: str, detail: str
) -> None:
    monkeypatch.setenv(POLICIES, f"python_link={__name__}:{policy}")
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            reply = await stub.RequestAction(pb.ActionRequest(agent="python_link", context="x"))
    assert (reply.action, reply.status, reply.error_detail) == (
        "idle",
        pb.ACTION_STATUS_ERROR,
        detail,
    )


async def test_the_decide_handler_stopped_mid_run_gives_the_fallback_then_recovers(
    settings: Settings, nc: Client
) -> None:
    request = pb.ActionRequest(agent="python_link", context="search")
    config = BridgeConfig(fallback_action="wait", budget=5.0)
    async with shim(settings, config) as port, client(port) as stub:
        async with policies(decide_endpoint, settings=settings, nc=nc):
            before = await stub.RequestAction(request)
        started = time.perf_counter()
        during = await stub.RequestAction(request)
        elapsed = time.perf_counter() - started
        async with policies(decide_endpoint, settings=settings, nc=nc):
            after = await stub.RequestAction(request)
    assert before.action == after.action == "explore"
    assert (during.action, during.error_detail) == ("wait", "no_policy")
    assert elapsed < 2  # no responders: at once, not after the 5 s budget


async def wait_health(port: int, status: int) -> None:
    """Wait until the shim reports ``status`` for the AgentBridge service."""
    request = health_pb2.HealthCheckRequest(service="agentbridge.AgentBridge")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with anyio.fail_after(10):
            while (await stub.Check(request)).status != status:
                await anyio.sleep(0.05)


async def test_the_shim_recovers_by_itself_after_a_nats_restart(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    # The policy's worker may re-subscribe a few requests after the shim reconnects; five
    # no_policy answers in that gap would open the spec's breaker for 30 s, longer than this
    # test waits. A short breaker keeps the point: the shim recovers without a restart.
    monkeypatch.setenv("JIMBOT_BREAKER_AGENT_DECIDE", "5/0.5/1")
    # Port -1: the server picks a free one itself (no pick-close-reuse race); the restart
    # below takes the same port again, as a restarted server would.
    server = NatsServer(store_dir=tmp_path / "js").start()
    try:
        own = replace(settings, nats_url=server.url)
        request = pb.ActionRequest(agent="python_link", context="search")
        worker_nc = await connect(server.url, name="decide-worker")
        async with policies(decide_endpoint, settings=own, nc=worker_nc), shim(own) as port:
            async with client(port) as stub:
                assert (await stub.RequestAction(request)).action == "explore"
                server.kill()
                await wait_health(port, health_pb2.HealthCheckResponse.NOT_SERVING)
                down = await stub.RequestAction(request)
                ack = await stub.PushPercept(pb.Percept(agent="python_link", payload="battery"))
                # A fresh, empty store: the shim provisions its streams and buckets again.
                server = NatsServer(store_dir=tmp_path / "js2", port=server.port).start()
                with anyio.fail_after(15):
                    while True:
                        reply = await stub.RequestAction(request)
                        if reply.status == pb.ACTION_STATUS_OK:
                            break
                        await anyio.sleep(0.1)
                with anyio.fail_after(10):
                    while True:
                        percept = pb.Percept(agent="python_link", payload="battery=5%")
                        ack_after = await stub.PushPercept(percept)
                        if ack_after.ok:
                            break
                        await anyio.sleep(0.1)
                recharge = await stub.RequestAction(request)
                await wait_health(port, health_pb2.HealthCheckResponse.SERVING)
        await worker_nc.close()
    finally:
        server.stop()
    assert down.status == pb.ACTION_STATUS_ERROR
    assert down.error_detail in ("bus_unavailable", "policy_timeout")
    assert not ack.ok and "not stored" in ack.detail
    assert reply.action == "explore"
    assert ack_after.ok
    assert recharge.action == "recharge"


async def test_an_unknown_method_is_unimplemented(settings: Settings, nc: Client) -> None:
    async with shim(settings) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/agentbridge.AgentBridge/Nope")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
