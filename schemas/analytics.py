"""The analytics store: where its files live, its two tables, its views, and read-only queries.

One module that the writer (``handlers/analytics.py``), ``jimbot query`` and the gateway's
``POST /api/v1/query`` all use, so they cannot disagree about a path, a column or a view.

Layout, under ``<JIMBOT_DATA_DIR>/analytics/``::

    events/day=YYYY-MM-DD/<name>.parquet         one row per event (UTC day of its timestamp)
    dead_letters/day=YYYY-MM-DD/<name>.parquet   one row per dead letter (UTC day it failed)
    analytics.duckdb                             views only, for ``duckdb … -readonly``
    store.json                                   the writer's retention, read by readers

Why Parquet files and not one DuckDB database: DuckDB lets one process open a database file
for writing and then no other process may open it at all, so a writer holding the store open
would lock out the CLI, Python and the gateway. Files written under a temporary name and
renamed into place are never seen half-written, and any number of readers scan them with
``read_parquet(…, hive_partitioning = true)`` while the writer goes on. Every time is UTC.
"""

from __future__ import annotations

import decimal
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import msgspec

from schemas._errors import JimbotError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = [
    "DEAD_LETTER_COLUMNS",
    "DEFAULT_RETENTION_DAYS",
    "EVENT_COLUMNS",
    "KEYS",
    "RETENTION_ENV",
    "TABLES",
    "VIEWS",
    "Column",
    "Layout",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "check_read_only",
    "json_hook",
    "open_reader",
    "retention_from_env",
    "run_query",
    "view_statements",
]

SCHEMA_VERSION = 1
RETENTION_ENV = "JIMBOT_ANALYTICS_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
"""The spec's ``retention: 30d``; days are whole UTC days of the partition."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name, DuckDB type and meaning."""

    name: str
    type: str
    doc: str


EVENT_COLUMNS = (
    Column("event_id", "VARCHAR", "the event's id (the mod's event_id): one row per id"),
    Column("type", "VARCHAR", "EventType name: GAME_STATE, SCORING, LEARNING_DECISION, ..."),
    Column("subtype", "VARCHAR", "SCORING step, LEARNING_DECISION REQUEST/RESPONSE, ..."),
    Column("type_name", "VARCHAR", "the producer's type string when it differs (CUSTOM)"),
    Column("source", "VARCHAR", "the producing component (BalatroMCP, game_director, ...)"),
    Column("subject", "VARCHAR", "subject relative to the prefix (events.game.state.update)"),
    Column("ts", "TIMESTAMP", "when the event happened (UTC)"),
    Column("received_at", "TIMESTAMP", "when the gateway received it (UTC), if it came in there"),
    Column("written_at", "TIMESTAMP", "when analytics wrote the row (UTC)"),
    Column("seq", "UBIGINT", "sequence in the <PREFIX>_EVENTS stream"),
    Column("correlation_id", "VARCHAR", "the event this one answers (a decision: its state)"),
    Column("session", "VARCHAR", "the game session (metadata 'session')"),
    Column("batch_id", "VARCHAR", "the mod batch it arrived in"),
    Column("size", "INTEGER", "bytes of the event on the bus"),
    Column("metadata", "VARCHAR", "the envelope's metadata map, JSON"),
    Column("fields", "VARCHAR", "the payload as JSON, without repeated messages (hand, deck)"),
    Column("error", "VARCHAR", "why the body could not be read as an Event, when it could not"),
)
DEAD_LETTER_COLUMNS = (
    Column("dlq_id", "VARCHAR", "the dead letter's Nats-Msg-Id: one row per id"),
    Column("seq", "UBIGINT", "sequence in the <PREFIX>_DLQ stream"),
    Column("subject", "VARCHAR", "DLQ subject relative to the prefix (dlq.consumer.<durable>)"),
    Column("reason", "VARCHAR", "terminated, max_deliveries or ingest"),
    Column("consumer", "VARCHAR", "the durable consumer (or gateway edge) that gave up"),
    Column("stream", "VARCHAR", "the stream the original was in"),
    Column("stream_seq", "UBIGINT", "the original's sequence there"),
    Column("deliveries", "INTEGER", "deliveries before it was given up"),
    Column("error", "VARCHAR", "the handler's or the edge's error"),
    Column("failed_at", "TIMESTAMP", "when it was given up (UTC)"),
    Column("original_subject", "VARCHAR", "the subject it was published to"),
    Column("event_id", "VARCHAR", "the original's Nats-Msg-Id (the event id)"),
    Column("event_type", "VARCHAR", "the original's Jimbot-Event-Type"),
    Column("size", "INTEGER", "bytes of the original body"),
    Column("body_preview", "VARCHAR", "the start of a text body (raw input an edge refused)"),
    Column("written_at", "TIMESTAMP", "when analytics wrote the row (UTC)"),
)
TABLES: Mapping[str, tuple[Column, ...]] = {
    "events": EVENT_COLUMNS,
    "dead_letters": DEAD_LETTER_COLUMNS,
}
KEYS: Mapping[str, str] = {"events": "event_id", "dead_letters": "dlq_id"}
"""The idempotence key of each table: the writer stores each key once per day partition."""

