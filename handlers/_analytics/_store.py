"""Writing the analytics store: Parquet files renamed into place, compaction, retention.

Idempotence on the key (event id, dead-letter id), without a database to hold a unique index:

- a batch is written only after duplicates within it are dropped, and rows whose message was
  redelivered (or replayed) are first looked up in their day partition, so the batch that was
  written just before a crash, and redelivered because its acks were lost, is not stored again;
- compaction merges a day's small batch files into one file, keeping one row per key, so the
  rare duplicate that slips past the first rule (two copies racing on one redelivery) is gone
  within minutes.

A reader never sees a half-written file: files are written under a hidden temporary name,
synced, and renamed. Compaction renames its output in before it deletes its inputs, so for a
moment a reader may count a day twice, never miss it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from handlers._analytics._rows import Row
from schemas.analytics import KEYS, SCHEMA_VERSION, TABLES, Layout, view_statements

log = logging.getLogger("jimbot.analytics")

Entry = tuple[str, int, Row]
"""``(key, day, row)``: the key, the day partition as days since the epoch, the row."""

_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "UBIGINT": pa.uint64(),
    "INTEGER": pa.int32(),
}
SCHEMAS = {
    table: pa.schema([pa.field(c.name, _ARROW[c.type]) for c in columns])
    for table, columns in TABLES.items()
}
SORT = {"events": "ts", "dead_letters": "failed_at"}
"""Compacted files are sorted by time, so row-group statistics skip what a time filter excludes."""

MIN_BATCH_FILES = 32
"""A day with this many batch files is compacted at once..."""
MAX_BATCH_AGE = 120.0
"""...and one whose oldest batch file is this many seconds old, whatever their number."""
MAX_MERGED_FILES = 4
"""Past this many compacted files in a day, they are merged into one."""
STALE_TEMP = 3600.0
"""A temporary file this many seconds old is a crashed writer's leftover."""
_EPOCH = date(1970, 1, 1)


