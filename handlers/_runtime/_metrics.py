"""Prometheus metrics, named as the spec names them, shared by every handler of a process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "jimbot_event_bus_messages_total",
    "Messages that crossed the bus, by producer, consumer and event type.",
    ["source", "destination", "event_type"],
)
REQUEST_DURATION = Histogram(
    "jimbot_request_duration_seconds",
    "Time to process a message or answer a request.",
    ["service", "method", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "jimbot_error_rate",
    "Errors, by component, severity and error type (rate() it for a rate).",
    ["component", "severity", "error_type"],
)
OUTCOMES = Counter(
    "jimbot_handler_outcomes_total",
    "What the runtime did with each message: ack, nak, term, in_progress.",
    ["handler", "outcome"],
)
IN_FLIGHT = Gauge(
    "jimbot_handler_in_flight",
    "Messages or requests a handler is processing now.",
    ["handler"],
)
