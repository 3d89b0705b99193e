"""Running the gateway: connect, provision, serve HTTP with uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import socket
import sys

import anyio
import uvicorn

from bridge.gateway._app import Gateway, create_app
from handlers import Settings, connect, map_nats_errors, setup_logging
from schemas import JimbotError
from subjects import Names, provision

log = logging.getLogger("jimbot.gateway")


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so port 0 works and a taken port is one clear line."""
    # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on accepted connections.
    # Without it uvicorn's separate header and body writes meet Nagle and the client's delayed
    # ACK, and small responses take ~40 ms instead of ~2 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


async def serve(settings: Settings, *, host: str = "127.0.0.1") -> None:
    """Serve until uvicorn is told to exit (it handles SIGTERM/SIGINT), then drain NATS."""
    if not settings.nats_url:
        raise JimbotError("no NATS_URL: set it, or start everything with `jimbot up`")
    sock = bind(host, settings.http_port)
    nc = await connect(settings.nats_url, name="jimbot-gateway")
    try:
        names = Names(settings.prefix)
        with map_nats_errors(settings.nats_url):
            await provision(nc.jetstream(), names, replicas=settings.replicas)
        app = create_app(Gateway(nc, names))
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        log.info("HTTP gateway on http://%s:%d", *sock.getsockname()[:2])
        await server.serve(sockets=[sock])
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await nc.drain()
        sock.close()


def main() -> int:
    """``python -m bridge.gateway``: one line on error, never a traceback."""
    try:
        settings = Settings.from_env()
        setup_logging("gateway", settings.log_level)
        anyio.run(serve, settings)
    except JimbotError as exc:
        print(f"jimbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
