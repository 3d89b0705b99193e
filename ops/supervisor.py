"""A small process supervisor: one child process per handler or edge, kept alive until stopped.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor,
which then sends exactly one SIGTERM to each child by PID (a second signal would cut a
worker's drain short). A child that dies unexpectedly is restarted after a growing delay that
resets once it has stayed up for a while; on stop each child gets the drain timeout to exit,
then SIGKILL.

An edge (HTTP gateway, gRPC shim) is just another :class:`ChildSpec` with a command and the
address it serves, which ``jimbot up`` prints.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anyio.abc import Process, TaskStatus

log = logging.getLogger("jimbot.up")


@dataclass(frozen=True, kw_only=True)
class ChildSpec:
    """One supervised command.

    Args:
        name: shown in logs and in the table of what listens where.
        argv: the command; the first item is the executable.
        env: the child's whole environment.
        listens: what it serves, for the table (``metrics http://127.0.0.1:9091/metrics``).
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    listens: str = ""


@dataclass
class Supervisor:
    """Runs :class:`ChildSpec` processes until :meth:`stop`, restarting the ones that die.

    Args:
        children: what to run.
        drain_timeout: seconds each child gets after SIGTERM before SIGKILL.
        min_backoff / max_backoff: the restart delay starts at one and doubles up to the other.
        stable_after: seconds of uptime after which a crash is treated as the first again.
    """

    children: Sequence[ChildSpec]
    drain_timeout: float = 30.0
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    stable_after: float = 30.0
    restarts: dict[str, int] = field(default_factory=dict)
    _procs: dict[str, Process] = field(default_factory=dict)
    _stop: anyio.Event = field(default_factory=anyio.Event)

    def pids(self) -> dict[str, int]:
        """The PID of each running child, by name."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def stop(self) -> None:
        """Ask every child to exit; :meth:`run` returns once they have."""
        self._stop.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every child, report started, and keep them up until :meth:`stop`."""
        names = [c.name for c in self.children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        async with anyio.create_task_group() as tg:
            for spec in self.children:
                await tg.start(self._keep, spec)
            task_status.started()

    async def _spawn(self, spec: ChildSpec) -> Process:
        proc = await anyio.open_process(
            list(spec.argv),
            env=dict(spec.env),
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=None,
            start_new_session=True,
        )
        self._procs[spec.name] = proc
        return proc

    async def _keep(self, spec: ChildSpec, *, task_status: TaskStatus[None]) -> None:
        backoff = self.min_backoff
        proc = await self._spawn(spec)
        task_status.started()
        try:
            while True:
                started = anyio.current_time()
                code = await self._wait_exit_or_stop(proc)
                if code is None:
                    await self._terminate(spec, proc)
                    return
                del self._procs[spec.name]
                await proc.aclose()
                if anyio.current_time() - started >= self.stable_after:
                    backoff = self.min_backoff
                self.restarts[spec.name] = self.restarts.get(spec.name, 0) + 1
                log.warning(
                    "%s (pid %d) exited with code %s; restarting in %.1fs",
                    spec.name, proc.pid, code, backoff,
                )  # fmt: skip
                with anyio.move_on_after(backoff):
                    await self._stop.wait()
                if self._stop.is_set():
                    return
                backoff = min(backoff * 2, self.max_backoff)
                proc = await self._spawn(spec)
                log.warning("%s restarted as pid %d", spec.name, proc.pid)
        finally:
            if proc.returncode is None:
                # Cancelled from outside (an error elsewhere): never leave a child behind.
                with anyio.CancelScope(shield=True):
                    await self._terminate(spec, proc)

    async def _wait_exit_or_stop(self, proc: Process) -> int | None:
        """The child's exit code, or ``None`` when a stop was asked for first."""
        codes: list[int] = []
        async with anyio.create_task_group() as tg:

            async def exited() -> None:
                codes.append(await proc.wait())
                tg.cancel_scope.cancel()

            async def stopped() -> None:
                await self._stop.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(exited)
            tg.start_soon(stopped)
        return codes[0] if codes else None

    async def _terminate(self, spec: ChildSpec, proc: Process) -> None:
        """SIGTERM by PID, the drain timeout to exit, then SIGKILL."""
        if proc.returncode is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            with anyio.move_on_after(self.drain_timeout):
                await proc.wait()
        if proc.returncode is None:
            log.warning(
                "%s (pid %d) still running after %.1fs: SIGKILL",
                spec.name, proc.pid, self.drain_timeout,
            )  # fmt: skip
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await proc.aclose()
        self._procs.pop(spec.name, None)
        if proc.returncode not in (0, -signal.SIGTERM):
            log.warning("%s (pid %d) exited with code %s", spec.name, proc.pid, proc.returncode)
