"""The ResourceCoordinator gRPC edge (``bridge.resources``) in front of the coordinator."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, cast

import anyio
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from bridge.resources import EdgeConfig, serve
from handlers import ConfigError
from schemas import JimbotError, events_pb2
from schemas import events_pb2_grpc as pb_grpc
from tests.integration.test_resource_support import GPU, MEMORY, ask, coordinators

if TYPE_CHECKING:
    from handlers import Settings
    from schemas.events_pb2_grpc import ResourceCoordinatorAsyncStub as Stub


@asynccontextmanager
async def edge(
    settings: Settings, port: int = 0, config: EdgeConfig | None = None
) -> AsyncIterator[int]:
    """The edge on ``port`` (0: a free loopback port) for the body of the ``async with``."""
    config = replace(config or EdgeConfig(), port=port)
    async with anyio.create_task_group() as tg:
        bound: int = await tg.start(serve, settings, config)
        try:
            yield bound
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def stub(port: int) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield cast("Stub", pb_grpc.ResourceCoordinatorStub(channel))


async def test_request_status_release_and_events_over_grpc(settings: Settings) -> None:
    async with coordinators(settings), edge(settings) as port, stub(port) as client:
        events = client.SubscribeToResourceEvents(events_pb2.Empty(), timeout=10)
        assert ("jimbot-subscribed", "true") in tuple(await events.initial_metadata())
        grant = await client.RequestResource(ask("grpc", MEMORY, 40), timeout=3)
        assert grant.granted and grant.amount == 40
        report = await client.GetResourceStatus(events_pb2.Empty(), timeout=3)
        assert [g.grant_id for g in report.active_grants] == [grant.grant_id]
        released = await client.ReleaseResource(
            events_pb2.ResourceRelease(grant_id=grant.grant_id, component="grpc"), timeout=3
        )
        assert released.released
        seen = []
        async for event in events:
            seen.append((event.kind, event.grant.grant_id))
            if len(seen) == 2:
                events.cancel()
                break
    kinds = events_pb2.ResourceEvent.Kind
    assert seen == [(kinds.GRANTED, grant.grant_id), (kinds.RELEASED, grant.grant_id)]


async def test_the_clients_deadline_bounds_the_wait(settings: Settings) -> None:
    async with coordinators(settings), edge(settings) as port, stub(port) as client:
        await client.RequestResource(ask("holder", GPU, 10), timeout=3)
        started = anyio.current_time()
        denied = await client.RequestResource(ask("waiter", GPU, 1), timeout=0.6)
    assert not denied.granted and denied.reason.startswith("no 1 GPU_COMPUTE free")
    assert anyio.current_time() - started < 0.6


async def test_errors_are_grpc_statuses_with_details(settings: Settings) -> None:
    async with edge(settings) as port, stub(port) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.GetResourceStatus(events_pb2.Empty(), timeout=3)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no resource coordinator is running" in (caught.value.details() or "")
        async with coordinators(settings):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.RequestResource(ask(amount=-5), timeout=3)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert caught.value.details() == "amount must be >= 1, got -5"
            grant = await client.RequestResource(ask("owner", amount=1), timeout=3)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.ReleaseResource(
                    events_pb2.ResourceRelease(grant_id=grant.grant_id, component="thief"),
                    timeout=3,
                )
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary("/jimbot.events.v1.ResourceCoordinator/RequestResource")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await raw(b"\xff\xff\xff", timeout=3)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service="jimbot.events.v1.ResourceCoordinator")
            assert (
                await health.Check(check, timeout=3)
            ).status == health_pb2.HealthCheckResponse.SERVING


async def test_a_taken_port_is_one_clear_error(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(JimbotError, match="cannot bind 127.0.0.1:.*JIMBOT_RESOURCE_PORT"):
            await serve(settings, EdgeConfig(port=port))


def test_the_address_comes_from_the_specs_url() -> None:
    assert EdgeConfig.from_env({}) == EdgeConfig(host="127.0.0.1", port=50052)
    url = {"RESOURCE_COORDINATOR_URL": "grpc://0.0.0.0:6000", "RESOURCE_REQUEST_TIMEOUT": "2s"}
    with pytest.raises(ConfigError, match="refusing plaintext gRPC on 0.0.0.0"):
        EdgeConfig.from_env(url)  # off loopback only with TLS or the explicit yes
    opened = EdgeConfig.from_env({**url, "JIMBOT_GRPC_ALLOW_PLAINTEXT": "1"})
    assert (opened.host, opened.port, opened.request_timeout) == ("0.0.0.0", 6000, 2)
    assert opened.transport.allow_plaintext
    assert EdgeConfig.from_env({"JIMBOT_RESOURCE_PORT": "7000"}).port == 7000
    for bad in ({"RESOURCE_COORDINATOR_URL": "http://x:1"}, {"JIMBOT_RESOURCE_PORT": "x"}):
        with pytest.raises(ConfigError):
            EdgeConfig.from_env(bad)
