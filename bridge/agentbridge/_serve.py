"""Running the shim: bind, connect, provision, serve gRPC until SIGTERM/SIGINT, drain NATS.

The NATS connection reconnects by itself (nats-py, forever, every 0.5 s); while it is down the
health status of ``agentbridge.AgentBridge`` is ``NOT_SERVING``, ``RequestAction`` answers the
fallback with ``bus_unavailable`` at once and ``PushPercept`` answers ``ok=false``. After a
reconnect the streams and buckets are provisioned again (idempotent), in case the server came
back with an empty store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import anyio
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

from bridge._edge import drained, first_connect, started
from bridge._process import run_edge
from bridge._transport import bind
from bridge.agentbridge._config import BridgeConfig
from bridge.agentbridge._metrics import measured
from bridge.agentbridge._service import SERVICE, AgentBridgeService
from bridge.grpcfronts import add_fronts
from handlers import (
    Settings,
    map_nats_errors,
    open_presence,
)
from subjects import Names, provision

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from nats.aio.client import Client

log = logging.getLogger("jimbot.agentbridge")

COMPONENT = "agentbridge"
"""The shim's name in heartbeats and error events (``events.error.agentbridge``)."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


BIND_REFUSAL = (
    "the AgentBridge shim cannot bind {address} (in use or not a local address): set "
    "JIMBOT_GRPC_PORT to a free port"
)


class _Link:
    """NATS connection callbacks that keep health and provisioning in step with the link."""

    def __init__(self, settings: Settings, names: Names) -> None:
        self.settings = settings
        self.names = names
        self.nc: Client | None = None
        self.health: Any = None
        self.service: AgentBridgeService | None = None
        self.services: list[str] = [SERVICE]
        self._tasks: set[asyncio.Task[None]] = set()

    async def _status(self, status: Any) -> None:
        if self.health is not None:
            for name in self.services:
                await self.health.set(name, status)

    async def disconnected(self) -> None:
        if self.nc is not None and not (self.nc.is_closed or self.nc.is_draining):
            log.warning("nats: disconnected from %s; reconnecting", self.settings.nats_url)
            await self._status(NOT_SERVING)

    async def reconnected(self) -> None:
        log.warning("nats: reconnected to %s", self.settings.nats_url)
        if self.service is not None:
            # The server may have come back with an empty store: vouch for no percept.
            self.service.stored.clear()
        task = asyncio.get_running_loop().create_task(self._reprovision())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reprovision(self) -> None:
        assert self.nc is not None
        try:
            await provision(self.nc.jetstream(), self.names, replicas=self.settings.replicas)
        except Exception as exc:
            log.warning("nats: provisioning after reconnect failed: %s", exc)
        await self._status(SERVING)

    async def error(self, exc: Exception) -> None:
        log.warning("nats: %s", exc or type(exc).__name__)


async def serve(
    settings: Settings,
    config: BridgeConfig | None = None,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``task_status.started`` gets the bound port."""
    config = config or BridgeConfig.from_env()
    creds = config.transport.credentials()
    names = Names(settings.prefix)
    link = _Link(settings, names)
    nc = link.nc = await first_connect(
        settings,
        "jimbot-agentbridge",
        disconnected_cb=link.disconnected,
        reconnected_cb=link.reconnected,
        error_cb=link.error,
    )
    async with drained(nc):
        with map_nats_errors(settings.nats_url or ""):
            await provision(nc.jetstream(), names, replicas=settings.replicas)
        server = grpc.aio.server(
            interceptors=config.transport.interceptors(measured),
            # gRPC sets SO_REUSEPORT by default: a second shim would share the port silently.
            options=[("grpc.so_reuseport", 0)],
        )
        service = link.service = AgentBridgeService(nc, names, config)
        server.add_generic_rpc_handlers((service.handler(),))
        # The spec's EventBus, DecisionService, ... on the same port (bridge.grpcfronts).
        fronts = add_fronts(server, nc, names)
        link.services = [SERVICE, *fronts]
        link.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(link.health, server)
        reflection.enable_server_reflection(
            [SERVICE, *fronts, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        port = bind(server, config.host, settings.grpc_port, creds, refusal=BIND_REFUSAL)
        presence = open_presence(nc, names, settings, component=COMPONENT, handlers=link.services)
        async with presence as errors:
            service.errors = errors  # fallbacks become error events from here on
            async with started(server, link.health):
                await link.health.set("", SERVING)
                for name in link.services:
                    await link.health.set(name, SERVING if nc.is_connected else NOT_SERVING)
                scheme = config.transport.describe()
                log.info("AgentBridge gRPC on %s:%d (%s)", config.host, port, scheme)
                task_status.started(port)
                await anyio.sleep_forever()


def main() -> int:
    """``python -m bridge.agentbridge``: one line on error, never a traceback."""
    return run_edge("agentbridge", serve, BridgeConfig.from_env)
