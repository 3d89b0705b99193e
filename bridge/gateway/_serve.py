"""Running the gateway: connect, provision, serve HTTP with uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

import anyio
import uvicorn

from bridge.gateway._app import Gateway, create_app
from handlers import (
    Settings,
    backend_options,
    connect,
    map_nats_errors,
    open_presence,
    setup_logging,
    tune_gc,
)
from schemas import JimbotError
from subjects import Names, provision

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

log = logging.getLogger("jimbot.gateway")
COMPONENT = "gateway"
"""The gateway's name in heartbeats and error events (``events.error.gateway``)."""


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """Bind the listening socket ourselves, so port 0 works and a taken port is one clear line.

    ``shared`` (``JIMBOT_HTTP_WORKERS`` > 1) sets ``SO_REUSEPORT``: every worker binds the same
    port and the kernel spreads new connections over them. Off otherwise, so a second gateway
    started by mistake fails on the taken port instead of silently sharing it.
    """
    # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on accepted connections.
    # Without it uvicorn's separate header and body writes meet Nagle and the client's delayed
    # ACK, and small responses take ~40 ms instead of ~2 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise JimbotError(
            f"the HTTP gateway cannot bind {host}:{port} ({exc.strerror}): set JIMBOT_HTTP_PORT "
            "to a free port"
        ) from exc
    sock.listen(1024)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server with signals left to :func:`serve`.

    uvicorn re-raises SIGTERM once it has shut down, which kills the process before NATS is
    drained and the heartbeat removed; here the signal only asks it to exit.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on_signal(server: uvicorn.Server, signals: AsyncIterator[int]) -> None:
    """SIGTERM/SIGINT: a graceful exit; a second one: close connections at once."""
    async for _ in signals:
        server.force_exit = server.should_exit
        server.should_exit = True


async def serve(settings: Settings, *, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM/SIGINT, then drain NATS (the heartbeat is removed on the way)."""
    if not settings.nats_url:
        raise JimbotError("no NATS_URL: set it, or start everything with `jimbot up`")
    # Open before anything starts: a signal during start-up still ends in a clean exit.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        await _serve(settings, host, signals)


async def _serve(settings: Settings, host: str, signals: AsyncIterator[int]) -> None:
    assert settings.nats_url
    sock = bind(host, settings.http_port, shared=settings.http_workers > 1)
    nc = await connect(settings.nats_url, name="jimbot-gateway")
    try:
        names = Names(settings.prefix)
        with map_nats_errors(settings.nats_url):
            await provision(nc.jetstream(), names, replicas=settings.replicas)
        async with open_presence(
            nc, names, settings, component=COMPONENT, handlers=["http"]
        ) as errors:
            app = create_app(Gateway(nc, names, errors=errors))
            config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            server = _Server(config)
            log.info("HTTP gateway on http://%s:%d", *sock.getsockname()[:2])
            async with anyio.create_task_group() as tg:
                tg.start_soon(_stop_on_signal, server, signals)
                await server.serve(sockets=[sock])
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await nc.drain()
        sock.close()


def main() -> int:
    """``python -m bridge.gateway``: one line on error, never a traceback."""
    try:
        settings = Settings.from_env()
        setup_logging("gateway", settings.log_level)
        tune_gc()
        anyio.run(serve, settings, backend_options=backend_options())
    except JimbotError as exc:
        print(f"jimbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
