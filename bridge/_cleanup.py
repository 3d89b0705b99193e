"""Clean-up that a cancelled gRPC call cannot cut short.

grpc.aio cancels a call's task with a plain ``Task.cancel()`` when the client goes away, and
may do so again while the call's ``finally`` is still running. An anyio shield does not stop
that (it only shields from anyio's own cancel scopes), so a give-back, a consumer delete or an
unsubscribe in a ``finally`` could stop at its first ``await``. :func:`finish` runs the
clean-up as a task of its own: the call may end, the clean-up still runs to its end.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger("jimbot.bridge")

_running: set[asyncio.Task[None]] = set()
"""Strong references: the event loop keeps only weak ones to its tasks."""


async def finish(cleanup: Callable[[], Awaitable[None]], *, within: float) -> None:
    """Run ``cleanup`` to its end (at most ``within`` seconds), whatever cancels the caller.

    A cancelled caller stops waiting at once and the clean-up goes on by itself.
    """

    async def bounded() -> None:
        with anyio.move_on_after(within) as scope:
            try:
                await cleanup()
            except Exception as exc:  # a clean-up failure must not replace the call's outcome
                log.warning("clean-up failed: %s", exc or type(exc).__name__)
        if scope.cancelled_caught:
            log.warning("clean-up did not end within %.1f s", within)

    task = asyncio.ensure_future(bounded())
    _running.add(task)
    task.add_done_callback(_running.discard)
    await asyncio.shield(task)
