"""Bench suite ``resources``: resource requests against raw nats-py echo request-reply.

Contention: ``callers`` tasks (50 by default) share one pool of ``CAPACITY`` GPU units served
by ``COPIES`` coordinator workers, each on its own connection (as separate processes would
be). Each caller requests ``AMOUNT`` units, and releases the grant as soon as it has it, in a
loop, so the callers race for the same KV key and, since ``callers × AMOUNT`` exceeds the
capacity, some wait for a release. Only the request is timed (from sending it to holding the
grant), against a raw nats-py echo request-reply of the same body with the same callers.

Without contention: ``FREE_CALLERS`` callers requesting 1 unit each, so every request fits at
once; this is the coordinator's own cost per request-and-release cycle.

CPU is this process's ``process_time`` (callers, copies and echo responder all live in it)
per request: steadier than rates on a shared host. The batching figures say how the copies'
writers coalesced changes (``changes / writes``) and how often two copies raced.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

import subjects
from handlers import Settings, Worker, connect, forget_breakers, request
from handlers._resources import KeeperStatistics, ResourceConfig
from handlers.resource_coordinator import coordinator_stores, create_endpoints
from ops._bench_consume import drop_prefix
from ops._bench_report import RAW, RUNTIME, Row, percentile
from ops._bench_rpc import RpcFigures, echo_raw
from schemas import JimbotError, events_pb2
from subjects import Names

if TYPE_CHECKING:
    from nats.aio.client import Client

    from ops._bench_report import Results

COPIES = 2
CAPACITY = 100
AMOUNT = 5
"""With 50 callers, 250 units wanted of 100: a request often waits for a release."""
FREE_CALLERS = 10
"""Callers of the uncontended case, each wanting 1 unit of 100: every request fits."""


@dataclass(frozen=True, slots=True)
class ResourceFigures(RpcFigures):
    """:class:`RpcFigures` of the coordinator, plus how its writes were batched."""

    batch: float
    """Changes (requests, releases) stored per KV write, over both copies."""
    conflicts_per_write: float
    """Writes refused because the other copy wrote first, per stored write."""
    reads_per_cycle: float
    """KV reads of the pool per request-and-release cycle."""


def _request(index: int, amount: int = AMOUNT) -> events_pb2.ResourceRequest:
    return events_pb2.ResourceRequest(
        component=f"bench{index % 50}",
        type=events_pb2.GPU_COMPUTE,
        amount=amount,
        duration_ms=10_000,
        priority=events_pb2.PRIORITY_NORMAL,
        request_id=uuid.uuid4().hex,
    )


async def coordinator(
    url: str, names: Names, total: int, callers: int, *, amount: int = AMOUNT
) -> ResourceFigures:
    """``COPIES`` coordinator workers; ``callers`` tasks request ``amount`` and release,
    ``total`` times between them. ``cpu_us`` is this process's CPU (callers and copies) per
    request-and-release cycle."""
    config = ResourceConfig(capacity={events_pb2.GPU_COMPUTE: CAPACITY}, request_timeout=5.0)
    settings = Settings(nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0)
    servers = [await connect(url, name=f"bench-coordinator-{i}") for i in range(COPIES)]
    client = await connect(url, name="bench-resource-client")
    ask = names.subject(subjects.RPC_RESOURCE_REQUEST)
    give = names.subject(subjects.RPC_RESOURCE_RELEASE)
    latencies: list[float] = []
    denied = 0

    async def caller(index: int, count: int) -> None:
        nonlocal denied
        for _ in range(count):
            t0 = time.perf_counter_ns()
            grant = await request(client, ask, _request(index, amount), events_pb2.ResourceGrant)
            latencies.append(time.perf_counter_ns() - t0)
            if not grant.granted:
                denied += 1
                continue
            rel = events_pb2.ResourceRelease(grant_id=grant.grant_id)
            await request(client, give, rel, events_pb2.ReleaseResponse)

    forget_breakers()  # a breaker opened by an earlier run must not fail these fast
    try:
        async with anyio.create_task_group() as tg:
            workers = [Worker(create_endpoints(config), settings=settings, nc=s) for s in servers]
            for worker in workers:
                await tg.start(worker.run)
            await client.flush()
            await caller(0, 1)  # every endpoint answers before the clock starts
            latencies.clear()
            share, extra = divmod(total, callers)
            started, cpu = time.perf_counter(), time.process_time()
            async with anyio.create_task_group() as load:
                for i in range(callers):
                    load.start_soon(caller, i, share + (1 if i < extra else 0))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            kept = [pool_statistics(s, names) for s in servers]
            for worker in workers:
                worker.stop()
        await drop_prefix(client.jetstream(), names)
    finally:
        await client.close()
        for server in servers:
            await server.close()
    if denied:
        raise JimbotError(f"{denied} of {total} bench requests were denied: the host is too slow")
    writes = sum(k.writes for k in kept)
    return ResourceFigures(
        p50_us=percentile(latencies, 0.50) / 1000,
        p99_us=percentile(latencies, 0.99) / 1000,
        req_per_s=total / elapsed,
        cpu_us=cpu / total * 1e6,
        batch=sum(k.changes for k in kept) / max(writes, 1),
        conflicts_per_write=sum(k.conflicts for k in kept) / max(writes, 1),
        reads_per_cycle=sum(k.reads for k in kept) / total,
    )


def pool_statistics(nc: Client, names: Names) -> KeeperStatistics:
    """The GPU pool keeper's statistics of the coordinator serving on ``nc``."""
    store = coordinator_stores(nc).get(names.prefix)
    if store is None:
        return KeeperStatistics(changes=0, writes=0, conflicts=0, reads=0)
    return store.keeper(events_pb2.GPU_COMPUTE).statistics()


