"""A trace started by a producer continues in the handler's span, through NATS headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from handlers import Consumer, Context, Endpoint, publish, request
from tests.integration.helpers import running, wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    # The global provider can be set once per process; later sets are ignored with a warning.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    yield _exporter


async def test_consumer_span_continues_the_producers_trace(
    nc: Client, names: Names, settings: Settings, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    handled: list[str] = []

    async def note(body: bytes, ctx: Context) -> None:
        handled.append(ctx.headers["traceparent"])

    consumer = Consumer(name="traced", subjects=["events.custom.traced"], handle=note)
    tracer = trace.get_tracer("test-producer")
    async with running(consumer, settings=settings, nc=nc):
        with tracer.start_as_current_span("game loop") as root:
            await publish(nc.jetstream(), names.subject("events.custom.traced"), b"x", msg_id="t1")
        await wait_for(lambda: handled)
        await wait_for(
            lambda: any(s.kind == SpanKind.CONSUMER for s in exporter.get_finished_spans())
        )
    spans = exporter.get_finished_spans()
    trace_id = root.get_span_context().trace_id
    [producer] = [s for s in spans if s.kind == SpanKind.PRODUCER]
    [consumer_span] = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert producer.context is not None and consumer_span.context is not None
    assert producer.context.trace_id == trace_id
    assert consumer_span.context.trace_id == trace_id
    assert consumer_span.parent is not None
    assert consumer_span.parent.span_id == producer.context.span_id
    assert handled[0].split("-")[1] == format(trace_id, "032x")


async def test_request_reply_span_continues_the_callers_trace(
    nc: Client, names: Names, settings: Settings, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()

    async def echo(n: int, ctx: Context) -> int:
        return n

    endpoint = Endpoint(name="traced_rpc", subject="rpc.test.traced", handle=echo)
    tracer = trace.get_tracer("test-caller")
    async with running(endpoint, settings=settings, nc=nc):
        with tracer.start_as_current_span("agent step") as root:
            assert await request(nc, names.subject("rpc.test.traced"), 5, int) == 5
    trace_id = root.get_span_context().trace_id
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert servers and all(s.context is not None for s in servers)
    assert servers[0].context is not None and servers[0].context.trace_id == trace_id
