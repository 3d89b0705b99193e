"""Writes every event and every dead letter to the analytics store, for ad hoc SQL.

Rule: each message of the events stream becomes one row of ``events`` and each message of
the dead-letter stream one row of ``dead_letters``, in day-partitioned Parquet files under
``<JIMBOT_DATA_DIR>/analytics/`` (layout, columns and views: ``schemas.analytics``). A row is
stored once per id, and a message is acked only after its row is on disk. Partitions older
than ``JIMBOT_ANALYTICS_RETENTION_DAYS`` (30) are deleted; small files are compacted. Nothing
is published. Read the store with ``jimbot query``, the DuckDB CLI
(``duckdb <data_dir>/analytics/analytics.duckdb -readonly``), Python,
``POST /api/v1/query``, or ``rpc.analytics.query`` (served here: the SQL as the request body,
the rows as JSON; so ``nats req jimbot.rpc.analytics.query "SELECT ..."`` works), at any time,
while this handler writes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import anyio

import subjects
from handlers import BatchItem, Consumer, Context, Endpoint, ServiceError, run
from handlers._analytics import create_writer, current_writer, dead_letter_row, event_row
from handlers._analytics import now_micros as _now
from handlers._analytics._store import Entry
from handlers._analytics._writer import MAX_ROWS, MAX_WAIT
from schemas.analytics import QueryFailed, QueryRefused, QueryTimeout, answer_json, run_query

create_writer()  # a bad setting stops `jimbot run analytics` at once, with the variable named


async def store_events(items: list[BatchItem[bytes]], ctx: Context) -> None:
    """One batch of events → one Parquet file; every message is acked once it is written."""
    await _store("events", event_row, items)


async def store_dead_letters(items: list[BatchItem[bytes]], ctx: Context) -> None:
    await _store("dead_letters", dead_letter_row, items)


async def _store(table: str, to_row: Callable[..., Entry], items: list[BatchItem[bytes]]) -> None:
    now_us = _now()
    entries = [
        to_row(
            item.value,
            subject=item.subject.partition(".")[2],
            seq=item.stream_seq,
            headers=item.headers,
            now_us=now_us,
        )
        for item in items
    ]
    recheck = {entry[0] for entry, item in zip(entries, items, strict=True) if _seen_before(item)}
    await current_writer().write(table, entries, recheck)


def _seen_before(item: BatchItem[bytes]) -> bool:
    """This message may already be stored: it was delivered before, or is a replay."""
    return item.deliveries > 1 or subjects.REPLAY_OF in item.headers


QUERY_ROWS = 1000
"""Rows a ``rpc.analytics.query`` answer holds at most (``truncated`` says when more existed)."""
QUERY_TIMEOUT = 10.0
"""Seconds a query may run, less when the caller's deadline is nearer."""
CONCURRENT_QUERIES = 2
"""Queries run at once per process, each in a worker thread; more wait their turn."""


async def query(sql: str, ctx: Context) -> bytes:
    """One read-only statement over the store → its rows (``schemas.analytics.QueryAnswer``).

    A statement that is not a read, or that DuckDB rejects, is a ``400`` naming why; one that
    runs past its time is a ``504``. The query runs in a worker thread, never in the loop.
    """
    if not sql.strip():
        raise ServiceError("400", "no SQL: send one SELECT as the request body")
    store = current_writer().store
    seconds = min(QUERY_TIMEOUT, max(ctx.deadline - anyio.current_time(), 0.001))
    job = partial(
        run_query, store.layout, sql, limit=QUERY_ROWS, timeout=seconds, retention=store.retention
    )
    try:
        result = await anyio.to_thread.run_sync(job, limiter=_limiter())
    except (QueryRefused, QueryFailed) as exc:
        raise ServiceError("400", str(exc)) from None
    except QueryTimeout as exc:
        raise ServiceError("504", str(exc)) from None
    return answer_json(result)


_LIMITERS: list[anyio.CapacityLimiter] = []


def _limiter() -> anyio.CapacityLimiter:
    """The process's query limiter, made inside the event loop on first use."""
    if not _LIMITERS:
        _LIMITERS.append(anyio.CapacityLimiter(CONCURRENT_QUERIES))
    return _LIMITERS[0]


events = Consumer(
    name="analytics",
    subjects=(),
    handle=store_events,
    batch=MAX_ROWS,
    batch_wait=MAX_WAIT,
    max_deliver=20,
    retry_delay=1.0,
)
dead_letters = Consumer(
    name="analytics_dead_letters",
    stream="DLQ",
    subjects=(),
    handle=store_dead_letters,
    batch=256,
    batch_wait=MAX_WAIT,
    max_deliver=20,
    retry_delay=1.0,
)

queries = Endpoint(
    name="analytics_query",
    subject=subjects.RPC_ANALYTICS_QUERY,
    handle=query,
    concurrency=8,
    timeout=QUERY_TIMEOUT + 1.0,
    description="jimbot analytics: one read-only SQL statement -> its rows as JSON",
)

if __name__ == "__main__":
    raise SystemExit(run([events, dead_letters, queries]))
