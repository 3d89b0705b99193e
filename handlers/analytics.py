"""Writes every event and every dead letter to the analytics store, for ad hoc SQL.

Rule: each message of the events stream becomes one row of ``events`` and each message of
the dead-letter stream one row of ``dead_letters``, in day-partitioned Parquet files under
``<JIMBOT_DATA_DIR>/analytics/`` (layout, columns and views: ``schemas.analytics``). A row is
stored once per id, and a message is acked only after its row is on disk. Partitions older
than ``JIMBOT_ANALYTICS_RETENTION_DAYS`` (30) are deleted; small files are compacted. Nothing
is published. Read the store with ``jimbot query``, the DuckDB CLI
(``duckdb <data_dir>/analytics/analytics.duckdb -readonly``), Python, or
``POST /api/v1/query``, at any time, while this handler writes.
"""

from __future__ import annotations

from collections.abc import Callable

import subjects
from handlers import BatchItem, Consumer, Context, run
from handlers._analytics import create_writer, current_writer, dead_letter_row, event_row
from handlers._analytics import now_micros as _now
from handlers._analytics._store import Entry
from handlers._analytics._writer import MAX_ROWS, MAX_WAIT

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

if __name__ == "__main__":
    raise SystemExit(run([events, dead_letters]))
