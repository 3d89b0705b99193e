"""The resource coordinator over a real nats-server: grants, releases, expiry, waiting,
priorities, idempotency, bad input, events and the usage gauge."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client import REGISTRY

from handlers import ServiceError
from handlers._resources import (
    BUCKET,
    ResourceConfig,
    _service,
    _sweep,
    _wake,
    decode,
    pool_key,
)
from schemas import events_pb2
from tests.integration.helpers import wait_for, wait_for_async
from tests.integration.test_resource_support import (
    GPU,
    MEMORY,
    SMALL,
    TOKENS,
    ask,
    coordinators,
    events,
    give_back,
    status,
    take,
    usage,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

LOW, HIGH = events_pb2.PRIORITY_LOW, events_pb2.PRIORITY_HIGH


async def stored_as_waiting(nc: Client, names: Names, request_id: str) -> None:
    """Return once the GPU pool in KV has ``request_id`` among its waiters."""
    kv = await nc.jetstream().key_value(names.bucket(BUCKET))

    async def stored() -> bool:
        pool = decode((await kv.get(pool_key(GPU))).value)
        return any(w.request_id == request_id for w in pool.waiters)

    await wait_for_async(stored, timeout=5)


async def test_a_grant_is_counted_released_and_announced(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings), events(nc, names) as log:
        grant = await take(nc, names, ask("trainer", MEMORY, 60, request_id="r1"))
        assert grant.granted and grant.amount == 60 and grant.component == "trainer"
        assert grant.grant_id.startswith("memory_mb-") and grant.request_id == "r1"
        assert 9 < grant.expires_at.ToMilliseconds() / 1000 - time.time() <= 10
        report = await status(nc, names)
        assert (usage(report, MEMORY).allocated, usage(report, MEMORY).available) == (60, 40)
        assert usage(report, GPU).capacity == 10 and usage(report, TOKENS).capacity == 1000
        assert [g.grant_id for g in report.active_grants] == [grant.grant_id]

        released = await give_back(nc, names, grant.grant_id, "trainer")
        assert released.released and released.detail == "released 60 MEMORY_MB"
        again = await give_back(nc, names, grant.grant_id)
        assert not again.released and again.detail.endswith("has already released")
        assert usage(await status(nc, names), MEMORY).allocated == 0
        await wait_for(lambda: len(log.kinds(grant.grant_id)) == 2)
    assert log.kinds(grant.grant_id) == ["granted", "released"]


async def test_a_lease_expires_by_itself_with_an_event(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings), events(nc, names) as log:
        grant = await take(nc, names, ask(amount=100, duration_ms=300))
        assert grant.granted
        # Nobody calls the coordinator again: the sweep publishes the expiry on its own.
        await wait_for(lambda: "expired" in log.kinds(grant.grant_id), timeout=5)
        expired_at = time.time()
        assert expired_at - grant.expires_at.ToMilliseconds() / 1000 < 1.5
        assert usage(await status(nc, names), MEMORY).allocated == 0
        # Its capacity is free again at once.
        assert (await take(nc, names, ask(amount=100, duration_ms=1000))).granted
        late = await give_back(nc, names, grant.grant_id)
    assert not late.released and "expired" in late.detail


async def test_a_waiting_request_is_granted_when_capacity_comes_back(
    settings: Settings, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll and no sweep look within the 1.75 s wait: only the release's wake-up can grant
    # it in time.
    monkeypatch.setattr(_wake, "POLL", 5.0)
    monkeypatch.setattr(_sweep, "SWEEP_INTERVAL", 5.0)
    async with coordinators(settings):
        held = await take(nc, names, ask(kind=GPU, amount=8))
        waited: list[float] = []

        async def wait_for_gpu() -> None:
            started = anyio.current_time()
            grant = await take(nc, names, ask(kind=GPU, amount=5))
            assert grant.granted
            waited.append(anyio.current_time() - started)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_gpu)
            await anyio.sleep(0.3)
            assert not waited
            await give_back(nc, names, held.grant_id)
    assert 0.3 <= waited[0] < 1.5  # woken by the release, not by a poll (nor given up)


async def test_a_request_that_never_fits_is_denied_at_its_deadline(
    settings: Settings, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep min(0.5, a quarter of the budget) to answer: 0.4 s of a 1.6 s deadline, so a
    # loaded machine's delays fit before the caller gives up (0.2 s of 0.8 s did not always).
    monkeypatch.setattr(_service, "REPLY_MARGIN", 0.5)
    async with coordinators(settings), events(nc, names) as log:
        await take(nc, names, ask(kind=GPU, amount=10))
        started = anyio.current_time()
        denied = await take(nc, names, ask(kind=GPU, amount=1, request_id="late"), timeout=1.6)
        took = anyio.current_time() - started
        assert not denied.granted and denied.request_id == "late"
        assert denied.reason.startswith("no 1 GPU_COMPUTE free within")
        assert 1.1 < took < 1.6  # the caller's deadline, less the time to answer
        # Without a caller deadline the wait is RESOURCE_REQUEST_TIMEOUT (2 s here; the
        # margin is 0.5 s of it), not the 10 s the caller would wait.
        started = anyio.current_time()
        assert not (await take(nc, names, ask(kind=GPU, amount=1), timeout=10)).granted
        assert 1.4 < anyio.current_time() - started < 4
        too_big = await take(nc, names, ask(kind=TOKENS, amount=1001))
        assert not too_big.granted and too_big.reason == (
            "1001 CLAUDE_API_TOKENS exceeds the capacity of 1000"
        )
        await wait_for(lambda: sum(kind == "denied" for kind, _ in log.seen) == 3)
    denials = [event.grant for kind, event in log.seen if kind == "denied"]
    assert denials[0].request_id == "late" and denials[0].reason == denied.reason


async def test_a_higher_priority_request_waits_less(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings, copies=2):
        held = await take(nc, names, ask("holder", GPU, 10))
        order: list[str] = []

        async def wants(name: str, priority: int, amount: int) -> None:
            req = ask(name, GPU, amount, priority=priority, request_id=name)
            grant = await take(nc, names, req, timeout=5)
            if grant.granted:
                order.append(name)
                await anyio.sleep(0.2)
                await give_back(nc, names, grant.grant_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wants, "low", LOW, 10)
            await stored_as_waiting(nc, names, "low")  # LOW has waited longer...
            tg.start_soon(wants, "high", HIGH, 10)
            await stored_as_waiting(nc, names, "high")
            await give_back(nc, names, held.grant_id)
    assert order == ["high", "low"]  # ...but HIGH goes first


async def test_a_lower_request_cannot_take_what_a_waiting_higher_one_needs(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings):
        held = await take(nc, names, ask("holder", GPU, 6))
        async with anyio.create_task_group() as tg:
            got: list[events_pb2.ResourceGrant] = []

            async def high() -> None:
                req = ask("high", GPU, 8, priority=HIGH, request_id="high")
                got.append(await take(nc, names, req))

            tg.start_soon(high)
            await stored_as_waiting(nc, names, "high")
            # 4 units are free, but the waiting HIGH request needs 8: LOW may not take them.
            # (LOW waits 0.75 s, well within HIGH's 1.75 s.)
            low = await take(nc, names, ask("low", GPU, 4, priority=LOW), timeout=1.0)
            assert not low.granted
            # NORMAL without a wait would not get them either; HIGH gets them once 6 return.
            await give_back(nc, names, held.grant_id)
        assert got[0].granted and got[0].component == "high"


async def test_a_retried_request_gets_the_same_grant(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings, copies=2) as copies:
        first = await take(nc, names, ask(amount=30, request_id="once"))
        again = await take(copies[1], names, ask(amount=30, request_id="once"))
        assert again.granted and again.grant_id == first.grant_id
        assert usage(await status(nc, names), MEMORY).allocated == 30
        await give_back(nc, names, first.grant_id)
        after = await take(nc, names, ask(amount=30, request_id="once"))
    assert not after.granted and after.grant_id == first.grant_id
    assert after.reason == f"request once was granted as {first.grant_id}, which has since released"


async def test_bad_input_is_a_400_and_a_stranger_cannot_release(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with coordinators(settings):
        with pytest.raises(ServiceError, match="amount must be >= 1") as caught:
            await take(nc, names, ask(amount=0))
        assert caught.value.code == "400"
        with pytest.raises(ServiceError, match="component is required"):
            await take(nc, names, ask(component=""))
        with pytest.raises(ServiceError, match="not a grant of this coordinator") as caught:
            await give_back(nc, names, "no-such-grant")
        assert caught.value.code == "400"
        grant = await take(nc, names, ask("owner", amount=1))
        with pytest.raises(ServiceError, match="belongs to 'owner', not 'thief'") as caught:
            await give_back(nc, names, grant.grant_id, "thief")
        assert caught.value.code == "403"
        assert (await give_back(nc, names, grant.grant_id, "owner")).released


def _gauge(kind: str, component: str) -> float | None:
    labels = {"resource_type": kind, "component": component}
    return REGISTRY.get_sample_value("jimbot_resource_usage_ratio", labels)


async def test_the_usage_gauge_follows_leases_per_component(
    settings: Settings, nc: Client, names: Names
) -> None:
    config = ResourceConfig(capacity={**SMALL.capacity, MEMORY: 200}, request_timeout=1.0)
    async with coordinators(settings, config):
        a = await take(nc, names, ask("gauge_a", MEMORY, 50))
        await take(nc, names, ask("gauge_b", MEMORY, 30))
        assert _gauge("MEMORY_MB", "gauge_a") == 0.25
        assert _gauge("MEMORY_MB", "gauge_b") == 0.15
        assert _gauge("MEMORY_MB", "all") == 0.4
        await give_back(nc, names, a.grant_id)
        assert _gauge("MEMORY_MB", "gauge_a") is None
        assert _gauge("MEMORY_MB", "all") == 0.15
