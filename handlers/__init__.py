"""Stateless handler workers and the runtime that gives them delivery semantics.

A handler is one ``async def`` with a typed input and a small :class:`Context`, declared as a
:class:`Consumer` (JetStream) or :class:`Endpoint` (request-reply) value. The runtime owns
ack, nak, term, in-progress, dead letters, metrics, tracing and graceful shutdown. Each module
in this package can run alone: ``jimbot run <name>`` or ``python -m handlers.<name>``.
"""

from __future__ import annotations

from handlers._runtime._batch import BatchItem
from handlers._runtime._breakers import (
    Breaker,
    BreakerSettings,
    CircuitBreakerError,
    breaker,
    breaker_states,
    forget_breakers,
)
from handlers._runtime._client import (
    DEADLINE_HEADER,
    BusUnavailable,
    connect,
    map_nats_errors,
    publish,
    request,
    standard_headers,
)
from handlers._runtime._context import Context
from handlers._runtime._declare import Consumer, Endpoint, Handler
from handlers._runtime._error_events import ErrorReporter, error_event
from handlers._runtime._errors import (
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    HandlerError,
    HandlerNotFound,
    PermanentError,
    RetryableError,
    ServiceError,
)
from handlers._runtime._heartbeat import Beat, Heartbeat, read_beats
from handlers._runtime._loop import backend_options, tune_gc
from handlers._runtime._main import run, start_metrics
from handlers._runtime._presence import open_presence
from handlers._runtime._registry import declarations, handler_names, load
from handlers._runtime._settings import Settings
from handlers._runtime._telemetry import JsonFormatter, setup_logging
from handlers._runtime._worker import Worker

__all__ = [
    "BatchItem",
    "Beat",
    "Breaker",
    "BreakerSettings",
    "CircuitBreakerError",
    "CircuitOpen",
    "ErrorReporter",
    "Heartbeat",
    "error_event",
    "open_presence",
    "read_beats",
    "backend_options",
    "breaker",
    "breaker_states",
    "forget_breakers",
    "DEADLINE_HEADER",
    "BusUnavailable",
    "ConfigError",
    "Consumer",
    "Context",
    "DeadlineExceeded",
    "Endpoint",
    "Handler",
    "HandlerError",
    "HandlerNotFound",
    "JsonFormatter",
    "PermanentError",
    "RetryableError",
    "ServiceError",
    "Settings",
    "Worker",
    "connect",
    "declarations",
    "handler_names",
    "load",
    "map_nats_errors",
    "publish",
    "request",
    "run",
    "setup_logging",
    "standard_headers",
    "start_metrics",
    "tune_gc",
]
