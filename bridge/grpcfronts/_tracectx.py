"""W3C trace context between gRPC metadata and NATS headers.

A client sends ``traceparent``/``tracestate`` as call metadata (what OpenTelemetry's gRPC
instrumentation does). The fronts make that the current context while they work, so a span the
runtime helpers start is its child, and also pass the two values through verbatim: without an
OpenTelemetry SDK no span is recorded, yet the trace still continues on the bus.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import propagate

if TYPE_CHECKING:
    from collections.abc import Iterator

    import grpc

TRACE_KEYS = ("traceparent", "tracestate")


def trace_metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's ``traceparent``/``tracestate`` metadata (empty when the client sent none)."""
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if key in TRACE_KEYS and isinstance(value, str):
            found[key] = value
    return found


@contextmanager
def continued(carrier: dict[str, str]) -> Iterator[None]:
    """Make the client's trace the current context for the body of the ``with``."""
    if "traceparent" not in carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)
