"""Two coordinator copies, each with what it remembers of the pools, driven directly (so the
test picks which copy serves each call): wake-ups across copies, and answers that a stale
memory must not decide."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from handlers import connect
from handlers._resources import (
    BUCKET,
    Coordinator,
    Lease,
    PoolStore,
    _sweep,
    _wake,
    announce_expired,
)
from handlers._resources._wake import POLL
from schemas import events_pb2
from tests.integration.helpers import wait_for
from tests.integration.test_resource_support import GPU, SMALL, ask

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


@asynccontextmanager
async def copy(
    settings: Settings, names: Names, *, watch: bool = True
) -> AsyncIterator[Coordinator]:
    """One coordinator copy on its own connection (the bucket must exist: the ``nc`` fixture)."""
    assert settings.nats_url
    nc = await connect(settings.nats_url, name="copy")
    js = nc.jetstream()
    kv = await js.key_value(names.bucket(BUCKET))

    def expired(kind: int, leases: list[Lease]) -> None:
        announce_expired(js, names, kind, leases, source="test")

    store = PoolStore(kv, names.bucket(BUCKET), js=js, on_expired=expired, watch=watch)
    try:
        yield Coordinator(nc=nc, js=js, names=names, store=store, config=SMALL, source="test")
    finally:
        await nc.close()


def _reads(copy: Coordinator) -> int:
    return copy.store.keeper(GPU).statistics().reads


async def _ask(copy: Coordinator, req: events_pb2.ResourceRequest) -> events_pb2.ResourceGrant:
    return await copy.request(req, deadline=anyio.current_time() + SMALL.request_timeout)


async def _give(copy: Coordinator, grant_id: str) -> events_pb2.ReleaseResponse:
    return await copy.release(events_pb2.ResourceRelease(grant_id=grant_id))


async def _waits_for_release(a: Coordinator, b: Coordinator) -> tuple[float, int]:
    """A holds all GPU; B waits for 5; A releases after 0.3 s. B's wait, and B's reads."""
    held = await _ask(a, ask("holder", GPU, 10))
    await b.look(GPU)
    waited: list[float] = []
    reads: list[int] = []

    async def wait() -> None:
        started = anyio.current_time()
        reads.append(_reads(b))
        assert (await _ask(b, ask("waiter", GPU, 5))).granted
        waited.append(anyio.current_time() - started)
        reads.append(_reads(b))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.sleep(0.3)
        assert not waited
        assert (await _give(a, held.grant_id)).released
    return waited[0], reads[1] - reads[0]


async def test_a_waiter_is_woken_by_a_release_on_another_copy(
    settings: Settings, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll within the waiter's 1.75 s wait: only the watch can wake it in time (with the
    # 0.5 s poll, a release written late on a loaded machine raced the poll's read).
    monkeypatch.setattr(_wake, "POLL", 5.0)
    async with copy(settings, names) as a, copy(settings, names) as b:
        waited, reads = await _waits_for_release(a, b)
    # Woken by the watch as the release was written, without a read (granted: before the
    # waiter gave up).
    assert 0.3 <= waited < 1.5
    assert reads == 0


async def test_without_a_watch_a_waiter_still_finds_capacity_by_polling(
    settings: Settings, nc: Client, names: Names
) -> None:
    async with copy(settings, names) as a, copy(settings, names, watch=False) as b:
        waited, reads = await _waits_for_release(a, b)
    assert POLL <= waited < 3 * POLL and reads >= 1


async def test_a_stale_memory_does_not_decide_a_retry_or_a_release(
    settings: Settings, nc: Client, names: Names
) -> None:
    # B has no watch: it remembers the pool as of its own last read or write.
    async with copy(settings, names) as a, copy(settings, names, watch=False) as b:
        await b.look(GPU)  # B remembers an empty pool
        first = await _ask(a, ask("c", GPU, 4, request_id="once"))
        # A retry at B: B does not know the grant, tries to grant anew, loses the race, and
        # finds the grant as stored: the same one, counted once.
        again = await _ask(b, ask("c", GPU, 4, request_id="once"))
        assert again.granted and again.grant_id == first.grant_id
        assert (await b.look(GPU, fresh=True)).allocated == 4
        # A releases it; B still remembers it active, so it checks before answering a retry.
        assert (await _give(a, first.grant_id)).released
        after = await _ask(b, ask("c", GPU, 4, request_id="once"))
        assert not after.granted and after.reason.endswith("has since released")
        # A grant B has never seen can still be released at B.
        other = await _ask(a, ask("c", GPU, 2))
        released = await _give(b, other.grant_id)
        assert released.released and released.detail == "released 2 GPU_COMPUTE"


async def test_a_waiter_is_woken_when_a_lease_runs_out(
    settings: Settings, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll within the 1.75 s wait: only the keeper's timer can wake it before it gives up.
    monkeypatch.setattr(_wake, "POLL", 5.0)
    async with copy(settings, names) as a:
        assert (await _ask(a, ask("short", GPU, 10, duration_ms=300))).granted
        started = anyio.current_time()
        reads = _reads(a)
        assert (await _ask(a, ask("next", GPU, 10))).granted
        waited = anyio.current_time() - started
        # The keeper's timer woke it at the expiry: no poll, no read.
        assert 0.25 <= waited < 1.5 and _reads(a) == reads


async def test_a_lower_request_gets_in_when_a_higher_waiters_reservation_lapses(
    settings: Settings, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll within LOW's 1.75 s wait, and no sweep look (it would write the pool with the
    # lapsed waiter pruned): only B's timer can let LOW in before it gives up.
    monkeypatch.setattr(_wake, "POLL", 5.0)
    monkeypatch.setattr(_sweep, "SWEEP_INTERVAL", 5.0)
    async with copy(settings, names) as a, copy(settings, names) as b:
        assert (await _ask(a, ask("holder", GPU, 6))).granted
        await b.look(GPU)  # (B's first use reads the key)
        outcomes: dict[str, events_pb2.ResourceGrant] = {}
        high_req = ask("high", GPU, 8, priority=events_pb2.PRIORITY_HIGH)

        async def high() -> None:
            # Waits about 0.95 s (a 1.2 s budget less the time to answer), reserving 8.
            outcomes["high"] = await a.request(high_req, deadline=anyio.current_time() + 1.2)

        def high_seen_by_b() -> float | None:
            """When HIGH's reservation lapses, once B's memory of the pool has it waiting."""
            pool = b.store.keeper(GPU).pool
            waiters = pool.waiters if pool is not None else []
            return next((w.until for w in waiters if w.request_id == high_req.request_id), None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(high)
            await wait_for(high_seen_by_b, timeout=5)
            lapses = high_seen_by_b()
            reads = _reads(b)
            asked = time.time()
            # 4 are free, but HIGH reserves 8 of them until it gives up; nothing is written
            # then, so only B's own timer for that moment lets LOW in.
            outcomes["low"] = await _ask(b, ask("low", GPU, 4, priority=events_pb2.PRIORITY_LOW))
            granted = time.time()
    assert not outcomes["high"].granted and outcomes["low"].granted
    assert lapses is not None
    assert asked < lapses <= granted  # LOW waited for the reservation to lapse, no longer held
    assert _reads(b) == reads
