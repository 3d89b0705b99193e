"""Error events: the spec's ``ErrorEvent`` on ``events.error.<component>``, best effort.

The runtime reports without any handler code: a consumer message retried (``WARNING``,
``RETRY``) or dead-lettered (``ERROR``: ``FALLBACK`` for input that can never be processed,
``ESCALATE`` when retries ran out), an endpoint's unexpected exception (``ERROR``,
``ESCALATE``), a circuit breaker opening (``ERROR``/``WARNING``, ``CIRCUIT_BREAK``) or closing
again (``INFO``, ``RETRY``), and a lost NATS connection (``WARNING``, ``RETRY``, published once
it is back). Edges report their own (``gateway``, ``agentbridge``).

Why a reporter object rather than a function: an error event must never hold up or break the
code that failed, so :meth:`ErrorReporter.report` is synchronous and hands the publish to a task
the reporter owns, bounded in number and in time; and a failure loop must not become an event
storm, so it remembers what it sent. At most one event per component, severity, action and
error type per ``interval`` seconds is published; the rest are counted, and when the window
ends a summary event says how many there were (``context["repeats"]``). Every report
increments ``jimbot_error_rate{component,severity,error_type}``. A failure to publish an error
event is only logged: never reported again, so it cannot loop.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio
from prometheus_client import Counter

from handlers._runtime import _breakers
from handlers._runtime._client import publish
from handlers._runtime._metrics import ERRORS
from handlers._runtime._tasks import TaskSet
from schemas import JimbotError, create_event, events_pb2
from subjects import event_subject

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

log = logging.getLogger("jimbot.errors")

Severity = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
Action = Literal["RETRY", "CIRCUIT_BREAK", "FALLBACK", "ESCALATE"]

ERROR_EVENTS = Counter(
    "jimbot_error_events_total",
    "Error events by what became of them: published, suppressed (rate limit, summarised "
    "later), dropped (too many pending, or NATS stayed down), failed (publish error).",
    ["component", "outcome"],
)

MAX_MESSAGE = 2000
MAX_STACK = 8000
_MAX_WINDOWS = 1000


def error_event(
    *,
    component: str,
    severity: Severity,
    action: Action,
    message: str,
    error_type: str,
    exc: BaseException | None = None,
    affected: Sequence[str] = (),
    context: Mapping[str, str] | None = None,
) -> events_pb2.Event:
    """The ``Event`` envelope around one ``ErrorEvent``; its event id is the error id.

    The stack trace is kept for unexpected exceptions only: a ``JimbotError`` is raised on
    purpose and its message says all there is.
    """
    error_id = str(uuid.uuid4())
    payload = events_pb2.ErrorEvent(
        error_id=error_id,
        source_component=component,
        severity=events_pb2.ErrorEvent.ErrorSeverity.Value(severity),
        message=message[:MAX_MESSAGE],
        suggested_action=events_pb2.ErrorEvent.RecoveryAction.Value(action),
    )
    if exc is not None and not isinstance(exc, JimbotError):
        payload.stack_trace = "".join(traceback.format_exception(exc))[-MAX_STACK:]
    payload.context["error_type"] = error_type
    for key, value in (context or {}).items():
        payload.context[key] = str(value)[:MAX_MESSAGE]
    payload.affected_components.extend(dict.fromkeys([component, *affected]))
    return create_event(payload, source=component, event_id=error_id)


@dataclass(frozen=True, slots=True)
class _Report:
    """One report, kept until its event is built (a summary reuses the last one)."""

    component: str
    severity: Severity
    action: Action
    message: str
    error_type: str
    affected: tuple[str, ...]
    context: dict[str, str]

    def event(self, exc: BaseException | None = None) -> events_pb2.Event:
        return error_event(
            component=self.component,
            severity=self.severity,
            action=self.action,
            message=self.message,
            error_type=self.error_type,
            exc=exc,
            affected=self.affected,
            context=self.context,
        )


@dataclass
class _Window:
    """What one kind of error (component, severity, action, error type) sent lately."""

    sent_at: float
    suppressed: int = 0
    last: _Report | None = None
    summary_due: bool = False

    def summary(self, interval: float) -> events_pb2.Event | None:
        """The event for what was suppressed since ``sent_at``; resets the window."""
        repeats, last = self.suppressed, self.last
        self.suppressed, self.last, self.summary_due = 0, None, False
        self.sent_at = time.monotonic()
        if not repeats or last is None:
            return None
        summary = _Report(
            last.component,
            last.severity,
            last.action,
            f"{last.message} (x{repeats} in the last {interval:g}s)",
            last.error_type,
            last.affected,
            {**last.context, "repeats": str(repeats), "window_seconds": f"{interval:g}"},
        )
        return summary.event()


@dataclass(frozen=True, slots=True)
class ReporterStatistics:
    """Counts since the reporter was made (also in ``jimbot_error_events_total``)."""

    published: int
    suppressed: int
    dropped: int
    failed: int
    pending: int


_ACTIVE: list[ErrorReporter] = []
"""Open reporters, newest last: breaker changes go to the one of the breaker's prefix."""