_DAY_DIR = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")


def retention_from_env(env: Mapping[str, str] | None = None) -> int:
    """``JIMBOT_ANALYTICS_RETENTION_DAYS`` (default 30).

    Raises:
        JimbotError: the value is not a whole number of days >= 1.
    """
    raw = (os.environ if env is None else env).get(RETENTION_ENV) or ""
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise JimbotError(f"{RETENTION_ENV}={raw!r}: set it to a whole number of days >= 1")
    return days


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths of one store; ``root`` is absolute so views work from any directory."""

    root: Path

    @classmethod
    def from_data_dir(cls, data_dir: Path | str) -> Layout:
        return cls(Path(data_dir).absolute() / "analytics")

    @property
    def catalog(self) -> Path:
        """``analytics.duckdb``: the views, for the DuckDB CLI (``-readonly``)."""
        return self.root / "analytics.duckdb"

    @property
    def settings_file(self) -> Path:
        return self.root / "store.json"

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def day_dir(self, table: str, day: date) -> Path:
        return self.table_dir(table) / f"day={day.isoformat()}"

    def glob(self, table: str) -> str:
        return str(self.table_dir(table) / "*" / "*.parquet")

    def days(self, table: str) -> list[tuple[date, Path]]:
        """The day partitions on disk, oldest first (other directories are ignored)."""
        found = []
        try:
            entries = list(os.scandir(self.table_dir(table)))
        except FileNotFoundError:
            return []
        for entry in entries:
            match = _DAY_DIR.match(entry.name)
            if match and entry.is_dir():
                try:
                    found.append((date.fromisoformat(match[1]), Path(entry.path)))
                except ValueError:
                    continue
        return sorted(found)

    def has_files(self, table: str) -> bool:
        return any(any(path.glob("*.parquet")) for _, path in self.days(table))

    def retention(self) -> int:
        """The retention the writer enforces (``store.json``), else the environment's."""
        try:
            return int(json.loads(self.settings_file.read_text())["retention_days"])
        except (OSError, ValueError, KeyError, TypeError):
            return retention_from_env()


# --- views ---------------------------------------------------------------------------------

VIEWS: Mapping[str, str] = {
    "events": "every stored event, one row per event id, within the retention",
    "dead_letters": "every stored dead letter, one row per dead letter",
    "events_by_type_hour": "events per UTC hour and type",
    "game_states": "GAME_STATE events with the game's numbers as columns",
    "games": "one row per (session, game_id): progress, outcome, decisions and their latency",
    "decisions": "learning.decision events with their game and latency from the state's arrival",
    "decision_latency": "decision latency percentiles per UTC hour and strategy",
    "dead_letters_by_hour": "dead letters per UTC hour, reason and consumer",
}


def _today_sql() -> str:
    return "CAST(now() AT TIME ZONE 'UTC' AS DATE)"


