"""The writer of one store: batches of rows written in a worker thread, and maintenance.

The configuration comes from the environment each handler process has (``JIMBOT_DATA_DIR``,
``JIMBOT_ANALYTICS_RETENTION_DAYS``, ``JIMBOT_ANALYTICS_MAINTENANCE_INTERVAL``). A writer is
made on the first message and kept for the process; it holds no file open between batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
from prometheus_client import Counter, Histogram

from handlers._analytics._store import Entry, Store
from handlers._runtime._errors import ConfigError
from handlers._runtime._settings import Settings
from schemas.analytics import RETENTION_ENV, TABLES, Layout, retention_from_env

log = logging.getLogger("jimbot.analytics")

INTERVAL_ENV = "JIMBOT_ANALYTICS_MAINTENANCE_INTERVAL"
DEFAULT_INTERVAL = 30.0
"""Seconds between maintenance passes (retention, compaction, catalog)."""
MAX_ROWS = 1000
MAX_WAIT = 0.5
"""A batch is written when it holds 1000 rows or its first row is half a second old (the
batch consumer's ``batch`` and ``batch_wait``)."""

ROWS = Counter("jimbot_analytics_rows_total", "Rows written to the analytics store.", ["table"])
FLUSH = Histogram(
    "jimbot_analytics_flush_seconds",
    "Time to write one batch of the analytics store.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MAINTENANCE = Counter(
    "jimbot_analytics_maintenance_total",
    "What analytics maintenance did.",
    ["action"],
)


@dataclass
class Writer:
    """Writes batches of rows into ``store`` and runs its maintenance at most every
    ``interval`` s."""

    store: Store
    interval: float = DEFAULT_INTERVAL
    _last_maintenance: float = -float("inf")
    _maintaining: bool = False

    async def write(self, table: str, entries: Sequence[Entry], recheck: set[str]) -> None:
        """Store one batch (ids in ``recheck`` are looked up first); returns once it is on
        disk. Maintenance then runs if it is due, delaying this batch's acks a little."""
        if table not in TABLES:
            raise ValueError(f"unknown analytics table {table!r}")
        started = time.perf_counter()
        written = await anyio.to_thread.run_sync(self.store.write, table, entries, recheck)
        FLUSH.labels(table).observe(time.perf_counter() - started)
        ROWS.labels(table).inc(written)
        await self.maintain_if_due()

    async def maintain_if_due(self) -> None:
        now = time.monotonic()
        if self._maintaining or now - self._last_maintenance < self.interval:
            return
        self._maintaining = True
        try:
            report = await anyio.to_thread.run_sync(self.store.maintain)
        except Exception as exc:  # ingest goes on; the next pass tries again
            MAINTENANCE.labels("failed").inc()
            log.warning("analytics maintenance failed: %s: %s", type(exc).__name__, exc)
        else:
            if report is not None:
                MAINTENANCE.labels("dropped_day").inc(report.dropped_days)
                MAINTENANCE.labels("merged_file").inc(report.merged_files)
                MAINTENANCE.labels("compacted_file").inc(report.written_files)
        finally:
            self._last_maintenance = time.monotonic()
            self._maintaining = False


def _interval(env: Mapping[str, str]) -> float:
    raw = env.get(INTERVAL_ENV) or ""
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{INTERVAL_ENV}={raw!r}: set it to a number of seconds > 0")
    return value


_CONFIG_ENV = ("JIMBOT_DATA_DIR", RETENTION_ENV, INTERVAL_ENV)
_WRITERS: dict[tuple[str, ...], Writer] = {}


def create_writer(env: Mapping[str, str] | None = None) -> Writer:
    """A writer configured from the environment.

    Raises:
        JimbotError: a setting is invalid; the message names the variable and the fix.
    """
    env = os.environ if env is None else env
    data_dir = Settings.from_env(env).data_dir
    store = Store(Layout.from_data_dir(data_dir), retention_from_env(env))
    return Writer(store, _interval(env))


def current_writer() -> Writer:
    """The writer for this process's configuration, made on first use and then kept."""
    key = tuple(os.environ.get(name) or "" for name in _CONFIG_ENV)
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS[key] = create_writer()
    return writer
