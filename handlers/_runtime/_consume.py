"""The consume loop: pull requests sized to the free slots of a durable consumer, bounded
concurrent processing, and the outcome of each message decided by what its handler did.

Why pull, and why this way: a pull consumer lets any number of copies of a handler share the
work, and asking only for as many messages as there are free slots keeps ``max_ack_pending``
honest, so a slow copy never hoards messages another could take. The pull requests are sent
by hand (``CONSUMER.MSG.NEXT`` with a reply inbox whose callback starts the work) rather than
through nats-py's ``fetch()``, which spends a task, a timer and a uuid on every message: this
halves the runtime's CPU per message.

A batch consumer (``Consumer(batch=N)``) gathers up to N messages for at most ``batch_wait``
seconds and hands them to one handler call; each message's outcome is then decided as for a
single message (the same acks, naks, terms, error events and metrics), so both paths share
:meth:`_Runner._fail` and :meth:`_Runner._settle`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from handlers._runtime._batch import BatchItem
from handlers._runtime._breakers import circuit_of
from handlers._runtime._client import EVENT_TYPE_HEADER, SOURCE_HEADER
from handlers._runtime._context import Context
from handlers._runtime._errors import CircuitOpen, PermanentError
from handlers._runtime._metrics import HandlerMetrics
from handlers._runtime._tasks import TaskSet
from handlers._runtime._telemetry import consumer_span
from subjects import provision_consumer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from handlers._runtime._declare import Consumer
    from handlers._runtime._error_events import Action, ErrorReporter, Severity
    from subjects import Names

log = logging.getLogger("jimbot.consumer")

_MAX_REASON = 400
MAX_WAIT = 1.0
"""Seconds one pull request waits on the server for messages; also how long a stop can wait."""
_END_OF_PULL = {"404", "408", "409"}
"""Statuses that end a pull: no messages, request expired, or the consumer refused it."""


@dataclass
class _Runner:
    decl: Consumer
    names: Names
    nc: Client
    js: JetStreamContext
    source: str
    drain_timeout: float
    stop: anyio.Event
    errors: ErrorReporter | None = None
    slots: anyio.Semaphore = field(init=False)
    metrics: HandlerMetrics = field(init=False)
    in_flight: dict[int, tuple[Msg, float]] = field(default_factory=dict)
    logger: logging.LoggerAdapter[logging.Logger] = field(init=False)
    _reserved: int = 0
    _pull_done: anyio.Event = field(default_factory=anyio.Event)
    _tasks: TaskSet = field(default_factory=TaskSet)
    _draining: bool = False
    _kv_cache: dict[str, KeyValue] = field(default_factory=dict)
    """KV handles bound once per consumer, shared by every message's Context."""
    _overflow: int = 0
    """Messages running beyond ``concurrency`` (late arrivals of an ended pull)."""
    limit: int = field(init=False)
    """Messages in flight at most: ``concurrency``, or ``batch`` for a batch consumer."""
    _pending: list[Msg] = field(default_factory=list)
    """A batch consumer's messages waiting for their batch to be handled."""
    _has_pending: anyio.Event = field(default_factory=anyio.Event)
    _batch_full: anyio.Event = field(default_factory=anyio.Event)
    _first_at: float = 0.0
    """When the oldest pending message arrived."""

    def __post_init__(self) -> None:
        self.limit = self.decl.in_flight_limit
        self.slots = anyio.Semaphore(self.limit, fast_acquire=True)
        self.metrics = HandlerMetrics(self.decl.name, "consume")
        self.logger = logging.LoggerAdapter(log, {"handler": self.decl.name})

    async def run(self, task_status: TaskStatus[None]) -> None:
        spec = self.decl.spec()
        await provision_consumer(self.js, self.names, spec)
        next_subject = (
            f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream_name(self.names)}.{spec.durable(self.names)}"
        )
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, cb=self._on_message)
        try:
            async with anyio.create_task_group() as work:
                work.start_soon(self._keep_alive)
                if self.decl.batch is not None:
                    self._tasks.spawn(self._batch_loop(self.decl.batch, self.decl.batch_wait))
                task_status.started()
                await self._pull_loop(next_subject, inbox)
                await self._drain()
                work.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                # Cancelled without a drain (its task group failed or was cancelled): no task
                # of this consumer, the batch loop included, may outlive it.
                await self._tasks.cancel_all()
                await sub.unsubscribe()

    async def _pull_loop(self, next_subject: str, inbox: str) -> None:
        failures = 0
        expires_ns = int(MAX_WAIT * 1e9)
        while not self.stop.is_set():
            if not self.nc.is_connected:
                # Pull requests published now would sit in the reconnect buffer and all arrive
                # at once later, asking for far more than there are slots.
                await anyio.sleep(0.1)
                continue
            acquired = False
            with anyio.move_on_after(MAX_WAIT):
                await self.slots.acquire()
                acquired = True
            if not acquired:
                continue  # every slot busy; look at `stop` again
            wanted = 1
            while wanted < self.limit and self.slots.value > 0:
                self.slots.acquire_nowait()
                wanted += 1
            self._reserved = wanted
            self._pull_done = anyio.Event()
            request = json.dumps({"batch": wanted, "expires": expires_ns}).encode()
            try:
                await self.nc.publish(next_subject, request, reply=inbox)
                failures = 0
            except Exception as exc:  # a dropped connection must not kill the loop
                failures += 1
                self._end_pull()
                self.metrics.error("WARNING", type(exc).__name__)
                if failures in (1, 10) or failures % 100 == 0:
                    self.logger.warning("pull request failed (%d in a row): %s", failures, exc)
                await anyio.sleep(min(0.1 * 2 ** min(failures, 5), 3.0))
                continue
            with anyio.move_on_after(MAX_WAIT + 0.5):
                await self._pull_done.wait()
            self._end_pull()  # a pull the server never answered (connection lost) ends here

    def _end_pull(self) -> None:
        """Give back the slots this pull reserved but no message took."""
        for _ in range(self._reserved):
            self.slots.release()
        self._reserved = 0
        self._pull_done.set()

    async def _on_message(self, msg: Msg) -> None:
        """Runs in the inbox subscription's task: hand each message to the work group."""
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None and not msg.data:
            if status in _END_OF_PULL:
                self._end_pull()
            return  # 100: idle heartbeat
        if self._reserved > 0:
            self._reserved -= 1
        else:
            # A message after its pull ended: take a free slot if there is one, else run over
            # the limit by this one message (the server caps the total at max_ack_pending).
            try:
                self.slots.acquire_nowait()
            except anyio.WouldBlock:
                self._overflow += 1
        if self._draining:
            await self._settle(msg, "nak", delay=None)
            self._release_slot()
        elif self.decl.batch is not None:
            if not self._pending:
                self._first_at = anyio.current_time()
            self._pending.append(msg)
            self._has_pending.set()
            if len(self._pending) >= self.decl.batch:
                self._batch_full.set()
        else:
            self._tasks.spawn(self._process(msg))
        if self._reserved == 0:
            self._pull_done.set()

    def _release_slot(self) -> None:
        if self._overflow:
            self._overflow -= 1
        else:
            self.slots.release()

    async def _drain(self) -> None:
        """Give in-flight work ``drain_timeout`` seconds, then nak what is left and return."""
        self._draining = True
        self._batch_full.set()  # a partial batch is handled now, not after batch_wait
        with anyio.move_on_after(self.drain_timeout):
            for _ in range(self.limit):
                await self.slots.acquire()
        with anyio.CancelScope(shield=True):
            await self._tasks.cancel_all()  # each nak's its message as it is cancelled

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
                        self.metrics.outcome("in_progress")
                    except Exception as exc:
                        self.logger.warning("in-progress ack failed: %s", exc)

    async def _process(self, msg: Msg) -> None:
        started = anyio.current_time()
        self.in_flight[id(msg)] = (msg, started)
        self.metrics.in_flight.inc()
        headers = msg.headers or {}
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
            self.metrics.in_flight.dec()
            self.metrics.message(
                headers.get(SOURCE_HEADER, "unknown"), headers.get(EVENT_TYPE_HEADER, "unknown")
            )
            self.metrics.duration(status, anyio.current_time() - started)
            self._release_slot()

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
            _kv=self._kv_cache,
        )
        try:
            value = decl.input_codec.decode(msg.data)
            result = await decl.handle(value, ctx)
            if result is not None and decl.publish_to is not None:
                await ctx.publish(decl.publish_to, result)
        except Exception as exc:
            return await self._fail(msg, exc, deliveries, headers)
        await self._settle(msg, "ack")
        return "ok"

    async def _fail(
        self, msg: Msg, exc: Exception, deliveries: int, headers: dict[str, str]
    ) -> str:
        """Settle a message whose handling raised ``exc``: term, or nak with the delay."""
        decl = self.decl
        if isinstance(exc, PermanentError):
            self._record_error(exc, "FALLBACK", deliveries, msg, headers)
            await self._settle(msg, "term", reason=f"permanent: {exc}")
            return "term"
        if deliveries >= decl.max_deliver:
            self._record_error(exc, "ESCALATE", deliveries, msg, headers)
            await self._settle(msg, "term", reason=f"max_deliveries: {_describe(exc)}")
            return "term"
        delay = decl.retry_delay_for(deliveries)
        circuit = circuit_of(exc)
        if isinstance(circuit, CircuitOpen):
            # Come back when the breaker lets a trial through, not in a hammering loop.
            delay = max(delay, circuit.retry_after)
        self._record_error(exc, "RETRY", deliveries, msg, headers, retry_in=delay)
        await self._settle(msg, "nak", delay=delay)
        return "nak"

    async def _batch_loop(self, size: int, wait: float) -> None:
        """Hand the gathered messages over in batches of up to ``size``, one batch at a time.

        A batch is handled when it is full, ``wait`` seconds after its first message arrived,
        or at once when draining. Stopped (cancelled), it naks what it had not handled.
        """
        try:
            while True:
                await self._has_pending.wait()
                if not self._draining:
                    with anyio.move_on_after(self._first_at + wait - anyio.current_time()):
                        await self._batch_full.wait()
                msgs, self._pending = self._pending[:size], self._pending[size:]
                self._first_at = anyio.current_time()
                if len(self._pending) < size and not self._draining:
                    self._batch_full = anyio.Event()
                if not self._pending:
                    self._has_pending = anyio.Event()
                await self._process_batch(msgs)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                left, self._pending = self._pending, []
                for msg in left:
                    await self._settle(msg, "nak", delay=None)
                    self._release_slot()
            raise

    async def _process_batch(self, msgs: list[Msg]) -> None:
        """One call of the batch handler; then each message is settled by its outcome."""
        decl = self.decl
        started = anyio.current_time()
        metrics = self.metrics
        items: list[BatchItem[Any]] = []
        taken: list[tuple[Msg, dict[str, str]]] = []
        statuses: list[str] = []
        for msg in msgs:
            self.in_flight[id(msg)] = (msg, started)
            headers = msg.headers or {}
            meta = msg.metadata
            deliveries = meta.num_delivered or 1
            try:
                value = decl.input_codec.decode(msg.data)
            except Exception as exc:  # this one can never be handled; the rest can
                statuses.append(await self._fail(msg, exc, deliveries, headers))
                continue
            items.append(BatchItem(value, msg.subject, headers, deliveries, meta.sequence.stream))
            taken.append((msg, headers))
        metrics.in_flight.inc(len(msgs))
        try:
            if items:
                statuses += await self._handle_batch(items, taken)
        except anyio.get_cancelled_exc_class():
            # Stopping with the batch unfinished: hand its messages back at once.
            with anyio.CancelScope(shield=True):
                for msg, _ in taken:
                    if not msg._ackd:  # settled before the stop came
                        await self._settle(msg, "nak", delay=None)
            statuses += ["cancelled"] * (len(msgs) - len(statuses))
            raise
        finally:
            elapsed = anyio.current_time() - started
            for msg in msgs:
                self.in_flight.pop(id(msg), None)
                headers = msg.headers or {}
                metrics.message(
                    headers.get(SOURCE_HEADER, "unknown"), headers.get(EVENT_TYPE_HEADER, "unknown")
                )
                self._release_slot()
            for status in statuses:
                metrics.duration(status, elapsed)
            metrics.in_flight.dec(len(msgs))

    async def _handle_batch(
        self, items: list[BatchItem[Any]], taken: list[tuple[Msg, dict[str, str]]]
    ) -> list[str]:
        first = taken[0][0]
        ctx = Context(
            handler=self.decl.name,
            names=self.names,
            nc=self.nc,
            js=self.js,
            subject=first.subject,
            headers={},
            logger=self.logger,
            deliveries=max(item.deliveries for item in items),
            stream_seq=items[0].stream_seq,
            source=self.source,
            _kv=self._kv_cache,
        )
        try:
            with consumer_span(
                f"{first.subject} process batch",
                None,
                {
                    "messaging.system": "nats",
                    "messaging.destination.name": first.subject,
                    "messaging.consumer.group.name": self.decl.name,
                    "messaging.batch.message_count": len(items),
                },
            ):
                await self.decl.handle(items, ctx)
        except Exception as exc:
            return [
                await self._fail(msg, exc, item.deliveries, headers)
                for item, (msg, headers) in zip(items, taken, strict=True)
            ]
        statuses = []
        for item, (msg, headers) in zip(items, taken, strict=True):
            if item.rejected is None:
                await self._settle(msg, "ack")
                statuses.append("ok")
            else:
                rejected = PermanentError(item.rejected)
                statuses.append(await self._fail(msg, rejected, item.deliveries, headers))
        return statuses

    def _record_error(
        self,
        exc: Exception,
        action: Action,
        deliveries: int,
        msg: Msg,
        headers: dict[str, str],
        *,
        retry_in: float | None = None,
    ) -> None:
        """Log, count, and publish an error event: WARNING for a retry, ERROR for a term."""
        severity: Severity = "WARNING" if action == "RETRY" else "ERROR"
        error_type = type(exc).__name__
        level = logging.ERROR if severity == "ERROR" else logging.WARNING
        self.logger.log(
            level,
            "handler failed on delivery %d/%d: %s",
            deliveries,
            self.decl.max_deliver,
            _describe(exc),
            extra={"subject": msg.subject, "deliveries": deliveries, "error": error_type},
            exc_info=not isinstance(exc, PermanentError) and log.isEnabledFor(logging.DEBUG),
        )
        if self.errors is None:
            self.metrics.error(severity, error_type)
            return
        name = self.decl.name
        context = {
            "subject": msg.subject,
            "deliveries": str(deliveries),
            "max_deliver": str(self.decl.max_deliver),
            "stream_seq": str(msg.metadata.sequence.stream),
            "consumer": self.names.durable(name),
        }
        if msg_id := headers.get("Nats-Msg-Id"):
            context["msg_id"] = msg_id
        if retry_in is not None:
            what = f"retrying in {retry_in:g}s"
            context["retry_in_seconds"] = f"{retry_in:g}"
        else:
            what = "dead-lettered" + (
                " (it can never be processed)" if action == "FALLBACK" else " (retries ran out)"
            )
            context["dlq_subject"] = self.names.dlq_subject(self.names.durable(name))
        circuit = circuit_of(exc)
        affected = [str(getattr(circuit, "breaker", ""))] if circuit is not None else []
        self.errors.report(
            component=name,
            severity=severity,
            action=action,
            message=f"{name} failed on {msg.subject}, {what}: {_describe(exc)}",
            error_type=error_type,
            exc=exc,
            affected=[a for a in affected if a],
            context=context,
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
        self.metrics.outcome(outcome)


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
    errors: ErrorReporter | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Consume until ``stop`` is set, then drain in-flight work and return.

    Failures are reported as error events through ``errors`` (else only counted).
    """
    runner = _Runner(decl, names, nc, js, source, drain_timeout, stop, errors)
    await runner.run(task_status)
