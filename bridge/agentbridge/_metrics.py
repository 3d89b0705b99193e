"""Prometheus metrics of the shim, by gRPC method and outcome.

``status`` is ``ok`` or what went wrong, in the shim's words: a gRPC rejection
(``invalid_argument``, ``resource_exhausted``, ``unauthenticated``), or an ``ERROR`` answer's
``error_detail`` class (``policy_timeout``, ``no_policy``, ``policy_error``,
``bus_unavailable``, ``action_not_allowed``, ``invalid_action``), or ``not_stored`` for a
percept JetStream did not keep. ``bridge_errors_total`` counts every non-``ok`` one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from types import TracebackType

REQUESTS = Counter(
    "bridge_requests_total",
    "AgentBridge calls, by gRPC method and outcome.",
    ["method", "status"],
)
ERRORS = Counter(
    "bridge_errors_total",
    "AgentBridge calls that did not end ok, by gRPC method and outcome.",
    ["method", "status"],
)
LATENCY = Histogram(
    "bridge_request_duration_seconds",
    "Time to answer an AgentBridge call (a stream: until its last item), by method.",
    ["method", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@dataclass
class Outcome:
    """The status one call ends with; the handler sets it as it learns more."""

    status: str = "ok"


def status_of(detail: str) -> str:
    """The metric label for an ``error_detail``: ``policy_error:500`` → ``policy_error``."""
    return detail.partition(":")[0] or "error"


_CHILDREN: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
"""(method, status) → its bound counter, error counter (or None) and histogram: ``labels()``
takes a lock and builds a key on every call, which on the RequestAction path is per request."""


def _children(method: str, status: str) -> tuple[Any, Any, Any]:
    found = _CHILDREN.get((method, status))
    if found is None:
        error = ERRORS.labels(method, status) if status != "ok" else None
        found = (REQUESTS.labels(method, status), error, LATENCY.labels(method, status))
        if len(_CHILDREN) < 1024:  # statuses come from a fixed set; stay bounded regardless
            _CHILDREN[method, status] = found
    return found


class measured:
    """Count and time one call under ``method`` with the outcome set inside the block.

    A class rather than a ``@contextmanager`` generator: a third of the cost, per request.
    """

    __slots__ = ("method", "outcome", "started")

    def __init__(self, method: str) -> None:
        self.method = method
        self.outcome = Outcome()
        self.started = 0.0

    def __enter__(self) -> Outcome:
        self.started = time.perf_counter()
        return self.outcome

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = self.outcome
        if kind is not None and outcome.status == "ok":
            outcome.status = "cancelled" if issubclass(kind, asyncio.CancelledError) else "internal"
        requests, errors, latency = _children(self.method, outcome.status)
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(time.perf_counter() - self.started)
