"""Where the ResourceCoordinator gRPC edge listens, from the spec's variables.

``RESOURCE_COORDINATOR_URL`` (default ``grpc://localhost:50052``) names the address clients
dial; the edge binds its host and port (``localhost`` binds 127.0.0.1). ``JIMBOT_RESOURCE_PORT``
overrides the port alone. ``RESOURCE_REQUEST_TIMEOUT`` (``5s``) bounds a call that arrives
without a deadline. TLS, mutual TLS and the bearer token are the same ``JIMBOT_GRPC_*``
variables as the AgentBridge shim's (:mod:`bridge._transport`): one set-up for every gRPC edge,
and plaintext only on loopback unless ``JIMBOT_GRPC_ALLOW_PLAINTEXT=1``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bridge._transport import Transport
from handlers import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

URL_ENV = "RESOURCE_COORDINATOR_URL"
PORT_ENV = "JIMBOT_RESOURCE_PORT"
TIMEOUT_ENV = "RESOURCE_REQUEST_TIMEOUT"
DEFAULT_URL = "grpc://localhost:50052"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def _port(raw: str, where: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: {raw!r} is not a port (0-65535)")
    return port


def _timeout(raw: str) -> float:
    match = _DURATION.match(raw)
    seconds = float(match.group(1)) * _SCALE[match.group(2)] if match else 0.0
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: use a duration above zero such as 5s or 500ms")
    return seconds


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    """The edge's address and its budget for calls without a deadline."""

    host: str = "127.0.0.1"
    port: int = 50052
    request_timeout: float = 5.0
    """``RESOURCE_REQUEST_TIMEOUT``: how long the coordinator lets a request wait."""
    transport: Transport = Transport()
    """TLS, mutual TLS, the token and the plaintext rule, shared with the other edges."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EdgeConfig:
        env = os.environ if env is None else env
        url = env.get(URL_ENV) or DEFAULT_URL
        parts = urlsplit(url if "://" in url else f"grpc://{url}")
        try:
            port_in_url = parts.port
        except ValueError:
            port_in_url = -1
        if parts.scheme != "grpc" or not parts.hostname or port_in_url == -1:
            raise ConfigError(f"{URL_ENV}={url!r}: use grpc://<host>:<port>, e.g. {DEFAULT_URL}")
        host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
        port = port_in_url if port_in_url is not None else 50052
        if env.get(PORT_ENV):
            port = _port(env[PORT_ENV], PORT_ENV)
        raw_timeout = env.get(TIMEOUT_ENV) or ""
        timeout = _timeout(raw_timeout) if raw_timeout else 5.0
        transport = Transport.from_env(env)
        transport.check(host, f"{URL_ENV}={DEFAULT_URL}")
        return cls(host=host, port=port, request_timeout=timeout, transport=transport)


def edge_port(env: Mapping[str, str] | None = None) -> int:
    """The port the edge listens on (``jimbot up`` prints it)."""
    return EdgeConfig.from_env(env).port
