"""``jimbot up`` as a user runs it: a subprocess in a clean directory, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from ops.ports import free_port
from tests.integration.clihelp import jimbot

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.abc import Process

    from ops.natsserver import NatsServer

DRAIN = 5.0


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes counts as gone)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "EVENT_BUS_URL")}
    env.update(
        {
            "JIMBOT_NATS_PORT": str(port),
            "JIMBOT_HTTP_PORT": str(free_port()),
            "JIMBOT_GRPC_PORT": str(free_port()),
            "JIMBOT_RESOURCE_PORT": str(free_port()),
            "METRICS_PORT": "0",
            "JIMBOT_DRAIN_TIMEOUT": str(DRAIN),
        }
    )
    return env


async def _read_until(proc: Process, marker: str, *, within: float = 20.0) -> str:
    """Everything ``proc`` printed on stdout up to and including the line with ``marker``."""
    assert proc.stdout is not None
    text = ""
    with anyio.fail_after(within):
        while marker not in text:
            text += (await proc.stdout.receive()).decode()
    return text


async def _wait_for_text(path: Path, text: str, *, within: float = 10.0) -> str:
    with anyio.fail_after(within):
        while text not in (content := await anyio.Path(path).read_text()):
            await anyio.sleep(0.05)
    return content


async def test_up_starts_provisions_reports_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        proc = await anyio.open_process(
            [sys.executable, "-m", "ops.cli", "up", "--monitor-port", "-1"],
            cwd=tmp_path,
            env=_env(port),
            stdin=subprocess.DEVNULL,
            stderr=stderr,
        )
        async with proc:
            try:
                table = await _read_until(proc, "Ctrl-C drains")
                pids = [int(p) for p in re.findall(r"pid (\d+)", table)]
                url = f"nats://127.0.0.1:{port}"
                status = await jimbot(None, "status", env={"NATS_URL": url})

                # A handler that dies is restarted by the supervisor.
                mover = int(re.findall(r"dlq_mover .* pid (\d+)", table)[0])
                os.kill(mover, signal.SIGKILL)
                content = await _wait_for_text(log, "dlq_mover restarted as pid")
                pids += [int(p) for p in re.findall(r"restarted as pid (\d+)", content)]

                proc.send_signal(signal.SIGINT)
                with anyio.fail_after(DRAIN + 5):
                    code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()

    assert re.search(rf"nats\s+{re.escape(url)}\s+embedded", table)
    assert re.search(r"monitoring\s+http://127\.0\.0\.1:\d+", table)
    assert re.search(r"dlq_mover\s+metrics off\s+pid \d+", table)
    assert (tmp_path / ".jimbot" / "nats").is_dir()
    assert status.exit_code == 0, status.output
    assert "JIMBOT_EVENTS" in status.stdout and "JIMBOT_DLQ" in status.stdout
    assert code == 0, log.read_text()
    assert len(pids) >= 3  # nats-server, dlq_mover, its restarted copy
    assert [pid for pid in pids if _alive(pid)] == []
    assert "Traceback" not in (text := log.read_text()), text


async def test_children_stop_on_their_own_when_up_is_killed(tmp_path: Path) -> None:
    """SIGKILL gives the supervisor no chance to clean up: each child notices it is orphaned."""
    port = free_port()
    with (tmp_path / "stderr.log").open("wb") as stderr:
        proc = await anyio.open_process(
            [sys.executable, "-m", "ops.cli", "up", "--monitor-port", "0"],
            cwd=tmp_path,
            env=_env(port),
            stdin=subprocess.DEVNULL,
            stderr=stderr,
        )
        async with proc:
            table = await _read_until(proc, "Ctrl-C drains")
            proc.kill()
    server = int(re.findall(r"embedded, pid (\d+)", table)[0])
    children = [int(p) for p in re.findall(r"pid (\d+)", table) if int(p) != server]
    try:
        with anyio.fail_after(DRAIN + 5):
            while any(_alive(pid) for pid in children):
                await anyio.sleep(0.1)
    finally:
        # The embedded server runs in its own session and dies with `up` too, but it may
        # still be draining; the test stops it by PID if so.
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGTERM)
    assert len(children) == len(table.splitlines()) - 3  # all but title, nats and last line


async def test_up_on_a_taken_port_is_one_line_naming_the_fix(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    result = await anyio.run_process(
        [sys.executable, "-m", "ops.cli", "up", "--monitor-port", "0"],
        cwd=tmp_path,
        env=_env(nats_server.port),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("jimbot:")]
    assert result.returncode == 1
    assert len(errors) == 1
    assert "address already in use" in errors[0]
    assert "JIMBOT_NATS_PORT" in errors[0]
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("metrics_port", [0, 19400])
def test_children_get_nats_url_and_distinct_metrics_ports(metrics_port: int) -> None:
    from handlers import Settings, handler_names
    from ops._up import child_specs

    specs = child_specs(Settings(metrics_port=metrics_port), "nats://127.0.0.1:1")
    handlers = [s for s in specs if s.name in handler_names()]

    assert [s.name for s in handlers] == handler_names()
    assert all(s.env["NATS_URL"] == "nats://127.0.0.1:1" for s in specs)
    ports = [int(s.env["METRICS_PORT"]) for s in handlers]
    if metrics_port:
        assert ports == list(range(metrics_port, metrics_port + len(handlers)))
    else:
        assert set(ports) == {0}
    assert all(s.argv[1:4] == ["-m", "ops.cli", "run"] for s in handlers)
