"""The supervisor with real child processes (plain Python, no NATS)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from ops.supervisor import ChildSpec, Supervisor

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name=name, argv=[sys.executable, "-c", code], env=dict(os.environ))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_until(predicate: Callable[[], object], *, within: float = 10.0) -> None:
    with anyio.fail_after(within):
        while not predicate():
            await anyio.sleep(0.02)


async def test_a_child_that_dies_is_restarted_with_growing_backoff() -> None:
    supervisor = Supervisor([_child("crash", "raise SystemExit(3)")], min_backoff=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        started = anyio.current_time()
        await _wait_until(lambda: supervisor.restarts.get("crash", 0) >= 3)
        elapsed = anyio.current_time() - started
        supervisor.stop()
    # 0.05 + 0.1 between the first three exits; the fourth waits 0.2 s more.
    assert elapsed >= 0.15


async def test_stop_sends_sigterm_and_waits_for_the_children(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    code = (
        "import signal, sys, time\n"
        "def bye(*_): open(sys.argv[1], 'w').write('drained'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "open(sys.argv[1] + '.ready', 'w').close()\n"
        "time.sleep(60)\n"
    )
    spec = ChildSpec(
        name="graceful", argv=[sys.executable, "-c", code, str(marker)], env=dict(os.environ)
    )
    supervisor = Supervisor([spec], drain_timeout=5)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        pid = supervisor.pids()["graceful"]
        await _wait_until((tmp_path / "stopped.ready").exists)
        supervisor.stop()
    assert marker.read_text() == "drained"
    assert not _alive(pid)
    assert supervisor.pids() == {}


async def test_a_child_that_ignores_sigterm_is_killed_after_the_drain_timeout(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(sys.argv[1], 'w').close()\n"
        "time.sleep(60)\n"
    )
    spec = ChildSpec(
        name="stubborn", argv=[sys.executable, "-c", code, str(ready)], env=dict(os.environ)
    )
    supervisor = Supervisor([spec], drain_timeout=0.3)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            pid = supervisor.pids()["stubborn"]
            await _wait_until(ready.exists)
            supervisor.stop()
    assert not _alive(pid)


async def test_cancelling_the_supervisor_leaves_no_child_behind() -> None:
    supervisor = Supervisor([_child("sleeper", "import time; time.sleep(60)")], drain_timeout=2)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        pid = supervisor.pids()["sleeper"]
        tg.cancel_scope.cancel()
    assert not _alive(pid)
    assert supervisor.pids() == {}


def test_child_names_must_be_unique() -> None:
    supervisor = Supervisor([_child("a", "pass"), _child("a", "pass")])
    with pytest.raises(ValueError, match="unique"):
        anyio.run(supervisor.run)
