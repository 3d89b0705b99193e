from __future__ import annotations

import socket

import pytest

from bridge.gateway._serve import bind
from schemas import JimbotError


def test_the_listening_socket_is_tcp_so_replies_are_not_delayed_by_nagle() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        # asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP sockets.
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_a_taken_port_is_one_clear_error() -> None:
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(JimbotError) as caught:
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
    assert "JIMBOT_HTTP_PORT" in str(caught.value)
