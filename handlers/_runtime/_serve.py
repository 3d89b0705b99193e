"""Request-reply endpoints as ADR-32 micro services (``nats micro ls`` lists them).

nats-py's micro ``Endpoint`` calls its handler from a subscription callback, one request at a
time; we hand each request to a bounded task group instead, so one process serves many
requests at once, and we account processing time ourselves so ``nats micro stats`` is true.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from nats.micro import add_service
from nats.micro.request import Request

from handlers._runtime._breakers import CircuitBreakerError
from handlers._runtime._client import DEADLINE_HEADER
from handlers._runtime._context import Context
from handlers._runtime._errors import DeadlineExceeded, PermanentError, ServiceError
from handlers._runtime._metrics import HandlerMetrics
from handlers._runtime._tasks import TaskSet
from handlers._runtime._telemetry import consumer_span, tracing_enabled

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from handlers._runtime._declare import Endpoint
    from handlers._runtime._error_events import ErrorReporter
    from subjects import Names

log = logging.getLogger("jimbot.endpoint")

QUEUE_GROUP = "q"


def _budget(decl: Endpoint, headers: dict[str, str]) -> float:
    """Seconds this request may take: the caller's remaining time, else the endpoint's."""
    raw = headers.get(DEADLINE_HEADER)
    if raw:
        try:
            return max(int(raw), 0) / 1000
        except ValueError:
            pass
    return decl.timeout


def _record_stats(endpoint: Any, elapsed_ns: int, error: str | None) -> None:
    """Fold our real processing time into nats-py's endpoint stats (its fields are private)."""
    endpoint._processing_time += elapsed_ns
    if endpoint._num_requests:
        endpoint._average_processing_time = int(endpoint._processing_time / endpoint._num_requests)
    if error is not None:
        endpoint._num_errors += 1
        endpoint._last_error = error


async def run_endpoint(
    decl: Endpoint,
    *,
    names: Names,
    nc: Client,
    js: JetStreamContext,
    source: str,
    drain_timeout: float,
    stop: anyio.Event,
    errors: ErrorReporter | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``decl`` until ``stop`` is set, then finish in-flight requests and return.

    An unexpected exception is answered ``500`` and reported through ``errors``.
    """
    # fast_acquire: a free slot must not cost an event-loop pass per request, or every reply
    # gets its own socket write (measured: 20,000 writes for 20,000 requests).
    slots = anyio.Semaphore(decl.concurrency, fast_acquire=True)
    measure = HandlerMetrics(decl.name, "request")
    logger = logging.LoggerAdapter(log, {"handler": decl.name})
    service = await add_service(
        nc,
        name=names.service(decl.name),
        version=decl.version,
        description=decl.description or f"jimbot {decl.name}",
        metadata={"prefix": names.prefix},
    )
    stats_ref: list[Any] = []

    async def respond(req: Request, headers: dict[str, str]) -> None:
        # asyncio.timeout rather than an anyio scope: a third of the cost on this hot path,
        # and the runtime runs on asyncio only (as nats-py does).
        budget = _budget(decl, headers)
        timeout = asyncio.timeout(budget)
        try:
            async with timeout:
                value = decl.input_codec.decode(req.data)
                ctx = Context(
                    handler=decl.name,
                    names=names,
                    nc=nc,
                    js=js,
                    subject=req.subject,
                    headers=headers,
                    logger=logger,
                    source=source,
                    expires_at=anyio.current_time() + budget,
                )
                body = decl.output_codec.encode(await decl.handle(value, ctx))
        except TimeoutError:
            if timeout.expired():
                raise DeadlineExceeded() from None
            raise
        # No headers on success: the caller knows the type, and header encoding is a
        # measurable share of a small reply's cost.
        await req.respond(body)

    async def answer(req: Request) -> None:
        started = time.perf_counter_ns()
        headers = req.headers or {}
        status, error = "ok", None
        try:
            if tracing_enabled():
                attributes = {"messaging.system": "nats", "rpc.service": decl.name}
                with consumer_span(f"{req.subject} serve", headers, attributes):
                    await respond(req, headers)
            else:
                await respond(req, headers)
        except ServiceError as exc:
            status, error = exc.code, exc.description
            await _respond_error(req, exc.code, exc.description)
        except PermanentError as exc:
            status, error = "400", str(exc)
            await _respond_error(req, "400", str(exc))
        except CircuitBreakerError:
            # A breaker the handler used itself (pybreaker's own error): a dependency is out.
            status, error = "503", "circuit open"
            await _respond_error(req, "503", "a dependency is unavailable (circuit open)")
        except Exception as exc:
            # Never send repr(exc) to a remote caller; the log has the detail.
            status, error = "500", type(exc).__name__
            logger.exception("endpoint failed: %s", exc)
            await _respond_error(req, "500", "internal error; see the service log")
            if errors is not None:
                errors.report(
                    component=decl.name,
                    severity="ERROR",
                    action="ESCALATE",
                    message=f"{decl.name} failed on a request to {req.subject}: "
                    f"{type(exc).__name__}: {exc}",
                    error_type=type(exc).__name__,
                    exc=exc,
                    context={"subject": req.subject, "code": "500"},
                )
        finally:
            elapsed = time.perf_counter_ns() - started
            if stats_ref:
                _record_stats(stats_ref[0], elapsed, error)
            if error is not None and not (status == "500" and errors is not None):
                # (an unexpected failure is counted by its error event, by exception type)
                measure.error("ERROR" if status.startswith("5") else "WARNING", status)
            measure.duration(status, elapsed / 1e9)
            measure.in_flight.dec()
            slots.release()

    tasks = TaskSet()

    async def dispatch(req: Request) -> None:
        # Runs in the subscription's callback task: waiting here is the backpressure.
        await slots.acquire()
        measure.in_flight.inc()
        tasks.spawn(answer(req))

    await service.add_endpoint(
        name=decl.name,
        subject=names.subject(decl.subject),
        queue_group=QUEUE_GROUP,
        handler=dispatch,
        metadata={"concurrency": str(decl.concurrency)},
    )
    stats_ref.extend(ep for ep in service._endpoints if ep._name == decl.name)
    # "Started" means reachable: the server has our subscription before anyone is told we run
    # (else a caller on another connection can get no-responders in the gap).
    await nc.flush()
    task_status.started()
    try:
        await stop.wait()
    finally:
        # Stop taking requests, let the ones in flight answer, then close the service.
        with anyio.CancelScope(shield=True):
            await service.stop()
            with anyio.move_on_after(drain_timeout):
                for _ in range(decl.concurrency):
                    await slots.acquire()
            await tasks.cancel_all()


async def _respond_error(req: Request, code: str, description: str) -> None:
    try:
        await req.respond_error(code, description[:1024])
    except Exception as exc:
        log.warning("could not send error reply: %s", exc)
