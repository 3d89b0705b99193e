"""A worker process: connect once, run every declared handler, drain on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from handlers._runtime._client import connect, map_nats_errors
from handlers._runtime._consume import run_consumer
from handlers._runtime._declare import Consumer, Endpoint, Handler
from handlers._runtime._error_events import ErrorReporter
from handlers._runtime._heartbeat import Heartbeat
from handlers._runtime._metrics import in_flight
from handlers._runtime._serve import run_endpoint
from handlers._runtime._settings import Settings
from schemas import JimbotError
from subjects import Names, provision

if TYPE_CHECKING:
    from nats.aio.client import Client

log = logging.getLogger("jimbot.worker")


class Worker:
    """Runs handlers on one NATS connection until :meth:`stop`, then drains.

    Args:
        handlers: the declarations to run.
        settings: prefix, NATS URL, component name and drain timeout come from here.
        nc: an existing connection to share (tests, edges); otherwise the worker dials
            ``settings.nats_url`` and drains the connection when it stops.
    """

    def __init__(
        self,
        handlers: Sequence[Handler],
        *,
        settings: Settings,
        nc: Client | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        self.handlers = list(handlers)
        self.settings = settings
        self.names = Names(settings.prefix)
        self._nc = nc
        self._stop = anyio.Event()
        self._started = False

    def stop(self) -> None:
        """Stop fetching and taking requests; in-flight work gets the drain timeout."""
        self._stop.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        owned = self._nc is None
        if self._nc is None:
            if not self.settings.nats_url:
                raise JimbotError("no NATS_URL: set it, or start everything with `jimbot up`")
            self._nc = await connect(self.settings.nats_url, name=self.settings.component_name)
        nc = self._nc
        js = nc.jetstream()
        # Each handler can be deployed alone, so it makes sure its streams exist (idempotent).
        with map_nats_errors(self.settings.nats_url or ""):
            await provision(js, self.names, replicas=self.settings.replicas)
        component = self.settings.component_name
        errors = ErrorReporter(
            nc, self.names, component=component, interval=self.settings.error_event_interval
        )
        handler_names = [h.name for h in self.handlers]
        heartbeat = Heartbeat(
            nc,
            self.names,
            component=component,
            handlers=handler_names,
            interval=self.settings.heartbeat_interval,
            errors=errors,
            in_flight=partial(in_flight, handler_names),
        )
        common: dict[str, Any] = {
            "names": self.names,
            "nc": nc,
            "js": js,
            "source": component,
            "drain_timeout": self.settings.drain_timeout,
            "stop": self._stop,
            "errors": errors,
        }
        try:
            # The heartbeat outlives the handlers' drain: the instance is alive until its
            # last message is settled, then its key is deleted.
            async with anyio.create_task_group() as beats:
                try:
                    async with anyio.create_task_group() as tg:
                        for handler in self.handlers:
                            if isinstance(handler, Consumer):
                                await tg.start(partial(run_consumer, handler, **common))
                            elif isinstance(handler, Endpoint):
                                await tg.start(partial(run_endpoint, handler, **common))
                            log.info(
                                "handler %s started", handler.name, extra={"handler": handler.name}
                            )
                        await beats.start(heartbeat.run)
                        self._started = True
                        task_status.started()
                finally:
                    heartbeat.stop()
        finally:
            await errors.aclose()
            if owned:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await nc.drain()

    async def run_until_signal(self) -> None:
        """:meth:`run`, stopping on SIGTERM or SIGINT (the drain then runs to completion)."""
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        log.info("received %s: draining", signal.Signals(signum).name)
                        self.stop()
                        if not self._started:
                            tg.cancel_scope.cancel()  # still connecting: nothing to drain
                        return

            tg.start_soon(watch_signals)
            await self.run()
            tg.cancel_scope.cancel()
