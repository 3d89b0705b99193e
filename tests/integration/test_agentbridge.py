"""The AgentBridge shim against a real nats-server: the contract's trace, events, streaming."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

import subjects
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agent_stream import endpoint as stream_endpoint
from schemas import agent_bridge_pb2 as pb
from schemas import decode_event_bytes, events_pb2
from tests.interop.harness import client, meta_of, policies, server_action, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names


async def test_the_seed_trace_answers_idle_then_cool_down(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            first = await stub.RequestAction(
                pb.ActionRequest(agent="python_link", context="startup")
            )
            ack = await stub.PushPercept(pb.Percept(agent="python_link", payload="temperature=32C"))
            second = await stub.RequestAction(
                pb.ActionRequest(agent="python_link", context="search")
            )
    assert first.action == "idle"
    assert first.status == pb.ACTION_STATUS_OK
    assert meta_of(first) == {"ctx_len": "7", "percept_len": "0"}
    assert first.metadata == "ctx=startup|percept="
    assert server_action(first) == 'server_action("idle", "ctx_len=7;percept_len=0")'
    assert (ack.ok, ack.detail) == (True, "percept stored")
    assert second.action == "cool_down"
    assert meta_of(second) == {"ctx_len": "6", "percept_len": "15"}
    assert second.metadata == "ctx=search|percept=temperature=32C"


async def test_a_percept_is_an_event_and_the_latest_value_in_kv(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with shim(settings) as port, client(port) as stub:
        await stub.PushPercept(pb.Percept(agent="python_link", payload="battery=3%"))
        ack = await stub.PushPercept(pb.Percept(agent="python_link", payload="temperature=40C"))
    assert ack.ok
    js = nc.jetstream()
    msg = await js.get_last_msg(names.events_stream, names.subject(subjects.AGENT_PERCEPT))
    assert (msg.headers or {})["Jimbot-Agent"] == "python_link"
    event = decode_event_bytes(msg.data or b"")
    assert event.type == events_pb2.AGENT_PERCEPT
    payload = events_pb2.AgentPerceptEvent.FromString(event.payload.value)
    assert (payload.agent, payload.payload) == ("python_link", "temperature=40C")
    kv = await js.key_value(names.bucket("PERCEPTS"))
    assert (await kv.get("python_link")).value == b"temperature=40C"


async def test_every_answered_action_is_published_as_an_event(
    settings: Settings, nc: Client, names: Names
) -> None:
    js = nc.jetstream()
    sub = await js.subscribe(names.subject(subjects.AGENT_ACTION), ordered_consumer=True)
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            await stub.RequestAction(pb.ActionRequest(agent="a1", context="search here"))
            msg = await sub.next_msg(timeout=5)
    event = decode_event_bytes(msg.data)
    action = events_pb2.AgentActionEvent.FromString(event.payload.value)
    assert (action.agent, action.action, action.status) == ("a1", "explore", "ok")
    assert dict(action.meta) == {"ctx_len": "11", "percept_len": "0"}
    await sub.unsubscribe()


async def test_stream_actions_relays_the_reference_steps(settings: Settings, nc: Client) -> None:
    async with policies(stream_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            call = stub.StreamActions(pb.ActionRequest(agent="python_link", context="plan"))
            items = [item async for item in call]
    assert [i.action for i in items] == ["step_0", "step_1", "step_2"]
    assert [meta_of(i) for i in items] == [{"index": "0"}, {"index": "1"}, {"index": "2"}]
    assert all(i.status == pb.ACTION_STATUS_OK for i in items)


async def test_health_and_reflection_are_served(settings: Settings, nc: Client) -> None:
    from grpc_reflection.v1alpha import (  # type: ignore[import-untyped]
        reflection_pb2,
        reflection_pb2_grpc,
    )

    async with shim(settings) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            checker = health_pb2_grpc.HealthStub(channel)
            reply = await checker.Check(
                health_pb2.HealthCheckRequest(service="agentbridge.AgentBridge")
            )
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            answers = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            services = [s.name async for a in answers for s in a.list_services_response.service]
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert "agentbridge.AgentBridge" in services


@pytest.mark.parametrize("budget_ms", [5000])
async def test_no_decide_handler_answers_no_policy_at_once(
    settings: Settings, nc: Client, budget_ms: int
) -> None:
    import time

    from bridge.agentbridge import BridgeConfig

    async with shim(settings, BridgeConfig(budget=budget_ms / 1000)) as port, client(port) as stub:
        started = time.perf_counter()
        reply = await stub.RequestAction(pb.ActionRequest(agent="python_link", context="x"))
        elapsed = time.perf_counter() - started
    assert (reply.action, reply.status, reply.error_detail) == (
        "idle",
        pb.ACTION_STATUS_ERROR,
        "no_policy",
    )
    assert elapsed < 2  # at once, not after the 5 s budget
    assert server_action(reply) == 'server_action("idle", ";status=error;detail=no_policy")'
