"""Prometheus metrics, named as the spec names them, shared by every handler of a process."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

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


def in_flight(handlers: list[str]) -> int:
    """Messages and requests ``handlers`` are processing now (for heartbeats)."""
    total = 0.0
    for name in handlers:
        total += REGISTRY.get_sample_value("jimbot_handler_in_flight", {"handler": name}) or 0.0
    return int(total)


class HandlerMetrics:
    """The labelled children of one handler, bound once: ``labels()`` takes a lock per call,
    which on the hot path costs more than the increments themselves."""

    def __init__(self, handler: str, method: str) -> None:
        self.handler = handler
        self.method = method
        self.in_flight = IN_FLIGHT.labels(handler)
        self._outcomes: dict[str, Any] = {}
        self._durations: dict[str, Any] = {}
        self._messages: dict[tuple[str, str], Any] = {}

    def outcome(self, outcome: str) -> None:
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = OUTCOMES.labels(self.handler, outcome)
        child.inc()

    def duration(self, status: str, seconds: float) -> None:
        child = self._durations.get(status)
        if child is None:
            child = self._durations[status] = REQUEST_DURATION.labels(
                self.handler, self.method, status
            )
        child.observe(seconds)

    def message(self, source: str, event_type: str) -> None:
        key = (source, event_type)
        child = self._messages.get(key)
        if child is None:
            if len(self._messages) > 1000:  # producers choose these labels: bound the cache
                self._messages.clear()
            child = self._messages[key] = MESSAGES.labels(source, self.handler, event_type)
        child.inc()

    def error(self, severity: str, error_type: str) -> None:
        ERRORS.labels(self.handler, severity, error_type).inc()
