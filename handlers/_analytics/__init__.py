"""The analytics writer's parts: rows from messages, the Parquet store, maintenance."""

from __future__ import annotations

from handlers._analytics._rows import dead_letter_row, event_row, now_micros
from handlers._analytics._store import SCHEMAS, MaintenanceReport, Store, utc_today
from handlers._analytics._writer import Writer, create_writer, current_writer

__all__ = [
    "SCHEMAS",
    "MaintenanceReport",
    "Store",
    "Writer",
    "create_writer",
    "current_writer",
    "dead_letter_row",
    "event_row",
    "now_micros",
    "utc_today",
]
