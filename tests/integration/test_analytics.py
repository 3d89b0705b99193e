"""The analytics writer against a real nats-server, read by other processes while it writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import duckdb
import pytest

import subjects
from handlers import ServiceError, Settings, publish, request
from handlers._analytics import Store, utc_today
from handlers._analytics._writer import INTERVAL_ENV
from handlers.analytics import dead_letters, events, queries
from schemas import create_event, events_pb2
from schemas.analytics import RETENTION_ENV, Layout, run_query
from tests.integration.helpers import running, wait_for, wait_for_async

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

ROOT = Path(__file__).parents[2]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """The store of this test: the writer finds it through JIMBOT_DATA_DIR, as deployed."""
    monkeypatch.setenv("JIMBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(INTERVAL_ENV, "0.2")
    return Layout.from_data_dir(tmp_path)


@pytest.fixture
async def writer(nc: Client, settings: Settings, layout: Layout) -> AsyncIterator[None]:
    async with running(events, dead_letters, settings=settings, nc=nc):
        yield


def hand_played(*, hands_remaining: int = 3, ts: float | None = None) -> events_pb2.Event:
    payload = events_pb2.HandPlayedEvent(hands_remaining=hands_remaining, hand_number=1)
    return create_event(payload, source="BalatroMCP", timestamp=ts)


async def put(nc: Client, names: Names, event: events_pb2.Event, **headers: str) -> None:
    subject = {
        events_pb2.GAME_STATE: subjects.GAME_STATE_UPDATE,
        events_pb2.LEARNING_DECISION: subjects.LEARNING_DECISION,
    }.get(event.type, subjects.HAND_PLAYED)
    await publish(
        nc.jetstream(),
        names.subject(subject),
        event,
        msg_id=headers.pop("msg_id", event.event_id),
        event_type=events_pb2.EventType.Name(event.type),
        headers=headers or None,
    )


async def query(layout: Layout, sql: str) -> list[dict[str, Any]]:
    result = await anyio.to_thread.run_sync(lambda: run_query(layout, sql, timeout=10))
    return list(result.table.to_pylist())


async def count(layout: Layout, where: str = "true") -> int:
    rows = await query(layout, f"SELECT count(*) AS n FROM events WHERE {where}")
    return int(rows[0]["n"])


def stored_rows(layout: Layout, table: str = "events", where: str = "true") -> int:
    """Rows in every file on disk, read without the views."""
    files = sorted(layout.table_dir(table).glob("*/*.parquet"))
    if not files:
        return 0
    with duckdb.connect() as con:
        paths = [str(f) for f in files]
        found = con.execute(
            f"SELECT count(*) FROM read_parquet(?, hive_partitioning = false) WHERE {where}",
            [paths],
        ).fetchone()
    return int(found[0]) if found else 0


async def test_events_published_while_the_writer_runs_are_queryable_within_seconds(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    sent = [hand_played(hands_remaining=i % 4) for i in range(25)]
    for event in sent:
        await put(nc, names, event)
    published = time.monotonic()
    await wait_for_async(lambda: _has(layout, len(sent)), timeout=10)
    assert time.monotonic() - published < 5
    rows = await query(
        layout, "SELECT event_id, type, subject, fields->>'hands_remaining' AS h FROM events"
    )
    assert {r["event_id"] for r in rows} == {e.event_id for e in sent}
    assert {r["type"] for r in rows} == {"HAND_PLAYED"}
    assert {r["subject"] for r in rows} == {subjects.HAND_PLAYED}
    assert {r["h"] for r in rows} == {"0", "1", "2", "3"}


async def _has(layout: Layout, n: int, where: str = "true") -> bool:
    return await count(layout, where) >= n


async def test_fresh_processes_read_while_the_writer_writes(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    stop = anyio.Event()
    sent = 0

    async def keep_publishing() -> None:
        nonlocal sent
        while not stop.is_set():
            await put(nc, names, hand_played())
            sent += 1
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_publishing)
        await wait_for_async(lambda: _has(layout, 20), timeout=10)
        before = await count(layout)
        script = (
            "import duckdb, sys\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print(con.execute('SELECT count(*) FROM events').fetchone()[0])\n"
            "print(con.execute('SELECT sum(events) FROM events_by_type_hour').fetchone()[0])\n"
        )
        catalog = await anyio.run_process(
            [sys.executable, "-c", script, str(layout.catalog)], check=False
        )
        cli = await anyio.run_process(
            [sys.executable, "-m", "ops.cli", "query", "--format", "json",
             "SELECT count(*) AS n FROM events"],
            check=False,
            cwd=ROOT,
            env={**os.environ, "JIMBOT_DATA_DIR": str(layout.root.parent)},
        )  # fmt: skip
        # The writer went on writing meanwhile.
        await wait_for_async(lambda: _has(layout, before + 20), timeout=10)
        stop.set()
    assert catalog.returncode == 0, catalog.stderr.decode()
    first, second = (int(line) for line in catalog.stdout.decode().split())
    assert first >= before and second >= before
    assert cli.returncode == 0, cli.stderr.decode()
    assert json.loads(cli.stdout)[0]["n"] >= before


# The CLI comes with the dev extras (the `duckdb-cli` wheel), next to this interpreter.
DUCKDB_CLI = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or "duckdb"


async def test_the_duckdb_cli_reads_the_catalog_while_the_writer_writes(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    for _ in range(5):
        await put(nc, names, hand_played())
    await wait_for_async(lambda: _has(layout, 5), timeout=10)
    for _ in range(5):
        await put(nc, names, hand_played())
    done = await anyio.run_process(
        [DUCKDB_CLI, str(layout.catalog), "-readonly", "-csv", "-c", "SELECT count(*) FROM events"]
    )
    assert int(done.stdout.decode().split()[-1]) >= 5


async def test_a_batch_redelivered_after_it_was_written_is_stored_once(
    nc: Client, names: Names, layout: Layout, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Store.write
    crashed: list[int] = []

    def write_then_lose_the_acks(
        self: Store, table: str, entries: list[Any], recheck: set[str]
    ) -> int:
        written = original(self, table, entries, recheck)
        if table == "events" and not crashed:
            crashed.append(written)
            raise OSError("simulated crash after the write, before the acks")
        return written

    monkeypatch.setattr(Store, "write", write_then_lose_the_acks)
    sent = [hand_played() for _ in range(10)]
    for event in sent:
        await put(nc, names, event)
    durable = names.durable(events.name)
    js = nc.jetstream()

    async def all_acked_after_redelivery() -> bool:
        info = await js.consumer_info(names.events_stream, durable)
        return (
            info.num_redelivered == 0 and info.ack_floor.stream_seq >= len(sent) and bool(crashed)
        )

    async with running(events, settings=settings, nc=nc):
        await wait_for_async(all_acked_after_redelivery, timeout=20)
    assert crashed and crashed[0] >= len(sent)  # the first write stored them, then "crashed"
    # (The runtime reports the failures as error events, which are stored too.)
    assert await count(layout, "type = 'HAND_PLAYED'") == len(sent)
    assert stored_rows(layout, where="type = 'HAND_PLAYED'") == len(sent)


async def test_a_replayed_event_is_stored_once(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    event = hand_played()
    await put(nc, names, event)
    await wait_for_async(lambda: _has(layout, 1), timeout=10)
    # A replay from the dead-letter stream is a new stream message with the same event id.
    await put(nc, names, event, msg_id=f"replay-{event.event_id}", **{subjects.REPLAY_OF: "7"})
    marker = hand_played()
    await put(nc, names, marker)
    await wait_for_async(lambda: _has(layout, 1, f"event_id = '{marker.event_id}'"), timeout=10)
    assert await count(layout, f"event_id = '{event.event_id}'") == 1
    assert stored_rows(layout, where=f"event_id = '{event.event_id}'") == 1


async def test_partitions_older_than_the_retention_disappear(
    nc: Client,
    names: Names,
    layout: Layout,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RETENTION_ENV, "30")
    today = utc_today()
    old, kept = today - timedelta(days=31), today - timedelta(days=29)
    for day in (old, kept):
        event = hand_played(ts=time.time() - (today - day).days * 86400)
        await put(nc, names, event)
    async with running(events, dead_letters, settings=settings, nc=nc):
        await wait_for(lambda: _gone(layout.day_dir("events", old)), timeout=10)
        fresh = hand_played()
        await put(nc, names, fresh)
        await wait_for_async(lambda: _has(layout, 2), timeout=10)
    assert layout.day_dir("events", kept).is_dir()
    assert layout.day_dir("events", today).is_dir()
    assert not layout.day_dir("events", old).exists()
    days = {r["day"] for r in await query(layout, "SELECT DISTINCT day FROM events")}
    assert days == {kept, today}
    assert json.loads(layout.settings_file.read_text())["retention_days"] == 30


def _gone(path: Path) -> bool:
    # The writer makes the old partition, then its maintenance drops it.
    return not path.exists() and path.parent.is_dir()


async def test_dead_letters_are_stored_and_counted(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    failed_at = dt.datetime.now(dt.UTC).replace(microsecond=123_000) - timedelta(hours=1)
    headers = {
        "Nats-Msg-Id": f"dlq:{names.events_stream}:42:{names.durable('score')}",
        subjects.DLQ_REASON: "terminated",
        subjects.DLQ_STREAM: names.events_stream,
        subjects.DLQ_SEQ: "42",
        subjects.DLQ_CONSUMER: names.durable("score"),
        subjects.DLQ_DELIVERIES: "1",
        subjects.DLQ_ERROR: "ValueError: no such card",
        subjects.DLQ_FAILED_AT: failed_at.isoformat(timespec="milliseconds"),
        subjects.DLQ_SUBJECT: names.subject(subjects.HAND_PLAYED),
        subjects.DLQ_MSG_ID: "the-event",
        "Jimbot-Event-Type": "HAND_PLAYED",
    }
    body = hand_played().SerializeToString()
    for _ in range(2):  # the mover's retry: deduplicated by the stream, stored once anyway
        await nc.jetstream().publish(
            names.dlq_subject(names.durable("score")), body, headers=headers
        )

    async def stored() -> bool:
        return bool(await query(layout, "SELECT * FROM dead_letters"))

    await wait_for_async(stored, timeout=10)
    rows = await query(
        layout, "SELECT reason, consumer, stream_seq, error, event_id, failed_at FROM dead_letters"
    )
    assert len(rows) == 1
    assert rows[0]["reason"] == "terminated"
    assert rows[0]["consumer"] == names.durable("score")
    assert rows[0]["stream_seq"] == 42
    assert rows[0]["error"] == "ValueError: no such card"
    assert rows[0]["event_id"] == "the-event"
    assert rows[0]["failed_at"] == failed_at.replace(tzinfo=None)
    [hour] = await query(layout, "SELECT * FROM dead_letters_by_hour")
    assert hour["dead_letters"] == 1


def _state(game: str, phase: str, *, defeated: bool, received_ms: int) -> events_pb2.Event:
    state = events_pb2.GameStateEvent(
        game_id=game,
        in_game=True,
        game_state=phase,
        ante=8 if phase == "GAME_OVER" else 1,
        round=24 if phase == "GAME_OVER" else 1,
        money=12,
        blind=events_pb2.Blind(name="Violet Vessel", defeated=defeated),
        frame_count=received_ms,
    )
    event = create_event(state, source="BalatroMCP", timestamp=received_ms / 1000)
    event.metadata["session"] = "s1"
    event.received_at.FromMilliseconds(received_ms)
    return event


async def test_the_games_and_decisions_views_follow_a_game(
    nc: Client, names: Names, layout: Layout, writer: None
) -> None:
    now_ms = int(time.time() * 1000)
    game = f"G{uuid.uuid4().hex[:6]}"
    start = _state(game, "SELECTING_HAND", defeated=False, received_ms=now_ms - 5000)
    decision = events_pb2.LearningDecisionResponse(
        selected_action="play_hand", confidence=0.75, strategy_name="heuristic-v1"
    )
    answer = create_event(
        decision,
        source="game_director",
        correlation_id=start.event_id,
        timestamp=(now_ms - 5000 + 25) / 1000,
    )
    end = _state(game, "GAME_OVER", defeated=True, received_ms=now_ms - 1000)
    for event in (start, answer, end):
        await put(nc, names, event)
    await wait_for_async(lambda: _has(layout, 3), timeout=10)
    [played] = await query(layout, f"SELECT * FROM games WHERE game_id = '{game}'")
    assert played["outcome"] == "won"
    assert played["session"] == "s1"
    assert played["max_ante"] == 8
    assert played["decisions"] == 1
    assert played["latency_p50_ms"] == pytest.approx(25.0, abs=1.0)
    [made] = await query(layout, "SELECT * FROM decisions")
    assert made["action"] == "play_hand"
    assert made["game_id"] == game
    assert made["strategy"] == "heuristic-v1"
    assert made["fallback"] is False
    [hour] = await query(layout, "SELECT * FROM decision_latency")
    assert hour["decisions"] == 1
    by_type = {
        r["type"]: r["events"]
        for r in await query(
            layout, "SELECT type, sum(events) AS events FROM events_by_type_hour GROUP BY type"
        )
    }
    assert by_type == {"GAME_STATE": 2, "LEARNING_DECISION": 1}


async def test_the_query_endpoint_answers_reads_and_refuses_writes(
    nc: Client, names: Names, settings: Settings, layout: Layout
) -> None:
    """``rpc.analytics.query``: what `nats req jimbot.rpc.analytics.query "SELECT ..."` gets."""
    async with running(events, dead_letters, queries, settings=settings, nc=nc):
        for _ in range(3):
            await put(nc, names, hand_played())
        await wait_for_async(lambda: _has(layout, 3), timeout=10)
        subject = names.subject(subjects.RPC_ANALYTICS_QUERY)
        answer = json.loads(
            await request(nc, subject, "SELECT count(*) AS n FROM events", bytes, timeout=10)
        )
        assert answer["columns"] == [{"name": "n", "type": "int64"}]
        assert answer["rows"] == [[3]] and answer["truncated"] is False
        with pytest.raises(ServiceError) as refused:
            await request(nc, subject, "DELETE FROM events", bytes, timeout=10)
        assert refused.value.code == "400"
        assert "read-only" in refused.value.description