class ErrorReporter:
    """Publishes one component's (and its handlers') error events on one connection.

    Args:
        nc: the connection to publish on.
        names: the prefix's names; events go to ``<prefix>.events.error.<component>``.
        component: the default component (``COMPONENT_NAME``, or the edge's name).
        interval: seconds of the rate-limit window per kind of error; 0 publishes every one.
        timeout: seconds one publish may wait for JetStream's ack.
        reconnect_wait: seconds a report waits for a lost connection to come back.
        max_pending: publishes waiting at most; more are dropped and counted.
    """

    def __init__(
        self,
        nc: Client,
        names: Names,
        *,
        component: str,
        interval: float = 10.0,
        timeout: float = 2.0,
        reconnect_wait: float = 60.0,
        max_pending: int = 100,
    ) -> None:
        self.nc = nc
        self.names = names
        self.component = component
        self.interval = interval
        self.timeout = timeout
        self.reconnect_wait = reconnect_wait
        self.max_pending = max_pending
        self._js = nc.jetstream()
        self._publishes = TaskSet()
        self._summaries = TaskSet()
        self._windows: dict[tuple[str, str, str, str], _Window] = {}
        self._counts = {"published": 0, "suppressed": 0, "dropped": 0, "failed": 0}
        self._closed = False
        _ACTIVE.append(self)

    def statistics(self) -> ReporterStatistics:
        return ReporterStatistics(**self._counts, pending=len(self._publishes))

    def report(
        self,
        *,
        severity: Severity,
        action: Action,
        message: str,
        error_type: str,
        component: str | None = None,
        exc: BaseException | None = None,
        affected: Sequence[str] = (),
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Count the error, and publish an ``ErrorEvent`` for it unless its kind was published
        less than ``interval`` seconds ago. Never raises, never waits."""
        try:
            report = _Report(
                component or self.component,
                severity,
                action,
                message,
                error_type,
                tuple(affected),
                dict(context or {}),
            )
            self._report(report, exc)
        except Exception:
            log.exception("could not report an error event")

    def _report(self, report: _Report, exc: BaseException | None) -> None:
        ERRORS.labels(report.component, report.severity, report.error_type).inc()
        if self._closed:
            return
        key = (report.component, report.severity, report.action, report.error_type)
        now = time.monotonic()
        window = self._windows.get(key)
        if window is not None and now - window.sent_at < self.interval:
            window.suppressed += 1
            window.last = report
            self._count(report.component, "suppressed")
            if not window.summary_due:
                window.summary_due = True
                self._summaries.spawn(self._summarise(window))
            return
        if len(self._windows) >= _MAX_WINDOWS:
            self._forget_old(now)
        self._windows[key] = _Window(sent_at=now)
        self._send(report.component, report.event(exc))

    def _forget_old(self, now: float) -> None:
        for key, window in list(self._windows.items()):
            if not window.summary_due and now - window.sent_at >= self.interval:
                del self._windows[key]

    def _send(self, component: str, event: events_pb2.Event) -> None:
        if len(self._publishes) >= self.max_pending:
            self._count(component, "dropped")
            log.warning("error event dropped: %d already pending", len(self._publishes))
            return
        self._publishes.spawn(self._publish(component, event))

    def _count(self, component: str, outcome: str) -> None:
        self._counts[outcome] += 1
        ERROR_EVENTS.labels(component, outcome).inc()

    async def _summarise(self, window: _Window) -> None:
        """At the end of the window, one event for everything suppressed in it."""
        await anyio.sleep(max(window.sent_at + self.interval - time.monotonic(), 0.0))
        last = window.last
        event = window.summary(self.interval)
        if event is not None and last is not None:
            self._send(last.component, event)

    async def _publish(self, component: str, event: events_pb2.Event) -> None:
        subject = self.names.subject(event_subject("ERROR", component))
        if not self.nc.is_connected:
            # Said in the log now; published when the connection is back (it reconnects).
            log.warning("NATS is down: error event %s waits for the reconnect", event.event_id)
            if not await wait_connected(self.nc, self.reconnect_wait):
                self._count(component, "dropped")
                log.warning("error event %s dropped: NATS stayed down", event.event_id)
                return
        try:
            with anyio.fail_after(self.timeout + 0.5):
                await publish(
                    self._js,
                    subject,
                    event,
                    msg_id=event.event_id,
                    event_type="ERROR",
                    source=component,
                    timeout=self.timeout,
                )
        except Exception as exc:
            # Only logged: reporting it would be an error about an error, and could loop.
            self._count(component, "failed")
            log.warning("could not publish error event to %s: %s", subject, exc)
            return
        self._count(component, "published")

    async def aclose(self, *, grace: float | None = None) -> None:
        """Stop taking reports, publish what the windows still hold, then stop.

        Pending publishes get ``grace`` seconds (default ``timeout``), then are cancelled.
        """
        self._closed = True
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        with anyio.CancelScope(shield=True):
            await self._summaries.cancel_all()
            for window in self._windows.values():
                last = window.last
                event = window.summary(self.interval)
                if event is not None and last is not None:
                    self._send(last.component, event)
            with anyio.move_on_after(self.timeout if grace is None else grace):
                await self._publishes.join()
            await self._publishes.cancel_all()


async def wait_connected(nc: Client, timeout: float) -> bool:
    """True once ``nc`` is connected; False when it is closed or ``timeout`` passed first."""
    deadline = anyio.current_time() + timeout
    while not nc.is_connected:
        if nc.is_closed or anyio.current_time() >= deadline:
            return False
        await anyio.sleep(0.1)
    return True


def reporter_for(prefix: str) -> ErrorReporter | None:
    """The newest open reporter of ``prefix``; for ``""`` (process-wide), the newest of all."""
    for reporter in reversed(_ACTIVE):
        if not prefix or reporter.names.prefix == prefix:
            return reporter
    return None


def _on_breaker_change(cb: _breakers.Breaker, old: str, new: str) -> None:
    """Breaker opened or closed again → an error event from the component that calls it."""
    if new == _breakers.HALF_OPEN:
        return
    reporter = reporter_for(cb.scope)
    if reporter is None:
        return
    s = cb.settings
    context = {
        "breaker": cb.name,
        "from": old,
        "to": new,
        "failure_threshold": str(s.failure_threshold),
        "timeout_seconds": f"{s.timeout:g}",
        "half_open_requests": str(s.half_open_requests),
    }
    if new == _breakers.OPEN:
        again = old == _breakers.HALF_OPEN
        reporter.report(
            severity="WARNING" if again else "ERROR",
            action="CIRCUIT_BREAK",
            message=(
                f"circuit breaker {cb.name} opened "
                + (
                    "again: a half-open trial failed"
                    if again
                    else f"after {s.failure_threshold} failures in a row"
                )
                + f"; calls to {cb.name} fail fast for {s.timeout:g}s"
            ),
            error_type="CircuitOpen",
            affected=[cb.name],
            context=context,
        )
    elif new == _breakers.CLOSED and old != _breakers.CLOSED:
        reporter.report(
            severity="INFO",
            action="RETRY",
            message=f"circuit breaker {cb.name} closed: {cb.name} answers again",
            error_type="CircuitClosed",
            affected=[cb.name],
            context=context,
        )


_breakers.STATE_HOOKS.append(_on_breaker_change)
