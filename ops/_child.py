"""``python -m ops._child <module>``: run a module as ``__main__`` under ``jimbot up``.

A supervisor killed with SIGKILL cannot stop its children. Every child ``jimbot up`` starts
therefore watches its parent: when it is re-parented, it sends itself SIGTERM and drains the
way it would on Ctrl-C, so nothing is left running against a server that may be gone.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

PARENT_PID_ENV = "JIMBOT_PARENT_PID"
"""The supervisor's PID; set in each child's environment by ``jimbot up``."""


def exit_when_orphaned(*, poll: float = 1.0) -> None:
    """Start a daemon thread that SIGTERMs this process once its parent is not the supervisor."""
    raw = os.environ.get(PARENT_PID_ENV, "")
    if not raw.isdigit():
        return
    parent = int(raw)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> None:
    if len(argv) < 1:
        raise SystemExit("usage: python -m ops._child <module> [args...]")
    module, *rest = argv
    exit_when_orphaned()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
