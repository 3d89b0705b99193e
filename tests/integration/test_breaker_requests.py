"""Circuit breakers on cross-component requests, against a real nats-server."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client import REGISTRY

from bridge.agentbridge import BridgeConfig
from handlers import (
    CircuitOpen,
    Consumer,
    Context,
    Endpoint,
    RetryableError,
    ServiceError,
    breaker_states,
    publish,
    read_beats,
    request,
)
from handlers.agent_decide import endpoint as decide_endpoint
from schemas import agent_bridge_pb2 as pb
from schemas import decode_event_bytes, events_pb2, unpack_payload
from tests.integration.clihelp import jimbot
from tests.integration.helpers import running, wait_for, wait_for_async
from tests.interop.harness import client, policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from handlers import Settings
    from subjects import Names


async def teapot(value: int, ctx: Context) -> int:
    raise ServiceError("418", "I am a teapot")


def gauge(name: str, prefix: str) -> float | None:
    return REGISTRY.get_sample_value(
        "jimbot_circuit_breaker_state", {"breaker": name, "prefix": prefix}
    )


async def test_no_responders_open_the_breaker_which_fails_fast_then_half_opens_and_closes(
    nc: Client, names: Names, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2 s reset timeout: starting the worker below must not outlast it (with 0.5 s, a slow
    # start turned the refused request into the half-open trial).
    monkeypatch.setenv("JIMBOT_BREAKER_DOUBLER", "3/2/2")
    subject = names.subject("rpc.doubler.go")
    for _ in range(3):
        with pytest.raises(ServiceError) as caught:
            await request(nc, subject, 1, int)
        assert caught.value.code == "503" and not isinstance(caught.value, CircuitOpen)
    assert breaker_states(names.prefix)["doubler"] == "open"
    assert gauge("doubler", names.prefix) == 2

    asked: list[int] = []

    async def counted_double(value: int, ctx: Context) -> int:
        asked.append(value)
        return value * 2

    doubler = Endpoint(name="doubler", subject="rpc.doubler.go", handle=counted_double)
    async with running(doubler, settings=settings, nc=nc):
        # Served now, but the breaker refuses without asking until its timeout has passed.
        started = time.perf_counter()
        with pytest.raises(CircuitOpen) as refused:
            await request(nc, subject, 1, int)
        assert asked == []  # the endpoint never saw it
        assert time.perf_counter() - started < 2  # no 5 s request timeout waited out
        assert refused.value.code == "503" and isinstance(refused.value, RetryableError)
        assert 0 < refused.value.retry_after <= 2
        assert "JIMBOT_BREAKER_DOUBLER" in str(refused.value)

        await anyio.sleep(2.05)
        assert await request(nc, subject, 21, int) == 42  # the half-open trial
        assert asked == [21]
        assert breaker_states(names.prefix)["doubler"] == "half-open"
        assert gauge("doubler", names.prefix) == 1
        assert await request(nc, subject, 2, int) == 4  # the second success closes it
    assert breaker_states(names.prefix)["doubler"] == "closed"
    assert gauge("doubler", names.prefix) == 0


async def test_an_answer_in_4xx_is_the_callers_fault_and_never_opens_the_breaker(
    nc: Client, names: Names, settings: Settings
) -> None:
    pot = Endpoint(name="pot", subject="rpc.pot.brew", handle=teapot)
    async with running(pot, settings=settings, nc=nc):
        for _ in range(12):
            with pytest.raises(ServiceError) as caught:
                await request(nc, names.subject("rpc.pot.brew"), 1, int)
            assert caught.value.code == "418"
    assert breaker_states(names.prefix)["pot"] == "closed"


async def test_breakers_are_per_prefix_and_named_after_the_spec_components(
    nc: Client, names: Names
) -> None:
    for rel in ("rpc.knowledge.query", "rpc.agent.decide", "rpc.strategy.request"):
        with pytest.raises(ServiceError):
            await request(nc, names.subject(rel), 1, int, timeout=0.5)
    states = breaker_states(names.prefix)
    assert {"knowledge_graph", "agent_decide", "strategy"} <= set(states)
    assert not {"knowledge_graph", "agent_decide"} & set(breaker_states("someone_else"))


async def test_a_consumer_behind_an_open_breaker_naks_until_it_may_retry(
    nc: Client, names: Names, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIMBOT_BREAKER_ABSENT", "2/2/1")
    seen: list[tuple[float, str]] = []

    async def ask(body: bytes, ctx: Context) -> None:
        try:
            await ctx.request("rpc.absent.get", 1, int, timeout=0.5)
        except ServiceError as exc:
            seen.append((time.monotonic(), type(exc).__name__))
            raise

    consumer = Consumer(name="asker", subjects=["events.custom.ask"], handle=ask, retry_delay=0.05)
    errors: list[events_pb2.ErrorEvent] = []

    async def on_error(msg: Msg) -> None:
        payload = unpack_payload(decode_event_bytes(msg.data))
        assert isinstance(payload, events_pb2.ErrorEvent)
        errors.append(payload)

    await nc.subscribe(names.subject("events.error.>"), cb=on_error)
    quick = replace(settings, error_event_interval=0.0)
    async with running(consumer, settings=quick, nc=nc):
        await publish(nc.jetstream(), names.subject("events.custom.ask"), b"x", msg_id="a")
        await wait_for(lambda: len(seen) >= 4, timeout=10)
    kinds = [kind for _, kind in seen]
    assert kinds[:3] == ["ServiceError", "ServiceError", "CircuitOpen"]
    # Opened at the second failure, refused soon after with the rest of the 2 s left: the
    # nak waits that long (not the 0.05 s retry delay), so the next try comes ~2 s after the
    # opening, however late the refusal came.
    assert seen[3][0] - seen[1][0] >= 1.8
    opened = [e for e in errors if e.context["error_type"] == "CircuitOpen"]
    assert (
        opened
        and events_pb2.ErrorEvent.RecoveryAction.Name(opened[0].suggested_action) == "CIRCUIT_BREAK"
    )
    assert list(opened[0].affected_components) == ["test", "absent"]
    retried = [e for e in errors if e.source_component == "asker"]
    assert any(e.context.get("error_type") == "CircuitOpen" for e in retried)


async def test_the_shim_answers_circuit_open_at_once_and_recovers_after_the_timeout(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2 s reset timeout: starting the policy worker must not outlast it (with 0.5 s, a slow
    # start turned the refused request into the half-open trial). A 5 s budget tells "at
    # once" from "waited for the policy".
    monkeypatch.setenv("JIMBOT_BREAKER_AGENT_DECIDE", "2/2/1")
    ask = pb.ActionRequest(agent="python_link", context="search")
    async with shim(settings, BridgeConfig(budget=5.0)) as port, client(port) as stub:
        first = [await stub.RequestAction(ask) for _ in range(2)]
        async with policies(decide_endpoint, settings=settings, nc=nc):
            started = time.perf_counter()
            refused = await stub.RequestAction(ask)
            elapsed = time.perf_counter() - started
            await anyio.sleep(2.05)
            recovered = await stub.RequestAction(ask)
    assert [r.error_detail for r in first] == ["no_policy", "no_policy"]
    assert (refused.action, refused.status, refused.error_detail) == (
        "idle",
        pb.ACTION_STATUS_ERROR,
        "circuit_open",
    )
    assert elapsed < 2
    assert (recovered.action, recovered.status) == ("explore", pb.ACTION_STATUS_OK)


async def test_breaker_state_shows_in_heartbeats_and_jimbot_status(
    nc: Client, names: Names, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIMBOT_BREAKER_GHOST", "1/60/1")

    async def ask(body: bytes, ctx: Context) -> None:
        await ctx.request("rpc.ghost.get", 1, int, timeout=0.5)

    consumer = Consumer(name="caller", subjects=["events.custom.call"], handle=ask)
    fast = replace(settings, heartbeat_interval=0.2)
    async with running(consumer, settings=fast, nc=nc):
        await publish(nc.jetstream(), names.subject("events.custom.call"), b"x", msg_id="c")

        async def open_in_heartbeat() -> bool:
            beats = await read_beats(nc, names) or []
            return any(b.breakers.get("ghost") == "open" for b in beats)

        await wait_for_async(open_in_heartbeat)
        text = await jimbot(settings, "status")
    assert text.exit_code == 0, text.output
    assert "!ghost=OPEN" in text.stdout
    assert "breakers not closed: test -> ghost is open" in text.stdout
