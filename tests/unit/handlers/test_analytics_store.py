"""The analytics writer's parts: rows, the Parquet store (dedup, compaction, retention), writes."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import subjects
from handlers._analytics import Store, Writer, _store, dead_letter_row, event_row, utc_today
from schemas import create_event, events_pb2
from schemas.analytics import Layout, run_query

DAY_US = 86_400_000_000


def _event(payload: Any, ts: float | None = None) -> bytes:
    event = create_event(payload, source="BalatroMCP", timestamp=ts)
    event.metadata["session"] = "s1"
    return event.SerializeToString()


def _row(body: bytes, seq: int = 1, **headers: str) -> tuple[str, int, tuple[Any, ...]]:
    return event_row(
        body,
        subject=subjects.GAME_STATE_UPDATE,
        seq=seq,
        headers=headers,
        now_us=time.time_ns() // 1000,
    )


def _physical(layout: Layout) -> list[str]:
    files = [str(p) for p in layout.table_dir("events").glob("*/*.parquet")]
    with duckdb.connect() as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT event_id FROM read_parquet(?, hive_partitioning = false)", [files]
            ).fetchall()
        ]


def test_a_game_state_row_keeps_the_numbers_not_the_cards() -> None:
    state = events_pb2.GameStateEvent(
        game_id="ABC", ante=2, money=7, game_state="SHOP", in_game=True,
        blind=events_pb2.Blind(name="Big Blind", defeated=True),
        hand=[events_pb2.GameStateEvent.Card(suit="Hearts", rank="A")],
        shop_items={"joker_1": 6}, chips_exact=float("inf"),
    )  # fmt: skip
    key, day, row = _row(_event(state))
    fields = json.loads(row[15])
    assert fields["game_id"] == "ABC" and fields["ante"] == 2 and fields["money"] == 7
    assert fields["blind"] == {"name": "Big Blind", "defeated": True}
    assert fields["shop_items"] == {"joker_1": 6}
    assert fields["chips_exact"] is None  # JSON has no infinity
    assert "hand" not in fields
    assert row[1] == "GAME_STATE" and row[11] == "s1" and json.loads(row[14]) == {"session": "s1"}
    assert day == row[6] // DAY_US


def test_enums_are_names_and_timestamps_are_microseconds() -> None:
    error = events_pb2.ErrorEvent(severity=events_pb2.ErrorEvent.CRITICAL, message="boom")
    _, _, row = _row(_event(error))
    assert json.loads(row[15]) == {"severity": "CRITICAL", "message": "boom"}


def test_a_body_that_is_not_an_event_is_kept_with_the_reason() -> None:
    key, _, row = _row(b"\xff\xff\xff", seq=9, **{"Nats-Msg-Id": "m-1", "Jimbot-Event-Type": "X"})
    assert key == "m-1"
    assert row[1] == "X" and row[16].startswith("not a protobuf Event")
    key, _, _ = _row(b"\xff\xff\xff", seq=9)
    assert key == "seq:9"


def test_an_event_from_a_clock_far_ahead_lands_in_today() -> None:
    ahead = time.time() + 5 * 86400
    _, day, _ = _row(_event(events_pb2.HandPlayedEvent(), ts=ahead))
    assert day == int(time.time() // 86400)


def test_a_dead_letter_row_reads_the_headers() -> None:
    key, _, row = dead_letter_row(
        b'{"not": "json',
        subject="dlq.ingest.http",
        seq=3,
        headers={
            "Nats-Msg-Id": "ingest-1",
            subjects.DLQ_REASON: "ingest",
            subjects.DLQ_FAILED_AT: "2026-03-01T10:00:00.500+00:00",
            subjects.DLQ_DELIVERIES: "not a number",
        },
        now_us=0,
    )
    assert key == "ingest-1"
    assert row[3] == "ingest" and row[7] is None and row[14] == '{"not": "json'


def test_a_batch_drops_its_own_duplicates_and_what_is_already_stored(tmp_path: Path) -> None:
    store = Store(Layout.from_data_dir(tmp_path), retention=30)
    a, b, c = (_row(_event(events_pb2.HandPlayedEvent(hand_number=i))) for i in range(3))
    assert store.write("events", [a, b, a], set()) == 2
    # Redelivered: a and b were written before the crash; only c is new.
    assert store.write("events", [a, b, c], {a[0], b[0], c[0]}) == 1
    assert sorted(_physical(store.layout)) == sorted([a[0], b[0], c[0]])
    assert store.layout.catalog.exists()


def test_compaction_merges_a_day_into_one_file_with_one_row_per_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout.from_data_dir(tmp_path)
    store = Store(layout, retention=30)
    rows = [_row(_event(events_pb2.HandPlayedEvent(hand_number=i))) for i in range(6)]
    for row in rows:
        store.write("events", [row], set())
    store.write("events", rows[:2], set())  # the rare race: stored twice
    assert len(_physical(layout)) == 8
    monkeypatch.setattr(_store, "MAX_BATCH_AGE", 0.0)
    report = store.maintain()
    assert report is not None and report.merged_files == 7 and report.written_files == 1
    [day_dir] = [path for _, path in layout.days("events")]
    assert [p.name[:2] for p in day_dir.glob("*.parquet")] == ["c-"]
    assert sorted(_physical(layout)) == sorted(r[0] for r in rows)
    # Later batches are merged against the merged file: still one row per id.
    store.write("events", rows[2:4], set())
    store.maintain()
    assert sorted(_physical(layout)) == sorted(r[0] for r in rows)
    assert run_query(layout, "SELECT count(*) AS n FROM events").table.to_pylist() == [{"n": 6}]


def test_fresh_batch_files_wait_for_compaction(tmp_path: Path) -> None:
    store = Store(Layout.from_data_dir(tmp_path), retention=30)
    for i in range(3):
        store.write("events", [_row(_event(events_pb2.HandPlayedEvent(hand_number=i)))], set())
    report = store.maintain()
    assert report is not None and report.merged_files == 0


def test_retention_drops_whole_days_older_than_it(tmp_path: Path) -> None:
    layout = Layout.from_data_dir(tmp_path)
    store = Store(layout, retention=30)
    today = utc_today()
    for days_ago in (0, 30, 31, 400):
        ts = time.time() - days_ago * 86400
        store.write("events", [_row(_event(events_pb2.HandPlayedEvent(), ts=ts))], set())
    stale = layout.day_dir("events", today) / ".b-x.parquet.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    report = store.maintain()
    assert report is not None and report.dropped_days == 2 and report.removed_temp == 1
    assert [d for d, _ in layout.days("events")] == [today - timedelta(days=30), today]


def test_a_second_process_does_not_maintain_at_the_same_time(tmp_path: Path) -> None:
    store = Store(Layout.from_data_dir(tmp_path), retention=30)
    store.layout.root.mkdir(parents=True)
    with _store._exclusive(store.layout.root / ".maintenance.lock") as mine:
        assert mine
        assert store.maintain() is None


async def test_the_writer_writes_a_batch_and_rechecks_what_it_is_told(tmp_path: Path) -> None:
    store = Store(Layout.from_data_dir(tmp_path), retention=30)
    writer = Writer(store, interval=3600)
    rows = [_row(_event(events_pb2.HandPlayedEvent(hand_number=1)))]
    await writer.write("events", rows, set())
    # Redelivered: looked up first, so not stored twice.
    await writer.write("events", rows, {rows[0][0]})
    assert _physical(store.layout) == [rows[0][0]]


async def test_the_writer_refuses_an_unknown_table(tmp_path: Path) -> None:
    writer = Writer(Store(Layout.from_data_dir(tmp_path), retention=30), interval=3600)
    with pytest.raises(ValueError, match="unknown analytics table"):
        await writer.write("nope", [], set())
