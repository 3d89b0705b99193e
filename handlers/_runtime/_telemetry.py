"""Tracing through NATS headers, and JSON logs with the spec's fields.

Only the OpenTelemetry *API* is a runtime dependency: with no SDK installed spans are
non-recording but ``traceparent`` still flows from producer to consumer unchanged, so a trace
started anywhere continues through every hop.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import msgspec
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from schemas import JimbotError

tracer = trace.get_tracer("jimbot.handlers")

_LOG_FIELDS = ("event_type", "duration_ms", "subject", "handler", "deliveries", "error")


TRACE_HEADERS = ("traceparent", "tracestate")


def tracing_enabled() -> bool:
    """Whether an SDK is installed as the tracer provider (spans are recorded somewhere).

    Without one, creating a non-recording span per message costs ~7-14 µs for nothing; the
    runtime then passes ``traceparent``/``tracestate`` through from input to output instead,
    so a trace still continues across every hop.
    """
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def inject_trace(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent``/``tracestate`` of the current span to outgoing NATS headers."""
    if tracing_enabled():
        propagate.inject(headers)
    return headers


@contextmanager
def consumer_span(
    name: str, headers: Mapping[str, str] | None, attributes: Mapping[str, Any]
) -> Iterator[Span | None]:
    """A span per message, a child of the producer's span carried in ``traceparent``."""
    if not tracing_enabled():
        yield None
        return
    parent = propagate.extract(dict(headers or {}))
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=dict(attributes)
    ) as span:
        yield span


@contextmanager
def producer_span(name: str, attributes: Mapping[str, Any]) -> Iterator[Span | None]:
    if not tracing_enabled():
        yield None
        return
    with tracer.start_as_current_span(
        name, kind=SpanKind.PRODUCER, attributes=dict(attributes)
    ) as span:
        yield span


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the spec's fields: timestamp, level, component,
    trace_id, span_id, message, and event_type / duration_ms when the record carries them."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component
        self._encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        ctx = trace.get_current_span().get_span_context()
        out: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "component": getattr(record, "component", self.component),
            "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else None,
            "span_id": format(ctx.span_id, "016x") if ctx.is_valid else None,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key in _LOG_FIELDS:
            if (value := getattr(record, key, None)) is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(out).decode()


class TracingUnavailable(JimbotError):
    """Raised when ``TRACE_ENDPOINT`` is set but the OTLP exporter is not installed."""


def setup_tracing(component: str, endpoint: str | None) -> Callable[[], None]:
    """Export spans over OTLP/gRPC to ``endpoint`` when it is set.

    Returns a function that flushes and shuts the exporter down (call it on exit).

    Raises:
        TracingUnavailable: naming the extra to install.
    """
    if not endpoint:
        return lambda: None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            f"TRACE_ENDPOINT={endpoint} is set but the OTLP exporter is not installed: "
            "pip install 'jimbot[otlp]', or unset TRACE_ENDPOINT"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": component}))
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    return provider.shutdown


def setup_logging(component: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h.formatter, JsonFormatter):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(component))
    root.addHandler(handler)
    root.setLevel(level)
    # nats-py logs every reconnect attempt at ERROR; ours says it once with the fix.
    logging.getLogger("nats").setLevel(logging.WARNING)