def _table_sql(layout: Layout, table: str, retention: int, present: bool) -> str:
    """The SELECT behind a table's view: its files, or a typed empty row set when none exist
    (``read_parquet`` fails on a glob that matches nothing)."""
    if not present:
        columns = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in TABLES[table])
        return f"SELECT {columns}, CAST(NULL AS DATE) AS day WHERE false"
    path = layout.glob(table).replace("'", "''")
    return (
        f"SELECT * FROM read_parquet('{path}', hive_partitioning = true, "
        f"hive_types = {{'day': 'DATE'}}, union_by_name = true) "
        f"WHERE day >= {_today_sql()} - INTERVAL {int(retention)} DAY"
    )


_DERIVED = (
    """CREATE OR REPLACE VIEW events_by_type_hour AS
SELECT date_trunc('hour', ts) AS hour, type, count(*) AS events
FROM events GROUP BY ALL ORDER BY hour, type""",
    """CREATE OR REPLACE VIEW game_states AS
SELECT event_id, ts, coalesce(received_at, ts) AS received_at, seq, session,
    fields->>'game_id' AS game_id,
    fields->>'game_state' AS phase,
    TRY_CAST(fields->>'ante' AS INTEGER) AS ante,
    TRY_CAST(fields->>'round' AS INTEGER) AS round,
    TRY_CAST(fields->>'hand_number' AS INTEGER) AS hand_number,
    coalesce(TRY_CAST(fields->>'money_exact' AS DOUBLE),
             TRY_CAST(fields->>'money' AS DOUBLE)) AS money,
    coalesce(TRY_CAST(fields->>'chips_exact' AS DOUBLE),
             TRY_CAST(fields->>'chips' AS DOUBLE)) AS chips,
    TRY_CAST(fields->>'hands_remaining' AS INTEGER) AS hands_remaining,
    TRY_CAST(fields->>'discards_remaining' AS INTEGER) AS discards_remaining,
    fields->'blind'->>'name' AS blind,
    coalesce(TRY_CAST(fields->'blind'->>'defeated' AS BOOLEAN), false) AS blind_defeated,
    TRY_CAST(fields->>'frame_count' AS BIGINT) AS frame
FROM events
WHERE type = 'GAME_STATE' AND fields->>'game_id' IS NOT NULL""",
    """CREATE OR REPLACE VIEW decisions AS
SELECT d.event_id AS decision_id, d.ts, d.source, d.correlation_id AS state_event_id,
    s.session, s.game_id, s.phase, s.ante, s.round,
    d.fields->>'selected_action' AS action,
    TRY_CAST(d.fields->>'confidence' AS DOUBLE) AS confidence,
    d.fields->>'strategy_name' AS strategy,
    coalesce(TRY_CAST(d.fields->>'fallback' AS BOOLEAN), false) AS fallback,
    d.fields->>'error_detail' AS error_detail,
    coalesce(TRY_CAST(d.fields->>'used_llm' AS BOOLEAN), false) AS used_llm,
    date_diff('microsecond', s.received_at, d.ts) / 1000.0 AS latency_ms
FROM events d LEFT JOIN game_states s ON s.event_id = d.correlation_id
WHERE d.type = 'LEARNING_DECISION' AND coalesce(d.subtype, '') <> 'REQUEST'""",
    """CREATE OR REPLACE VIEW games AS
WITH s AS (
    SELECT session, game_id, min(ts) AS started_at, max(ts) AS last_seen,
        count(*) AS states, max(ante) AS max_ante, max(round) AS rounds,
        arg_max(phase, {'ts': ts, 'frame': frame, 'seq': seq}) AS last_phase,
        arg_max(blind_defeated, {'ts': ts, 'frame': frame, 'seq': seq}) AS last_defeated,
        arg_max(money, {'ts': ts, 'frame': frame, 'seq': seq}) AS final_money
    FROM game_states GROUP BY session, game_id),
d AS (
    SELECT session, game_id, count(*) AS decisions, count(*) FILTER (fallback) AS fallbacks,
        quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
        quantile_cont(latency_ms, 0.99) AS latency_p99_ms
    FROM decisions WHERE game_id IS NOT NULL GROUP BY session, game_id)
SELECT s.session, s.game_id,
    CASE WHEN s.last_phase <> 'GAME_OVER' THEN 'in_progress'
         WHEN s.last_defeated THEN 'won' ELSE 'lost' END AS outcome,
    s.max_ante, s.rounds, s.final_money, s.last_phase, s.states,
    coalesce(d.decisions, 0) AS decisions, coalesce(d.fallbacks, 0) AS fallbacks,
    d.latency_p50_ms, d.latency_p99_ms, s.started_at, s.last_seen,
    date_diff('millisecond', s.started_at, s.last_seen) / 1000.0 AS duration_s
FROM s LEFT JOIN d ON d.session IS NOT DISTINCT FROM s.session AND d.game_id = s.game_id
ORDER BY s.started_at""",
    """CREATE OR REPLACE VIEW decision_latency AS
SELECT date_trunc('hour', ts) AS hour, strategy, count(*) AS decisions,
    count(*) FILTER (fallback) AS fallbacks,
    quantile_cont(latency_ms, 0.5) AS p50_ms, quantile_cont(latency_ms, 0.95) AS p95_ms,
    quantile_cont(latency_ms, 0.99) AS p99_ms, max(latency_ms) AS max_ms
FROM decisions GROUP BY ALL ORDER BY hour, strategy""",
    """CREATE OR REPLACE VIEW dead_letters_by_hour AS
SELECT date_trunc('hour', failed_at) AS hour, reason, consumer, count(*) AS dead_letters
FROM dead_letters GROUP BY ALL ORDER BY hour, reason, consumer""",
)


