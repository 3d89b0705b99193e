"""What the two gRPC edges (the AgentBridge shim, the resources edge) share around ``serve``.

A first NATS connection that cannot hang the process, a gRPC server that reports NOT_SERVING
and finishes its calls before it stops, and a NATS connection drained on the way out.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from handlers import connect
from schemas import JimbotError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import grpc
    from grpc_health.v1 import health  # type: ignore[import-untyped]
    from nats.aio.client import Client

    from handlers import Settings

FIRST_CONNECT_TIMEOUT = 5.0
"""Seconds an edge tries to reach NATS at start before giving up with one clear line."""
STOP_GRACE = 2.0
"""Seconds calls in flight get to finish when the edge stops."""
DRAIN_TIMEOUT = 5.0
"""Seconds the NATS connection gets to flush and drain when the edge stops."""


async def first_connect(settings: Settings, name: str, **callbacks: Any) -> Client:
    """The edge's NATS connection; a first dial that nats-py keeps retrying is bounded."""
    if not settings.nats_url:
        raise JimbotError("no NATS_URL: set it, or start everything with `jimbot up`")
    try:
        with anyio.fail_after(FIRST_CONNECT_TIMEOUT):
            return await connect(settings.nats_url, name=name, **callbacks)
    except TimeoutError:
        raise JimbotError(
            f"cannot reach NATS at {settings.nats_url} within {FIRST_CONNECT_TIMEOUT:g}s: start "
            "it with `jimbot up`, or set NATS_URL to a running server"
        ) from None


@asynccontextmanager
async def drained(nc: Client) -> AsyncIterator[Client]:
    """``nc``, drained (bounded) when the block ends, however it ends."""
    try:
        yield nc
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(DRAIN_TIMEOUT):
            await nc.drain()


@asynccontextmanager
async def started(
    server: grpc.aio.Server, health: health.aio.HealthServicer
) -> AsyncIterator[None]:
    """``server`` running; at the end every service turns NOT_SERVING, then calls finish."""
    await server.start()
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await health.enter_graceful_shutdown()
            await server.stop(grace=STOP_GRACE)
