"""Bench case: what the circuit breaker costs a request.

The same typed request (:func:`handlers.request`) to the same raw echo responder, once with
``guard=False`` (the "raw" column) and once guarded by its breaker as every cross-component
call is (the "runtime" column), alternating which goes first. A closed breaker with no failure
counted should cost a state read, so the ratios should stay at 1.0.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import nats

from handlers import breaker, connect, request
from ops._bench_report import RAW, RUNTIME, Row
from ops._bench_rpc import BODY, TIMEOUT, RpcFigures, _drive
from subjects import Names

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ops._bench_report import Results

SUBJECT = "rpc.bench.guarded"


def rows() -> list[Row]:
    return [
        Row("breaker.p50_us", "request through a closed breaker, p50 µs", goal_max=1.05),
        Row("breaker.p99_us", "request through a closed breaker, p99 µs"),
        Row("breaker.req_per_s", "request through a closed breaker, req/s", goal_min=0.95),
        Row("breaker.cpu_us", "request through a closed breaker, CPU µs/req", goal_max=1.05),
        Row("breaker.guard_us", "the guard alone (no NATS), µs per call"),
    ]


async def guard_alone(calls: int) -> float:
    """Microseconds the guard adds to one awaited call, without NATS (the steady figure)."""

    async def nothing() -> None:
        return None

    cb = breaker("bench_guard", scope=f"benchb{uuid.uuid4().hex[:10]}")
    started = time.perf_counter()
    for _ in range(calls):
        await nothing()
    base = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(calls):
        await cb.guard(nothing)
    return max(time.perf_counter() - started - base, 0.0) / calls * 1e6


async def guarded_vs_unguarded(url: str, total: int, *, guard: bool) -> RpcFigures:
    """``total`` sequential requests to a raw echo responder on a fresh prefix."""
    names = Names(f"benchb{uuid.uuid4().hex[:10]}")
    server = await nats.connect(url, name="bench-breaker-server")
    client = await connect(url, name="bench-breaker-client")
    subject = names.subject(SUBJECT)

    async def respond(msg: Msg) -> None:
        await msg.respond(msg.data)

    async def call() -> bytes:
        return await request(client, subject, BODY, bytes, timeout=TIMEOUT, guard=guard)

    try:
        await server.subscribe(subject, queue="q", cb=respond)
        await server.flush()
        return await _drive(call, total, 1)
    finally:
        await client.close()
        await server.close()


async def measure(url: str, results: Results, *, requests: int, rounds: int, warmup: bool) -> str:
    """``rounds`` rounds; returns a one-line summary."""
    if warmup:
        await guarded_vs_unguarded(url, max(requests // 10, 1), guard=True)
    for index in range(rounds):
        results.add("breaker.guard_us", RUNTIME, await guard_alone(100 * requests))
        order = (False, True) if index % 2 == 0 else (True, False)
        for guard in order:
            figures = await guarded_vs_unguarded(url, requests, guard=guard)
            side = RUNTIME if guard else RAW
            results.add_figures("breaker", side, figures)
    raw, guarded = results.median("breaker.p50_us", RAW), results.median("breaker.p50_us", RUNTIME)
    alone = results.median("breaker.guard_us", RUNTIME)
    return (
        f"breaker: p50 {raw:.1f} µs unguarded, {guarded:.1f} µs guarded; "
        f"the guard alone {alone:.2f} µs per call"
    )