def view_statements(layout: Layout, retention: int, *, present: set[str]) -> list[str]:
    """``CREATE VIEW`` statements for every view; ``present`` names the tables with files."""
    tables = [
        f"CREATE OR REPLACE VIEW {t} AS {_table_sql(layout, t, retention, t in present)}"
        for t in TABLES
    ]
    return tables + list(_DERIVED)


# --- read-only queries ---------------------------------------------------------------------


class QueryRefused(JimbotError):
    """Raised when a statement could write or change the session: only reads run."""


class QueryFailed(JimbotError):
    """Raised when DuckDB cannot run a query (syntax, unknown column, ...); says why."""


class QueryTimeout(JimbotError):
    """Raised when a query runs past its time limit and is interrupted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"query interrupted after {seconds:g} s: narrow it (a WHERE on ts or day, a LIMIT)"
        )


_READS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(.*)$", re.IGNORECASE | re.DOTALL)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Allow exactly one SELECT (or EXPLAIN of one), as DuckDB's own parser reads it.

    ``EXPLAIN ANALYZE`` runs its statement, so what follows EXPLAIN is checked too.

    Raises:
        QueryRefused: no statement, several, or one that is not a read.
        QueryFailed: the text does not parse.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryFailed(f"query failed: {_first_line(exc)}") from None
    if not statements:
        raise QueryRefused("refused: no SQL statement given; send one SELECT")
    if len(statements) > 1:
        raise QueryRefused(
            f"refused: {len(statements)} statements given; send one SELECT at a time"
        )
    statement = statements[0]
    if statement.type not in _READS:
        kind = statement.type.name
        raise QueryRefused(
            f"refused: {kind} is not a read; the analytics store takes read-only SELECT "
            "and EXPLAIN statements only"
        )
    if statement.type == duckdb.StatementType.EXPLAIN:
        match = _EXPLAIN.match(statement.query)
        if match is None:
            raise QueryRefused("refused: write EXPLAIN first, then one SELECT")
        check_read_only(con, match[1])


def open_reader(
    layout: Layout, *, retention: int | None = None, threads: int = 2, memory_limit: str = "1GB"
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views, that can read the store and nothing else.

    No file outside the store can be read, none can be written or attached, no extension
    installed, and the configuration is locked so a query cannot undo any of it.
    """
    retention = layout.retention() if retention is None else retention
    present = {table for table in TABLES if layout.has_files(table)}
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET autoinstall_known_extensions = false")
        allowed = f"{layout.root}{os.sep}".replace("'", "''")
        con.execute(f"SET allowed_directories = ['{allowed}']")
        con.execute("SET enable_external_access = false")
        for statement in view_statements(layout, retention, present=present):
            con.execute(statement)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a query returned, at most ``limit`` rows of it."""

    table: pa.Table
    truncated: bool
    """More rows existed than the limit allowed."""
    elapsed: float
    """Seconds from opening the store to the last row fetched."""


_VANISHED = ("No such file", "No files found", "Cannot open file")
"""A file listed by a glob and deleted before it was read (compaction, retention)."""


def run_query(
    layout: Layout,
    sql: str,
    *,
    limit: int | None = None,
    timeout: float = 60.0,
    retention: int | None = None,
) -> QueryResult:
    """Run one read-only statement over the store; blocking (run it in a worker thread).

    Args:
        limit: the most rows to return (``None``: all of them).
        timeout: seconds before the query is interrupted.

    Raises:
        QueryRefused: the statement is not a read.
        QueryFailed: DuckDB reported an error.
        QueryTimeout: it ran past ``timeout``.
    """
    started = time.perf_counter()
    for attempt in range(3):
        try:
            con = open_reader(layout, retention=retention)
        except duckdb.Error as exc:
            if attempt < 2 and any(text in str(exc) for text in _VANISHED):
                continue
            raise QueryFailed(f"cannot open the analytics store: {_first_line(exc)}") from None
        timer = threading.Timer(timeout, con.interrupt)
        try:
            check_read_only(con, sql)
            timer.start()
            table, truncated = _fetch(con, sql, limit)
            return QueryResult(table, truncated, time.perf_counter() - started)
        except duckdb.InterruptException:
            raise QueryTimeout(timeout) from None
        except duckdb.IOException as exc:
            if attempt < 2 and any(text in str(exc) for text in _VANISHED):
                continue  # compaction replaced the files between listing and reading
            raise QueryFailed(f"query failed: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise QueryFailed(f"query failed: {_first_line(exc)}") from None
        finally:
            timer.cancel()
            con.close()
    raise AssertionError("unreachable")


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None) -> tuple[pa.Table, bool]:
    import pyarrow as pa

    relation = con.sql(sql)
    if relation is None:  # pragma: no cover - check_read_only lets only row-returning reads in
        raise QueryRefused("refused: the statement returns no rows")
    reader = relation.to_arrow_reader(2048)
    if limit is None:
        return reader.read_all(), False
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        if rows > limit:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, limit), rows > limit


def json_hook(value: Any) -> Any:
    """``enc_hook`` for msgspec: the DuckDB values msgspec does not encode by itself."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise NotImplementedError(f"cannot encode {type(value).__name__} as JSON")


class ColumnInfo(msgspec.Struct):
    name: str
    type: str


class QueryAnswer(msgspec.Struct):
    """The rows of a query, at most ``limit`` of them (``truncated`` says when more existed):
    the JSON answer of ``POST /api/v1/query`` and of ``rpc.analytics.query``."""

    columns: list[ColumnInfo]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed_ms: float


_encoder = msgspec.json.Encoder(enc_hook=json_hook)


def answer_json(result: QueryResult) -> bytes:
    """``result`` as a :class:`QueryAnswer` in JSON."""
    table = result.table
    columns = [ColumnInfo(f.name, str(f.type)) for f in table.schema]
    values = [column.to_pylist() for column in table.columns]
    rows = [list(row) for row in zip(*values, strict=True)] if values else []
    answer = QueryAnswer(
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=result.truncated,
        elapsed_ms=round(result.elapsed * 1000, 3),
    )
    return _encoder.encode(answer)
