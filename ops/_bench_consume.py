"""Bench case 1: JetStream consume (fetch + process + ack), raw nats-py against the runtime.

Both sides get a freshly provisioned prefix whose events stream is filled before the clock
starts, and a durable with the same server-side config (``subjects.ConsumerSpec``). The
clock starts once the consumer exists (the raw side's ``add_consumer``, the worker's start-up
provisioning, are left out) and stops only when the server's ack floor has reached the last
message, so an ack still sitting in a client buffer does not count as done.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError

from handlers import Consumer, Settings, Worker, connect
from schemas import JimbotError
from subjects import ConsumerSpec, Names, buckets, provision, streams

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.api import ConsumerConfig
    from nats.js.client import JetStreamContext

    from handlers import Context

SUBJECT = "events.custom.bench"
BODY = b"x" * 100
"""About the size of a small game event."""
MAX_WAIT = 2.0
"""Seconds one fetch waits when the stream is empty (the runtime's own value)."""


@dataclass(frozen=True, slots=True)
class ConsumeFigures:
    """One measured run: throughput, and this process's CPU time per message."""

    msgs_per_s: float
    cpu_us: float


class _Clock:
    """Wall and process-CPU time since construction (the CPU time is robust to a busy box)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def figures(self, count: int) -> ConsumeFigures:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        return ConsumeFigures(msgs_per_s=count / wall, cpu_us=cpu / count * 1e6)


async def drop_prefix(js: JetStreamContext, names: Names) -> None:
    """Delete every stream and bucket of ``names`` so the server's state stays small."""
    for name in [s.config.name for s in streams(names)] + [b.stream_name for b in buckets(names)]:
        try:
            await js.delete_stream(name or "")
        except NotFoundError:
            pass


async def _fill(nc: Client, names: Names, count: int) -> None:
    """Provision the prefix and store ``count`` messages in its events stream, pipelined."""
    js = nc.jetstream()
    await provision(js, names)
    subject = names.subject(SUBJECT)
    for i in range(count):
        headers = {
            "Nats-Msg-Id": f"bench-{i}",
            "Content-Type": "application/octet-stream",
            "Jimbot-Event-Type": "CUSTOM",
        }
        await js.publish_async(subject, BODY, headers=headers)
    await js.publish_async_completed()


async def _wait_acked(nc: Client, names: Names, durable: str, count: int) -> None:
    """Return once the server has recorded the ack of all ``count`` messages."""
    js = nc.jetstream()
    while True:
        info = await js.consumer_info(names.events_stream, durable)
        if info.ack_floor.stream_seq >= count and not info.num_ack_pending:
            return
        await anyio.sleep(0.002)


@contextmanager
def _bounded(side: str, count: int) -> Iterator[None]:
    """Fail with one clear line, rather than hang, when a side stops making progress."""
    budget = 30 + count / 200
    try:
        with anyio.fail_after(budget):
            yield
    except TimeoutError:
        raise JimbotError(
            f"the {side} consumer did not get {count:,} messages acked within {budget:.0f} s"
        ) from None


def _spec(handler: str, concurrency: int) -> ConsumerSpec:
    return ConsumerSpec(handler=handler, subjects=(SUBJECT,), max_ack_pending=concurrency)


async def consume_raw(url: str, names: Names, count: int, batch: int) -> ConsumeFigures:
    """Messages per second of a plain ``fetch(batch)`` + ``ack()`` loop."""
    nc = await nats.connect(url, name="bench-raw")
    try:
        await _fill(nc, names, count)
        spec = _spec("raw", batch)
        return await fetch_and_ack(nc, names, spec, spec.config(names), count, batch)
    finally:
        await nc.close()


async def fetch_and_ack(
    nc: Client,
    names: Names,
    spec: ConsumerSpec,
    config: ConsumerConfig,
    count: int,
    batch: int,
) -> ConsumeFigures:
    """The raw baseline: ``count`` stored messages taken with ``fetch(batch)`` and acked one
    by one, through a durable made from ``config``; the prefix is dropped afterwards."""
    js = nc.jetstream()
    await js.add_consumer(names.events_stream, config)
    psub = await js.pull_subscribe_bind(durable=spec.durable(names), stream=names.events_stream)
    clock = _Clock()
    done = size = 0
    with _bounded("raw", count):
        while done < count:
            try:
                msgs: list[Msg] = await psub.fetch(batch, timeout=MAX_WAIT)
            except NatsTimeoutError:
                continue
            for msg in msgs:
                size += len(msg.data)  # the trivial "processing"
                await msg.ack()
                done += 1
        await _wait_acked(nc, names, spec.durable(names), count)
    figures = clock.figures(count)
    await psub.unsubscribe()
    await drop_prefix(js, names)
    return figures


async def consume_runtime(url: str, names: Names, count: int, concurrency: int) -> ConsumeFigures:
    """Messages per second of a :class:`handlers.Consumer` run by a :class:`handlers.Worker`."""
    nc = await connect(url, name="bench-runtime")
    try:
        await _fill(nc, names, count)
        done = anyio.Event()
        seen = 0

        async def handle(body: bytes, ctx: Context) -> None:
            nonlocal seen
            seen += 1
            if seen >= count:
                done.set()

        consumer = Consumer(
            name="runtime", subjects=[SUBJECT], handle=handle, concurrency=concurrency
        )
        settings = Settings(
            nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0
        )
        worker = Worker([consumer], settings=settings, nc=nc)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            clock = _Clock()
            with _bounded("runtime", count):
                await done.wait()
                await _wait_acked(nc, names, consumer.spec().durable(names), count)
            figures = clock.figures(count)
            # All is acked: skip the graceful stop, which waits out an idle fetch.
            worker.stop()
            tg.cancel_scope.cancel()
        await drop_prefix(nc.jetstream(), names)
        return figures
    finally:
        await nc.close()
