"""A set of asyncio tasks owned by one consumer or endpoint.

Starting a task-group child costs about 14 µs in anyio, a plain asyncio task about 3 µs; per
message that is the largest fixed cost the runtime adds. nats-py runs on asyncio only, so the
runtime does too, and owns its per-message tasks here: every one is tracked, and
:meth:`cancel_all` cancels and awaits what is left when the owner stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskSet:
    """Tasks started by :meth:`spawn`, cancelled together by :meth:`cancel_all`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def join(self) -> None:
        """Wait until every task started so far has finished (cancel the wait to give up)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks)

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until each has handled it."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
