"""StreamActions over NATS: credit-paced, stopped by cancellation, errors as an ERROR item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest

from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_stream import endpoint as stream_endpoint
from handlers.agentpolicy import PolicyRequest
from schemas import agent_bridge_pb2 as pb
from tests.integration.helpers import wait_for
from tests.interop.harness import client, policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

STREAMS = "JIMBOT_AGENT_STREAM_POLICIES"


class Tally:
    produced = 0
    stopped = False


async def endless(request: PolicyRequest) -> AsyncIterator[pb.ActionResponse]:
    """Produces as fast as it is allowed to, forever; records how far it got."""
    Tally.produced, Tally.stopped = 0, False
    try:
        while True:
            yield pb.ActionResponse(action=f"step_{Tally.produced}", metadata="x" * 200)
            Tally.produced += 1
    finally:
        Tally.stopped = True


async def test_a_slow_reader_slows_the_producer_and_a_cancel_stops_it(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STREAMS, f"*={__name__}:endless")
    config = BridgeConfig(stream_window=4)
    async with policies(stream_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        # Without BDP probing the client's HTTP/2 receive window stays at 64 KiB, so what gRPC
        # itself buffers for a paused reader is small and known (about 460 of these items).
        async with client(port, [("grpc.http2.bdp_probe", 0)]) as stub:
            call = stub.StreamActions(pb.ActionRequest(agent="reader", context="go"))
            first = [await call.read() for _ in range(3)]
            # Paused: no progress for 0.6 s (a nats-server descheduled on a loaded machine
            # can hold credits back for a moment; it cannot hold them for long), and still
            # none 0.6 s later.
            paused_at = -1
            with anyio.fail_after(15):
                while paused_at != Tally.produced:
                    paused_at = Tally.produced
                    await anyio.sleep(0.6)
            await anyio.sleep(0.6)
            still = Tally.produced
            # Reading frees the HTTP/2 window, which frees credits, which resumes the policy.
            more = [await call.read() for _ in range(300)]
            await wait_for(lambda: Tally.produced > still + 100, timeout=5)
            call.cancel()
            await wait_for(lambda: Tally.stopped, timeout=5)
    assert [r.action for r in first] == ["step_0", "step_1", "step_2"]
    assert still == paused_at < 600
    assert [r.action for r in more] == [f"step_{i}" for i in range(3, 303)]


async def two_then_fail(request: PolicyRequest) -> AsyncIterator[pb.ActionResponse]:
    yield pb.ActionResponse(action="step_0")
    yield pb.ActionResponse(action="step_1")
    raise RuntimeError("the planner broke")


async def dawdler(request: PolicyRequest) -> AsyncIterator[pb.ActionResponse]:
    yield pb.ActionResponse(action="step_0")
    await anyio.sleep(5)
    yield pb.ActionResponse(action="never")


async def _stream(port: int, agent: str = "python_link") -> list[pb.ActionResponse]:
    async with client(port) as stub:
        call = stub.StreamActions(pb.ActionRequest(agent=agent, context="go"))
        return [item async for item in call]


async def test_no_stream_handler_gives_one_error_item(settings: Settings, nc: Client) -> None:
    async with shim(settings) as port:
        items = await _stream(port)
    assert [(i.action, i.status, i.error_detail) for i in items] == [
        ("idle", pb.ACTION_STATUS_ERROR, "no_policy")
    ]


async def test_a_failing_stream_policy_ends_with_an_error_item(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STREAMS, f"*={__name__}:two_then_fail")
    async with policies(stream_endpoint, settings=settings, nc=nc), shim(settings) as port:
        items = await _stream(port)
    assert [(i.action, i.error_detail) for i in items] == [
        ("step_0", ""),
        ("step_1", ""),
        ("idle", "policy_error:500"),
    ]


async def test_a_stream_past_its_budget_ends_with_policy_timeout(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STREAMS, f"*={__name__}:dawdler")
    config = BridgeConfig(stream_budget=0.3)
    async with policies(stream_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        with anyio.fail_after(2):
            items = await _stream(port)
    assert [(i.action, i.error_detail) for i in items] == [
        ("step_0", ""),
        ("idle", "policy_timeout"),
    ]


async def test_an_invalid_stream_request_is_refused(settings: Settings, nc: Client) -> None:
    async with shim(settings) as port:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _stream(port, agent="")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