CASES = {"resources": "under contention", "resources_free": "without contention"}


def rows(callers: int) -> list[Row]:
    out = []
    for case, what in CASES.items():
        n = callers if case == "resources" else FREE_CALLERS
        who = f"{n} callers, {COPIES} copies"
        out += [
            Row(f"{case}.p50_us", f"resource request {what} ({who}), p50 µs"),
            Row(f"{case}.p99_us", f"resource request {what} ({who}), p99 µs"),
            Row(f"{case}.req_per_s", f"resource request {what} ({who}), req/s"),
            Row(f"{case}.cpu_us", f"resource request {what} ({who}), CPU µs per request"),
        ]
    return out


async def measure(
    url: str, results: Results, *, requests: int, callers: int, rounds: int, warmup: bool
) -> str:
    """``rounds`` rounds of both cases, raw echo and the coordinator alternating which goes
    first."""
    body = _request(0).SerializeToString()
    batching: list[ResourceFigures] = []

    def fresh() -> Names:
        return Names(f"benchr{uuid.uuid4().hex[:10]}")

    if warmup:
        await echo_raw(
            url,
            fresh().subject(subjects.RPC_RESOURCE_REQUEST),
            [body],
            max(requests // 10, 1),
            callers,
        )
        await coordinator(url, fresh(), max(requests // 10, 1), callers)
    for index in range(rounds):
        for case, n, amount in (
            ("resources", callers, AMOUNT),
            ("resources_free", FREE_CALLERS, 1),
        ):
            for side in (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW):
                if side == RAW:
                    figures: RpcFigures = await echo_raw(
                        url, fresh().subject(subjects.RPC_RESOURCE_REQUEST), [body], requests, n
                    )
                else:
                    figures = await coordinator(url, fresh(), requests, n, amount=amount)
                    if case == "resources":
                        batching.append(figures)
                results.add_figures(case, side, figures)
    batch = statistics.median(f.batch for f in batching)
    conflicts = statistics.median(f.conflicts_per_write for f in batching)
    reads = statistics.median(f.reads_per_cycle for f in batching)
    return (
        f"Resources: `handlers.resource_coordinator` ({COPIES} copies on their own connections) "
        f"vs a raw echo responder, same {len(body)} B body; {callers} callers each requesting "
        f"{AMOUNT} of {CAPACITY} GPU units and releasing at once (under contention), and "
        f"{FREE_CALLERS} callers requesting 1 unit (without); {requests:,} requests per round, "
        f"median of {rounds}. Only the request is timed; CPU is per request (with its release "
        f"for the coordinator). Under contention each KV write stored {batch:.1f} changes, "
        f"{conflicts:.2f} writes per stored write lost a race to the other copy, and the "
        f"pool was read {reads:.2f} times per cycle."
    )
