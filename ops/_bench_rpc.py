"""Bench case 2: request-reply latency and throughput, raw nats-py against the runtime.

Three pairings, each on its own prefix: a raw ``cb=`` responder called with ``nc.request``
(``raw``); a :class:`handlers.Endpoint` called with :func:`handlers.request` (``runtime``);
and the same endpoint called with plain ``nc.request`` (``runtime_server``), which tells
the client's cost from the server's. Servers and callers use separate connections.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import cycle
from typing import TYPE_CHECKING, Literal

import anyio
import nats
from nats.errors import NoRespondersError

from handlers import (
    CircuitOpen,
    Endpoint,
    ServiceError,
    Settings,
    Worker,
    connect,
    forget_breakers,
    request,
)
from ops._bench_consume import drop_prefix

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from handlers import Context
    from subjects import Names

SUBJECT = "rpc.bench.echo"
BODY = b"r" * 100
TIMEOUT = 5.0
Side = Literal["raw", "runtime", "runtime_server"]
SIDES: tuple[Side, ...] = ("raw", "runtime", "runtime_server")
Call = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RpcFigures:
    """One measured run: latency percentiles and this process's CPU time per request (both
    callers and server live in it) in microseconds, and requests per second."""

    p50_us: float
    p99_us: float
    req_per_s: float
    cpu_us: float


def _percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in microseconds."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1] / 1000


def time_calls(call: Callable[[], object], total: int) -> RpcFigures:
    """``call()`` ``total`` times in this process, no NATS: what the work alone costs."""
    latencies: list[int] = []
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(total):
        t0 = time.perf_counter_ns()
        call()
        latencies.append(time.perf_counter_ns() - t0)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ordered = sorted(latencies)
    return RpcFigures(
        p50_us=_percentile(ordered, 0.50),
        p99_us=_percentile(ordered, 0.99),
        req_per_s=total / elapsed,
        cpu_us=cpu / total * 1e6,
    )


async def _until_answered(call: Call, within: float = 10.0) -> None:
    """Wait until the responder answers: on a loaded machine a new subscription's interest
    can reach the server's routing a moment after the responder is told it started."""
    with anyio.fail_after(within):
        while True:
            try:
                await call()
                return
            except NoRespondersError:
                await anyio.sleep(0.05)
            except CircuitOpen:
                # Probes that met no responder opened the breaker; the timed run starts closed.
                forget_breakers()
            except ServiceError as exc:  # handlers.request's word for no responders
                if exc.code != "503":
                    raise
                await anyio.sleep(0.05)


async def _drive(call: Call, total: int, callers: int) -> RpcFigures:
    """``callers`` tasks issue ``total`` requests between them, one at a time each."""
    await _until_answered(call)
    latencies: list[int] = []
    share, extra = divmod(total, callers)

    async def caller(count: int) -> None:
        for _ in range(count):
            t0 = time.perf_counter_ns()
            await call()
            latencies.append(time.perf_counter_ns() - t0)

    started, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for i in range(callers):
            tg.start_soon(caller, share + (1 if i < extra else 0))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    return RpcFigures(
        p50_us=_percentile(latencies, 0.50),
        p99_us=_percentile(latencies, 0.99),
        req_per_s=total / elapsed,
        cpu_us=cpu / total * 1e6,
    )


async def _echo(body: bytes, ctx: Context) -> bytes:
    return body


async def echo_raw(
    url: str, subject: str, bodies: Sequence[bytes], total: int, callers: int
) -> RpcFigures:
    """The baseline of every request-reply suite: a plain nats-py queue-group subscription that
    echoes with ``msg.respond``, called with ``nc.request`` on ``bodies`` in turn."""
    server = await nats.connect(url, name="bench-echo-server")
    client = await nats.connect(url, name="bench-echo-client")
    next_body = cycle(bodies).__next__

    async def respond(msg: Msg) -> None:
        await msg.respond(msg.data)

    try:
        sub = await server.subscribe(subject, queue="q", cb=respond)
        await server.flush()

        async def call() -> Msg:
            return await client.request(subject, next_body(), timeout=TIMEOUT)

        figures = await _drive(call, total, callers)
        await sub.unsubscribe()
        return figures
    finally:
        await client.close()
        await server.close()


async def rpc_raw(url: str, names: Names, total: int, callers: int) -> RpcFigures:
    """A plain queue-group subscription that answers with ``msg.respond``."""
    return await echo_raw(url, names.subject(SUBJECT), [BODY], total, callers)


async def rpc_runtime(url: str, names: Names, total: int, callers: int) -> dict[Side, RpcFigures]:
    """The runtime's endpoint, called by the runtime's client and then by plain nats-py."""
    server = await connect(url, name="bench-runtime-server")
    client = await connect(url, name="bench-runtime-client")
    subject = names.subject(SUBJECT)
    endpoint = Endpoint(name="echo", subject=SUBJECT, handle=_echo, concurrency=64)
    settings = Settings(nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0)
    worker = Worker([endpoint], settings=settings, nc=server)

    async def typed() -> bytes:
        return await request(client, subject, BODY, bytes, timeout=TIMEOUT)

    async def plain() -> Msg:
        return await client.request(subject, BODY, timeout=TIMEOUT)

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await server.flush()
            out: dict[Side, RpcFigures] = {
                "runtime": await _drive(typed, total, callers),
                "runtime_server": await _drive(plain, total, callers),
            }
            worker.stop()
        await drop_prefix(server.jetstream(), names)  # the worker provisioned them
        return out
    finally:
        await client.close()
        await server.close()
