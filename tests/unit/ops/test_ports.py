"""Ports handed to child processes come from outside the kernel's ephemeral range, so no
outgoing connection can take one before the child binds it."""

from __future__ import annotations

import random
import socket
from typing import TYPE_CHECKING

from ops import ports

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _range_file(tmp_path: Path, start: int) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text(f"{start}\t60999\n")
    return path


def test_a_port_below_the_ephemeral_range_that_binds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", _range_file(tmp_path, 32768))
    for _ in range(20):
        port = ports.free_port()
        assert ports.LOWEST <= port < 32768
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", _range_file(tmp_path, 32768))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        spare = next(p for p in range(24_680, 25_000) if ports._bindable("127.0.0.1", p))
        picks = iter([busy, busy, spare])
        monkeypatch.setattr(random, "randrange", lambda low, high: next(picks))
        assert ports.free_port() == spare


def test_without_room_below_the_range_the_kernel_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", _range_file(tmp_path, ports.LOWEST + 10))

    def never(low: int, high: int) -> int:
        raise AssertionError("no random pick in a range this small")

    monkeypatch.setattr(random, "randrange", never)
    assert 0 < ports.free_port() < 65536
