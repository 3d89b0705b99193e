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
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from collections.abc import Iterator

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


@contextmanager
def measured(method: str) -> Iterator[Outcome]:
    """Count and time one call under ``method`` with the outcome set inside the block."""
    outcome = Outcome()
    started = time.perf_counter()
    try:
        yield outcome
    except asyncio.CancelledError:
        if outcome.status == "ok":
            outcome.status = "cancelled"
        raise
    except Exception:
        if outcome.status == "ok":
            outcome.status = "internal"
        raise
    finally:
        REQUESTS.labels(method, outcome.status).inc()
        if outcome.status != "ok":
            ERRORS.labels(method, outcome.status).inc()
        LATENCY.labels(method, outcome.status).observe(time.perf_counter() - started)
