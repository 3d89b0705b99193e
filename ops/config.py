"""Settings and a NATS connection for the short-lived ``jimbot`` commands.

Workers reconnect forever, which is right for a service and wrong for a command an operator
typed: ``jimbot status`` against a server that is not there must say so at once, in one line,
with the fix. So the CLI dials with reconnects off and nats-py's own error logging silenced.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from handlers import BusUnavailable, ConfigError, Settings, connect, map_nats_errors
from subjects import Names

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

CONNECT_TIMEOUT = 2.0
"""Seconds an interactive command waits for NATS before it gives up."""


def load_settings() -> Settings:
    """The effective settings from the environment (raises :class:`ConfigError`)."""
    return Settings.from_env()


def require_nats_url(settings: Settings) -> str:
    """The NATS URL a command needs; without one there is nothing to talk to.

    Raises:
        ConfigError: naming both ways to get a server.
    """
    if not settings.nats_url:
        raise ConfigError(
            "NATS_URL is not set: start everything with `jimbot up` and export "
            "NATS_URL=nats://127.0.0.1:4222, or point NATS_URL at a running server"
        )
    return settings.nats_url


async def _quiet(*_args: object) -> None:
    """nats-py logs every failed dial with a traceback; our one-line error says it all."""


@asynccontextmanager
async def open_bus(settings: Settings, *, name: str = "jimbot-cli") -> AsyncIterator[Client]:
    """A connection that fails fast, closed on exit.

    Raises:
        ConfigError: no NATS_URL.
        BusUnavailable: the server does not answer within :data:`CONNECT_TIMEOUT`.
    """
    url = require_nats_url(settings)
    nc: Client | None = None
    with anyio.move_on_after(CONNECT_TIMEOUT + 1):
        nc = await connect(
            url,
            name=name,
            allow_reconnect=False,
            # nats-py retries the first dial regardless of allow_reconnect; 1 = two quick tries.
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            connect_timeout=CONNECT_TIMEOUT,
            error_cb=_quiet,
            disconnected_cb=_quiet,
            closed_cb=_quiet,
        )
    if nc is None:
        raise BusUnavailable(
            f"cannot reach NATS at {url}: start it with `jimbot up`, or set NATS_URL to a "
            "running server"
        )
    try:
        with map_nats_errors(url):
            yield nc
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await nc.close()


def names_of(settings: Settings) -> Names:
    """The subject names of the configured prefix."""
    return Names(settings.prefix)
