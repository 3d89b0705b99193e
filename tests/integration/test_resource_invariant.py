"""Many concurrent requests against several coordinator copies never over-grant.

The invariant is checked three ways, at every step:

- every revision of every pool written to KV (seen by a KV watcher) holds leases whose
  amounts add up to at most the capacity;
- right after each grant its caller reads the pools and checks the same;
- from the callers' side: the leases they hold at any moment (from receiving the grant to
  sending its release, or to its expiry) never add up to more than the capacity.

And every lease a caller got is announced once: GRANTED first, then exactly one of RELEASED
(when its caller released it) or EXPIRED, however the copies' writes and sweeps raced.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import anyio
import pytest

from handlers import DeadlineExceeded, forget_breakers
from handlers._resources import BUCKET, ResourceConfig, decode, pool_key, type_name
from tests.integration.helpers import wait_for
from tests.integration.test_resource_support import (
    GPU,
    MEMORY,
    TOKENS,
    ask,
    coordinators,
    events,
    give_back,
    take,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

CONFIG = ResourceConfig(capacity={GPU: 10, MEMORY: 64, TOKENS: 100}, request_timeout=1.0)
COPIES = 3
CALLERS = 30
ROUNDS = 10
PRIORITIES = (0, 1, 2, 3)


@pytest.fixture
def _patient_breaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Late answers on a loaded host must not open the coordinator's breaker for later tests."""
    monkeypatch.setenv("JIMBOT_BREAKER_RESOURCE_COORDINATOR", "1000000/1/1")
    forget_breakers()
    yield
    forget_breakers()


@pytest.mark.usefixtures("_patient_breaker")
async def test_concurrent_callers_against_several_copies_never_over_grant(
    settings: Settings, nc: Client, names: Names
) -> None:
    kv = await nc.jetstream().key_value(names.bucket(BUCKET))
    revisions: dict[int, int] = defaultdict(int)
    violations: list[str] = []
    held: list[tuple[int, int, float, float]] = []  # type, amount, from, to (epoch seconds)
    outcomes: dict[str, int] = defaultdict(int)
    ends: dict[str, str] = {}  # grant id -> how its caller saw it end ("released" or "expired")
    capacity = CONFIG.capacity

    def check(kind: int, raw: bytes | None, where: str) -> None:
        pool = decode(raw)
        if pool.allocated > capacity[kind]:
            violations.append(f"{where}: {type_name(kind)} {pool.allocated} > {capacity[kind]}")

    async def watch() -> None:
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None or entry.value is None:
                    continue
                kind = next(k for k in capacity if pool_key(k) == entry.key)
                revisions[kind] += 1
                check(kind, entry.value, f"revision {entry.revision}")
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    async def caller(index: int, conn: Client) -> None:
        rng = random.Random(index)
        for _ in range(ROUNDS):
            kind = rng.choice(list(capacity))
            amount = rng.randint(1, capacity[kind] // 2)
            duration_ms = rng.randint(30, 300)
            req = ask(f"c{index}", kind, amount, duration_ms, rng.choice(PRIORITIES))
            try:
                grant = await take(conn, names, req, timeout=rng.choice((0.5, 1.0, 3.0)))
            except DeadlineExceeded:
                # A loaded host may answer late; a lease granted meanwhile still counts in
                # the KV checks, and nobody holds it on the callers' side.
                outcomes["late"] += 1
                continue
            received = time.time()
            if not grant.granted:
                outcomes["denied"] += 1
                continue
            outcomes["granted"] += 1
            for each in capacity:
                entry = await kv.get(pool_key(each)) if revisions[each] else None
                check(each, entry.value if entry else None, f"after grant {grant.grant_id}")
            expires = grant.expires_at.ToMilliseconds() / 1000
            if rng.random() < 0.5:
                await anyio.sleep(rng.uniform(0, duration_ms / 1000 / 2))
                ended = time.time()
                released = await give_back(conn, names, grant.grant_id, f"c{index}")
                outcomes["released" if released.released else "expired first"] += 1
                ends[grant.grant_id] = "released" if released.released else "expired"
                held.append((kind, amount, received, min(ended, expires)))
            else:
                ends[grant.grant_id] = "expired"
                held.append((kind, amount, received, expires))

    async with coordinators(settings, CONFIG, copies=COPIES) as copies, events(nc, names) as log:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.sleep(0.1)
            async with anyio.create_task_group() as callers:
                for index in range(CALLERS):
                    callers.start_soon(caller, index, copies[index % COPIES])
            tg.cancel_scope.cancel()
        announced: dict[str, list[str]] = defaultdict(list)

        def all_ended() -> bool:
            announced.clear()
            for kind_name, event in log.seen:
                announced[event.grant.grant_id].append(kind_name)
            return all(len(announced[grant_id]) >= 2 for grant_id in ends)

        # Every lease has run out by now (300 ms at most); the sweeps announce the rest.
        await wait_for(all_ended, timeout=10)
    for grant_id, end in ends.items():
        assert announced[grant_id] == ["granted", end], (grant_id, announced[grant_id])

    assert not violations, violations[:5]
    for kind in capacity:
        # At every moment a caller started holding a lease, what all callers held fits.
        spans = [(a, f, t) for k, a, f, t in held if k == kind]
        for _, start, _ in spans:
            total = sum(a for a, f, t in spans if f <= start < t)
            assert total <= capacity[kind], (type_name(kind), start, total)
    assert outcomes["granted"] >= CALLERS * ROUNDS // 4, dict(outcomes)
    assert sum(revisions.values()) >= outcomes["granted"], dict(revisions)