def _day(days: int) -> date:
    return _EPOCH + timedelta(days=days)


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What one maintenance pass did."""

    dropped_days: int = 0
    merged_files: int = 0
    written_files: int = 0
    removed_temp: int = 0


@dataclass
class Store:
    """The writer's side of one store. Thread-safe: batches are written from worker threads."""

    layout: Layout
    retention: int
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cataloged: frozenset[str] | None = None
    """Tables that had files when the catalog was last written (``None``: not yet)."""

    # --- batches ---------------------------------------------------------------------------

    def write(self, table: str, entries: Sequence[Entry], recheck: set[str]) -> int:
        """Store a batch, one file per day it touches; returns the rows written.

        Args:
            recheck: keys whose message was delivered before; they are looked up first.
        """
        unique: dict[str, Entry] = {}
        for entry in entries:
            unique.setdefault(entry[0], entry)
        if recheck:
            days = {unique[key][1] for key in recheck if key in unique}
            for key in self.stored_keys(table, days, recheck):
                unique.pop(key, None)
        by_day: dict[int, list[Row]] = {}
        for _, day, row in unique.values():
            by_day.setdefault(day, []).append(row)
        for day, rows in by_day.items():
            self._write_file(table, _day(day), rows)
        if by_day and (self._cataloged is None or table not in self._cataloged):
            self.write_catalog()
        return len(unique)

    def _write_file(self, table: str, day: date, rows: list[Row]) -> Path:
        schema = SCHEMAS[table]
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
        directory = self.layout.day_dir(table, day)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"b-{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:16]}.parquet"
        return self._publish(directory, name, pa.Table.from_arrays(arrays, schema=schema))

    def _publish(self, directory: Path, name: str, data: pa.Table) -> Path:
        tmp = directory / f".{name}.tmp"
        pq.write_table(data, tmp, compression="zstd")
        return self._rename(tmp, directory / name)

    @staticmethod
    def _rename(tmp: Path, final: Path) -> Path:
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        return final

    def stored_keys(self, table: str, days: set[int], keys: set[str]) -> set[str]:
        """Which of ``keys`` the given day partitions already hold."""
        files = [
            path
            for day in days
            for path in sorted(self.layout.day_dir(table, _day(day)).glob("*.parquet"))
        ]
        if not files or not keys:
            return set()
        key = KEYS[table]
        with _duckdb() as con:
            found = con.execute(
                f"SELECT DISTINCT {key} FROM read_parquet({_sql_list(files)}, "
                f"hive_partitioning = false, union_by_name = true) "
                f"WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(keys)],
            ).fetchall()
        return {row[0] for row in found}

    # --- maintenance -----------------------------------------------------------------------

    def maintain(self, *, today: date | None = None) -> MaintenanceReport | None:
        """Retention, compaction and the catalog; ``None`` when another process is at it."""
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.layout.root / ".maintenance.lock") as mine:
            if not mine:
                return None
            today = utc_today() if today is None else today
            dropped = self.drop_expired(today)
            removed = self._remove_stale_temp()
            merged = written = 0
            with _duckdb() as con:
                for table in TABLES:
                    for day, path in self.layout.days(table):
                        m, w = self._compact_day(con, table, path, past=day < today)
                        merged += m
                        written += w
            self.write_catalog()
        return MaintenanceReport(dropped, merged, written, removed)

    def drop_expired(self, today: date) -> int:
        """Delete the day partitions older than the retention; returns how many."""
        oldest = today - timedelta(days=self.retention)
        dropped = 0
        for table in TABLES:
            for day, path in self.layout.days(table):
                if day < oldest:
                    shutil.rmtree(path, ignore_errors=True)
                    dropped += 1
                    log.info(
                        "dropped %s partition %s (retention %d days)", table, day, self.retention
                    )
        return dropped

    def _remove_stale_temp(self) -> int:
        cutoff = time.time() - STALE_TEMP
        removed = 0
        dirs = [self.layout.root] + [
            path for table in TABLES for _, path in self.layout.days(table)
        ]
        for directory in dirs:
            for tmp in directory.glob(".*.tmp*"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()
                        removed += 1
        return removed

    def _compact_day(
        self, con: duckdb.DuckDBPyConnection, table: str, directory: Path, *, past: bool
    ) -> tuple[int, int]:
        """Merge a day's batch files (and, when there are many, its merged files)."""
        batches = sorted(directory.glob("b-*.parquet"))
        merged = sorted(directory.glob("c-*.parquet"))
        if len(merged) > MAX_MERGED_FILES:
            inputs, against = batches + merged, []
        elif not batches or (len(batches) == 1 and not merged):
            return 0, 0
        else:
            oldest = min(_mtime(p) for p in batches)
            due = past or len(batches) >= MIN_BATCH_FILES or time.time() - oldest >= MAX_BATCH_AGE
            if not due:
                return 0, 0
            inputs, against = batches, merged
        key = KEYS[table]
        columns = ", ".join(f.name for f in SCHEMAS[table])
        source = (
            f"read_parquet({_sql_list(inputs)}, hive_partitioning = false, union_by_name = true)"
        )
        if against:
            source = (
                f"(SELECT * FROM {source} ANTI JOIN read_parquet({_sql_list(against)}, "
                f"hive_partitioning = false, union_by_name = true) AS known USING ({key}))"
            )
        name = f"c-{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:16]}.parquet"
        tmp = directory / f".{name}.tmp"
        con.execute(
            f"COPY (SELECT {columns} FROM (SELECT DISTINCT ON ({key}) * FROM {source}) "
            f"ORDER BY {SORT[table]}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        self._rename(tmp, directory / name)
        for path in inputs:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return len(inputs), 1

    # --- catalog ---------------------------------------------------------------------------

    def write_catalog(self) -> None:
        """Rewrite ``analytics.duckdb`` (views only) and ``store.json``, renamed into place.

        Readers holding the old catalog open keep reading it; nobody ever waits on a lock.
        """
        with self._lock:
            layout = self.layout
            layout.root.mkdir(parents=True, exist_ok=True)
            present = frozenset(t for t in TABLES if layout.has_files(t))
            tmp = layout.root / f".catalog-{uuid.uuid4().hex[:12]}.tmp"
            try:
                # The oldest storage format that holds views, so any DuckDB CLI a user has
                # (not only this Python package's version) can open the catalog.
                con = duckdb.connect(str(tmp), config={"storage_compatibility_version": "v1.0.0"})
                try:
                    for statement in view_statements(layout, self.retention, present=set(present)):
                        con.execute(statement)
                finally:
                    con.close()
                os.replace(tmp, layout.catalog)
            finally:
                for leftover in (tmp, Path(f"{tmp}.wal")):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
            settings = {
                "schema_version": SCHEMA_VERSION,
                "retention_days": self.retention,
                "tables": sorted(TABLES),
            }
            tmp_json = layout.root / f".store-{uuid.uuid4().hex[:12]}.tmp"
            tmp_json.write_text(json.dumps(settings, indent=2) + "\n")
            os.replace(tmp_json, layout.settings_file)
            self._cataloged = present


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


@contextlib.contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for the writer's own reads: one thread, bounded memory."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        con.execute("SET memory_limit = '512MB'")
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """An advisory lock across processes; yields whether we hold it (never waits)."""
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def utc_today() -> date:
    """Today's date in UTC (the day partitions are UTC days)."""
    return _day(int(time.time() // 86400))
