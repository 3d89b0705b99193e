"""How a service process runs: the event loop choice and the garbage collector tuning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from handlers import ConfigError, backend_options, tune_gc

PROBE = """
import gc, duckdb
from handlers import tune_gc
duckdb.connect(":memory:").execute("SELECT 1").fetchall()
tune_gc()
print(gc.get_threshold()[0], gc.get_freeze_count() > 0)
"""


def test_tune_gc_raises_the_threshold_freezes_start_up_and_exits_quietly() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["50000", "True"]
    # Frozen objects are thawed at exit, so DuckDB's bindings report no leaks.
    assert "leaked" not in done.stderr


def test_tune_gc_zero_keeps_python_defaults() -> None:
    env_zero = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "JIMBOT_GC_THRESHOLD": "0"},
    )
    assert env_zero.stdout.split() == ["700", "False"]


def test_a_bad_threshold_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIMBOT_GC_THRESHOLD", "lots")
    with pytest.raises(ConfigError, match="JIMBOT_GC_THRESHOLD"):
        tune_gc()


def test_uvloop_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_options() == {"use_uvloop": True}
    monkeypatch.setenv("JIMBOT_UVLOOP", "0")
    assert backend_options() == {}
