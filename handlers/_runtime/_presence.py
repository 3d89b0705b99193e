"""An edge's presence on the bus: its heartbeat and its error reporter, for one ``async with``.

A worker wires both itself (its heartbeat starts once its handlers run); an edge (the HTTP
gateway, the gRPC shim) has no worker, so it opens them here around its server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from handlers._runtime._error_events import ErrorReporter
from handlers._runtime._heartbeat import Heartbeat

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers._runtime._settings import Settings
    from subjects import Names


@asynccontextmanager
async def open_presence(
    nc: Client,
    names: Names,
    settings: Settings,
    *,
    component: str,
    handlers: Sequence[str] = (),
    in_flight: Callable[[], int] | None = None,
) -> AsyncIterator[ErrorReporter]:
    """Beat as ``component`` and report its errors until the block ends.

    Yields:
        the reporter the edge publishes its error events with.
    """
    errors = ErrorReporter(nc, names, component=component, interval=settings.error_event_interval)
    heartbeat = Heartbeat(
        nc,
        names,
        component=component,
        handlers=handlers,
        interval=settings.heartbeat_interval,
        errors=errors,
        in_flight=in_flight,
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(heartbeat.run)
            try:
                yield errors
            finally:
                heartbeat.stop()
    finally:
        await errors.aclose()
