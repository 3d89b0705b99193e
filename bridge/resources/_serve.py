"""Running the edge: connect, provision, serve gRPC until SIGTERM/SIGINT, drain NATS.

While the NATS connection is down (it reconnects by itself) the health status of the service
is ``NOT_SERVING`` and calls answer ``UNAVAILABLE``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

from bridge._edge import drained, first_connect, started
from bridge._process import run_edge
from bridge._transport import bind
from bridge.resources._config import PORT_ENV, URL_ENV, EdgeConfig
from bridge.resources._service import SERVICE, ResourceCoordinatorService
from handlers import Settings, map_nats_errors, open_presence
from subjects import Names, provision

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from nats.aio.client import Client

log = logging.getLogger("jimbot.resources.edge")

COMPONENT = "resources"
"""The edge's name in heartbeats and error events."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


BIND_REFUSAL = (
    "the ResourceCoordinator edge cannot bind {address} (in use or not a local address): "
    f"set {PORT_ENV} or {URL_ENV} to a free port"
)


class _Health:
    """Keeps the health status in step with the NATS link."""

    def __init__(self) -> None:
        self.servicer: Any = health.aio.HealthServicer()
        self.nc: Client | None = None

    async def set(self, status: Any) -> None:
        await self.servicer.set(SERVICE, status)

    async def disconnected(self) -> None:
        if self.nc is not None and not (self.nc.is_closed or self.nc.is_draining):
            log.warning("nats: disconnected; reconnecting")
            await self.set(NOT_SERVING)

    async def reconnected(self) -> None:
        log.warning("nats: reconnected")
        await self.set(SERVING)


async def serve(
    settings: Settings,
    config: EdgeConfig | None = None,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``task_status.started`` gets the bound port."""
    config = config or EdgeConfig.from_env()
    names = Names(settings.prefix)
    state = _Health()
    nc = state.nc = await first_connect(
        settings,
        "jimbot-resources-edge",
        disconnected_cb=state.disconnected,
        reconnected_cb=state.reconnected,
    )
    async with drained(nc):
        with map_nats_errors(settings.nats_url or ""):
            await provision(nc.jetstream(), names, replicas=settings.replicas)
        # gRPC sets SO_REUSEPORT by default: a second edge would share the port silently.
        server = grpc.aio.server(
            interceptors=config.transport.interceptors(),
            options=[("grpc.so_reuseport", 0)],
        )
        server.add_generic_rpc_handlers((ResourceCoordinatorService(nc, names, config).handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(state.servicer, server)
        reflection.enable_server_reflection(
            [SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        creds = config.transport.credentials()
        port = bind(server, config.host, config.port, creds, refusal=BIND_REFUSAL)
        presence = open_presence(nc, names, settings, component=COMPONENT, handlers=[SERVICE])
        async with presence, started(server, state.servicer):
            await state.servicer.set("", SERVING)
            await state.set(SERVING if nc.is_connected else NOT_SERVING)
            scheme = config.transport.describe()
            log.info("ResourceCoordinator gRPC on %s:%d (%s)", config.host, port, scheme)
            task_status.started(port)
            await anyio.sleep_forever()


def main() -> int:
    """``python -m bridge.resources``: one line on error, never a traceback."""
    return run_edge("resources", serve, EdgeConfig.from_env)
