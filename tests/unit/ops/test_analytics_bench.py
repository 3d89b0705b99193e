"""The analytics bench's query half at a small size: the store it builds reads back whole."""

from __future__ import annotations

from pathlib import Path

from ops._bench_analytics import QUERIES, build_store, rows, time_queries
from schemas.analytics import run_query


def test_the_bench_store_holds_every_event_and_the_queries_run(tmp_path: Path) -> None:
    layout = build_store(tmp_path, 5_000)
    counted = run_query(layout, "SELECT count(DISTINCT event_id) AS n FROM events")
    assert counted.table.to_pylist() == [{"n": 5_000}]
    timings = time_queries(layout, runs=1)
    assert set(timings) == set(QUERIES) and all(ms > 0 for ms in timings.values())
    assert {row.key for row in rows(5_000)} >= {f"analytics.query.{name}" for name in QUERIES}
