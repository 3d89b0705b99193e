"""The fronts as the AgentBridge shim serves them: one port, health and reflection included."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import (  # type: ignore[import-untyped]
    reflection_pb2,
    reflection_pb2_grpc,
)

from handlers import forget_breakers
from handlers.decision import create_endpoint
from handlers.policies.balatro import decide
from schemas import create_event, events_pb2
from schemas import events_pb2_grpc as pb_grpc
from tests.integration.helpers import running
from tests.integration.test_decision import mod_request
from tests.interop.harness import shim

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings

FRONTS = ("jimbot.events.v1.EventBus", "jimbot.events.v1.DecisionService")


async def test_the_shim_serves_the_fronts_with_health_and_reflection(
    settings: Settings, nc: Client
) -> None:
    forget_breakers()
    event = create_event(events_pb2.HeartbeatEvent(status="ok"), source="test", event_id="hb-1")
    async with running(create_endpoint(decide), settings=settings, nc=nc), shim(settings) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            checker = health_pb2_grpc.HealthStub(channel)
            health = [
                (await checker.Check(health_pb2.HealthCheckRequest(service=name))).status
                for name in FRONTS
            ]
            answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            services = [s.name async for a in answers for s in a.list_services_response.service]
            bus = cast("pb_grpc.EventBusAsyncStub", pb_grpc.EventBusStub(channel))
            published = await bus.PublishEvent(event, timeout=5)
            decisions = cast(
                "pb_grpc.DecisionServiceAsyncStub", pb_grpc.DecisionServiceStub(channel)
            )
            decided = await decisions.GetDecision(mod_request(), timeout=5)
    assert health == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert set(FRONTS) <= set(services)
    assert published.stored and published.subject.endswith(".events.system.heartbeat")
    assert decided.strategy_name == "heuristic-v1"
