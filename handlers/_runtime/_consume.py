"""The consume loop: batched fetch from a durable pull consumer, bounded concurrent
processing, and the outcome of each message decided by what its handler did.

Why a fetch loop and not a push subscription: a pull consumer lets any number of copies of a
handler share the work, and fetching only as many messages as there are free slots keeps
``max_ack_pending`` honest, so a slow handler never hoards messages it cannot start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus
from nats.errors import TimeoutError as NatsTimeoutError

from handlers._runtime import _metrics as metrics
from handlers._runtime._client import EVENT_TYPE_HEADER, SOURCE_HEADER
from handlers._runtime._context import Context
from handlers._runtime._errors import PermanentError
from handlers._runtime._telemetry import consumer_span
from subjects import provision_consumer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from handlers._runtime._declare import Consumer
    from subjects import Names

log = logging.getLogger("jimbot.consumer")

_MAX_REASON = 400
MAX_WAIT = 2.0
"""Seconds one fetch waits for messages; also the longest a stop waits for the fetch loop."""


@dataclass
class _Runner:
    decl: Consumer
    names: Names
    nc: Client
    js: JetStreamContext
    source: str
    drain_timeout: float
    stop: anyio.Event
    slots: anyio.Semaphore = field(init=False)
    in_flight: dict[int, tuple[Msg, float]] = field(default_factory=dict)
    logger: logging.LoggerAdapter[logging.Logger] = field(init=False)

    def __post_init__(self) -> None:
        self.slots = anyio.Semaphore(self.decl.concurrency)
        self.logger = logging.LoggerAdapter(log, {"handler": self.decl.name})

    async def run(self, task_status: TaskStatus[None]) -> None:
        spec = self.decl.spec()
        await provision_consumer(self.js, self.names, spec)
        psub = await self.js.pull_subscribe_bind(
            durable=spec.durable(self.names), stream=spec.stream_name(self.names)
        )
        try:
            async with anyio.create_task_group() as work:
                work.start_soon(self._keep_alive)
                task_status.started()
                await self._fetch_loop(psub, work)
                await self._drain(work)
        finally:
            with anyio.CancelScope(shield=True):
                await psub.unsubscribe()

    async def _fetch_loop(
        self, psub: JetStreamContext.PullSubscription, work: anyio.abc.TaskGroup
    ) -> None:
        failures = 0
        while not self.stop.is_set():
            acquired = False
            with anyio.move_on_after(MAX_WAIT):
                await self.slots.acquire()
                acquired = True
            if not acquired:
                continue  # every slot busy; look at `stop` again
            if self.stop.is_set():
                self.slots.release()
                break
            wanted = 1
            while wanted < self.decl.concurrency and self.slots.value > 0:
                self.slots.acquire_nowait()
                wanted += 1
            try:
                msgs = await psub.fetch(wanted, timeout=MAX_WAIT)
                failures = 0
            except NatsTimeoutError:
                msgs = []
            except Exception as exc:  # a dropped connection must not kill the loop
                msgs = []
                failures += 1
                metrics.ERRORS.labels(self.decl.name, "WARNING", type(exc).__name__).inc()
                if failures in (1, 10) or failures % 100 == 0:
                    self.logger.warning("fetch failed (%d in a row): %s", failures, exc)
                await anyio.sleep(min(0.1 * 2 ** min(failures, 5), 3.0))
            for msg in msgs:
                work.start_soon(self._process, msg)
            for _ in range(wanted - len(msgs)):
                self.slots.release()

    async def _drain(self, work: anyio.abc.TaskGroup) -> None:
        """Give in-flight work ``drain_timeout`` seconds, then nak what is left and return."""
        with anyio.move_on_after(self.drain_timeout):
            for _ in range(self.decl.concurrency):
                await self.slots.acquire()
        work.cancel_scope.cancel()

    async def _keep_alive(self) -> None:
        """In-progress acks for long work, so a slow handler is not redelivered meanwhile."""
        period = self.decl.ack_wait / 3
        while True:
            await anyio.sleep(period)
            now = anyio.current_time()
            for msg, started in list(self.in_flight.values()):
                if now - started >= period:
                    try:
                        await msg.in_progress()
                        metrics.OUTCOMES.labels(self.decl.name, "in_progress").inc()
                    except Exception as exc:
                        self.logger.warning("in-progress ack failed: %s", exc)

    async def _process(self, msg: Msg) -> None:
        started = anyio.current_time()
        self.in_flight[id(msg)] = (msg, started)
        metrics.IN_FLIGHT.labels(self.decl.name).inc()
        headers = msg.headers or {}
        event_type = headers.get(EVENT_TYPE_HEADER, "unknown")
        meta = msg.metadata
        deliveries = meta.num_delivered or 1
        status = "ok"
        try:
            with consumer_span(
                f"{msg.subject} process",
                headers,
                {
                    "messaging.system": "nats",
                    "messaging.destination.name": msg.subject,
                    "messaging.consumer.group.name": self.decl.name,
                    "messaging.message.id": headers.get("Nats-Msg-Id", ""),
                    "jimbot.deliveries": deliveries,
                },
            ):
                status = await self._handle(msg, headers, deliveries, meta.sequence.stream)
        except anyio.get_cancelled_exc_class():
            # Stopping with work unfinished: hand the message back for another copy at once.
            with anyio.CancelScope(shield=True):
                await self._settle(msg, "nak", delay=None)
            status = "cancelled"
            raise
        finally:
            self.in_flight.pop(id(msg), None)
            metrics.IN_FLIGHT.labels(self.decl.name).dec()
            metrics.MESSAGES.labels(
                headers.get(SOURCE_HEADER, "unknown"), self.decl.name, event_type
            ).inc()
            metrics.REQUEST_DURATION.labels(self.decl.name, "consume", status).observe(
                anyio.current_time() - started
            )
            self.slots.release()

    async def _handle(self, msg: Msg, headers: dict[str, str], deliveries: int, seq: int) -> str:
        decl = self.decl
        ctx = Context(
            handler=decl.name,
            names=self.names,
            nc=self.nc,
            js=self.js,
            subject=msg.subject,
            headers=headers,
            logger=self.logger,
            deliveries=deliveries,
            stream_seq=seq,
            source=self.source,
        )
        try:
            value = decl.input_codec.decode(msg.data)
            result = await decl.handle(value, ctx)
            if result is not None and decl.publish_to is not None:
                await ctx.publish(decl.publish_to, result)
        except PermanentError as exc:
            self._record_error(exc, "ERROR", deliveries, msg)
            await self._settle(msg, "term", reason=f"permanent: {exc}")
            return "term"
        except Exception as exc:
            if deliveries >= decl.max_deliver:
                self._record_error(exc, "ERROR", deliveries, msg)
                await self._settle(msg, "term", reason=f"max_deliveries: {_describe(exc)}")
                return "term"
            self._record_error(exc, "WARNING", deliveries, msg)
            await self._settle(msg, "nak", delay=decl.retry_delay_for(deliveries))
            return "nak"
        await self._settle(msg, "ack")
        return "ok"

    def _record_error(self, exc: Exception, severity: str, deliveries: int, msg: Msg) -> None:
        metrics.ERRORS.labels(self.decl.name, severity, type(exc).__name__).inc()
        level = logging.ERROR if severity == "ERROR" else logging.WARNING
        self.logger.log(
            level,
            "handler failed on delivery %d/%d: %s",
            deliveries,
            self.decl.max_deliver,
            _describe(exc),
            extra={"subject": msg.subject, "deliveries": deliveries, "error": type(exc).__name__},
            exc_info=not isinstance(exc, PermanentError) and log.isEnabledFor(logging.DEBUG),
        )

    async def _settle(
        self, msg: Msg, outcome: str, *, delay: float | None = None, reason: str = ""
    ) -> None:
        try:
            if outcome == "ack":
                await msg.ack()
            elif outcome == "nak":
                await msg.nak(delay=delay)
            else:
                # nats-py's term() takes no reason; the advisory carries ours to the DLQ mover.
                line = " ".join(reason.split())[:_MAX_REASON]
                await self.nc.publish(msg.reply, f"+TERM {line}".encode())
        except Exception as exc:
            # The ack is lost with the connection; the server redelivers after ack_wait.
            self.logger.warning("could not %s message: %s", outcome, exc)
            return
        metrics.OUTCOMES.labels(self.decl.name, outcome).inc()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_consumer(
    decl: Consumer,
    *,
    names: Names,
    nc: Client,
    js: JetStreamContext,
    source: str,
    drain_timeout: float,
    stop: anyio.Event,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Consume until ``stop`` is set, then drain in-flight work and return."""
    runner = _Runner(decl, names, nc, js, source, drain_timeout, stop)
    await runner.run(task_status)
