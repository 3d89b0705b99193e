"""Small helpers for integration tests: run a worker in the background, wait with a bound."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from handlers import Handler, Settings, Worker

if TYPE_CHECKING:
    from nats.aio.client import Client


@asynccontextmanager
async def running(
    *handlers: Handler, settings: Settings, nc: Client | None = None
) -> AsyncIterator[Worker]:
    """A worker running ``handlers`` for the body of the ``async with``; drained on exit."""
    worker = Worker(handlers, settings=settings, nc=nc)
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        try:
            yield worker
        finally:
            worker.stop()


async def wait_for(
    predicate: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Like :func:`wait_for` for an async predicate (e.g. a stream-info query)."""
    with anyio.fail_after(timeout):
        while not await predicate():  # type: ignore[misc]
            await anyio.sleep(interval)
