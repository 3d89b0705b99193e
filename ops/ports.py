"""Free loopback ports for child processes that must be told their port in advance.

The usual trick (bind port 0, read the port, close, hand the number to the child) races every
outgoing connection on the machine: the kernel hands out that same range as the local port of
each ``connect()``, so in the moment before the child binds, a NATS or HTTP client elsewhere can
take it. Ports below the kernel's ephemeral range are never handed out that way; only an
explicit bind can take one, and the bind check here sees those.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000
"""Below this sit well-known and registered ports (NATS 4222, HTTP 8080, gRPC 50051 ...)."""
_DEFAULT_EPHEMERAL_START = 32_768


def _ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_START


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, tries: int = 64) -> int:
    """A port on ``host`` that nothing is bound to now, picked outside the kernel's ephemeral
    range when that leaves room (else any free port the kernel gives)."""
    top = _ephemeral_start()
    if top - LOWEST >= 1_000:
        for _ in range(tries):
            port = random.randrange(LOWEST, top)
            if _bindable(host, port):
                return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
