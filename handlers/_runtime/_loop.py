"""How a service process runs: uvloop when it is installed, and a garbage collector tuned
for a server.

Why uvloop: a handler or edge process spends much of its CPU in the loop itself and in socket
writes; uvloop does both in C (libuv). ``JIMBOT_UVLOOP=0`` keeps the standard loop (for
debugging, or a platform without uvloop).

Why the collector: a busy handler holds thousands of live objects (tasks, messages,
protobufs), and CPython's default young-generation threshold (700 allocations) makes the
collector walk them hundreds of times a second, for almost no garbage: cycles are rare in
this code. ``JIMBOT_GC_THRESHOLD`` (default 50,000; ``0`` keeps Python's defaults) sets the
young generation's threshold, and what start-up made is frozen out of every collection.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import os
from typing import Any


def backend_options() -> dict[str, Any]:
    """``anyio.run(..., backend_options=backend_options())`` for a service process."""
    if os.environ.get("JIMBOT_UVLOOP", "1").strip().lower() in ("0", "false", "no", "off"):
        return {}
    if importlib.util.find_spec("uvloop") is None:
        return {}
    return {"use_uvloop": True}


GC_THRESHOLD = 50_000


def tune_gc() -> None:
    """Apply ``JIMBOT_GC_THRESHOLD`` to this process; call once start-up imports are done."""
    raw = os.environ.get("JIMBOT_GC_THRESHOLD", "").strip()
    try:
        threshold = int(raw) if raw else GC_THRESHOLD
    except ValueError:
        from handlers._runtime._errors import ConfigError

        raise ConfigError(
            f"JIMBOT_GC_THRESHOLD={raw!r} is not a whole number: set it to e.g. 50000, or 0 "
            "for Python's defaults"
        ) from None
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    # Frozen objects are never collected, so extension modules that count their objects at
    # exit (DuckDB's nanobind bindings) would report them as leaks: thaw them first.
    atexit.register(_thaw)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


def _thaw() -> None:
    gc.unfreeze()
    gc.collect()
