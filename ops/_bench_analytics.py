"""Bench suite ``analytics``: ingest into the analytics store, and ad hoc queries over it.

- Ingest: the same realistic events (the mod's scoring burst as the gateway stores it: change
  events, SCORING, JOKER_TRIGGER and GAME_STATEs with the full deck; fresh ids) are put in a
  fresh events stream for each side. ``raw`` is a plain nats-py ``fetch(batch)`` + ``ack()``
  loop that only touches each body; ``runtime`` is ``handlers.analytics.events`` in a
  :class:`handlers.Worker`, decoding every event and writing it to day-partitioned Parquet
  before it acks. The clock stops when the server's ack floor reaches the last message; the
  analytics side is then checked to have stored every event.
- Query: a store of ``stored`` events spread over the last seven days, built from the same
  events' rows (written by the writer's ``Store`` and compacted as the writer does), queried
  through ``schemas.analytics.run_query`` as ``jimbot query`` does, each time from a fresh
  reader (views included); the median of several runs after one warm-up run.

``python -m ops._bench_analytics [--quick] [--rounds N]`` runs this suite alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import duckdb
import nats

from handlers import Settings, Worker, connect
from handlers._analytics import Store, event_row, now_micros
from handlers.analytics import events as analytics_consumer
from ops._bench_consume import (
    ConsumeFigures,
    _bounded,
    _Clock,
    _spec,
    _wait_acked,
    drop_prefix,
    fetch_and_ack,
)
from ops._bench_gateway import ModBatches
from ops._bench_report import RAW, RUNTIME, Results, Row, load_average, machine, render
from ops.natsserver import NatsServer
from schemas import JimbotError, events_pb2
from schemas.analytics import Layout, run_query
from subjects import Names, provision

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from nats.aio.client import Client

Message = tuple[str, bytes, dict[str, str]]
RAW_BATCH = 256
"""The raw loop's fetch size (larger than the runtime suite's 16: it is the faster raw)."""
QUERIES = {
    "by_type_hour": "SELECT * FROM events_by_type_hour",
    "games": "SELECT outcome, count(*) AS games, avg(max_ante) AS ante FROM games GROUP BY ALL",
    "last_day": (
        "SELECT source, type, count(*) AS events FROM events "
        "WHERE ts > now()::TIMESTAMP - INTERVAL 1 DAY GROUP BY ALL"
    ),
}
QUERY_LABELS = {
    "by_type_hour": "events by type and hour (the events_by_type_hour view)",
    "games": "games and outcomes (the games view)",
    "last_day": "events of the last day by source and type",
}
QUERY_RUNS = 5


def event_messages(names: Names, count: int) -> list[Message]:
    """``count`` events as the gateway stores them, each with its own id and the time now."""
    template = ModBatches().messages(names)
    out: list[Message] = []
    now = time.time()
    for i in range(count):
        subject, body, headers = template[i % len(template)]
        event = events_pb2.Event.FromString(body)
        event.event_id = str(uuid.uuid4())
        event.timestamp.FromNanoseconds(int(now * 1e9))
        out.append((subject, event.SerializeToString(), {**headers, "Nats-Msg-Id": event.event_id}))
    return out


async def _fill(nc: Client, names: Names, messages: list[Message]) -> None:
    js = nc.jetstream()
    await provision(js, names)
    for subject, body, headers in messages:
        await js.publish_async(subject, body, headers=headers)
    await js.publish_async_completed()


async def ingest_raw(url: str, names: Names, messages: list[Message]) -> ConsumeFigures:
    """Events per second of a plain ``fetch(batch)`` + ``ack()`` loop."""
    count = len(messages)
    nc = await nats.connect(url, name="bench-raw")
    try:
        await _fill(nc, names, messages)
        spec = _spec("raw", RAW_BATCH)
        config = spec.config(names)
        config.filter_subject = names.subject("events.>")
        return await fetch_and_ack(nc, names, spec, config, count, RAW_BATCH)
    finally:
        await nc.close()


@contextmanager
def _data_dir(path: Path) -> Iterator[None]:
    """The analytics handler reads its store's place from the environment, as deployed."""
    before = os.environ.get("JIMBOT_DATA_DIR")
    os.environ["JIMBOT_DATA_DIR"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["JIMBOT_DATA_DIR"]
        else:
            os.environ["JIMBOT_DATA_DIR"] = before


def stored_rows(layout: Layout) -> int:
    files = [str(p) for p in layout.table_dir("events").glob("*/*.parquet")]
    if not files:
        return 0
    with duckdb.connect() as con:
        found = con.execute(
            "SELECT count(DISTINCT event_id) FROM read_parquet(?, hive_partitioning = false)",
            [files],
        ).fetchone()
    return int(found[0]) if found else 0


async def ingest_analytics(
    url: str, names: Names, messages: list[Message], data_dir: Path
) -> ConsumeFigures:
    """Events per second of ``handlers.analytics.events`` writing to a fresh store."""
    count = len(messages)
    nc = await connect(url, name="bench-analytics")
    try:
        await _fill(nc, names, messages)
        settings = Settings(
            nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0
        )
        with _data_dir(data_dir):
            worker = Worker([analytics_consumer], settings=settings, nc=nc)
            async with anyio.create_task_group() as tg:
                await tg.start(worker.run)
                clock = _Clock()
                with _bounded("analytics", count):
                    await _wait_acked(nc, names, analytics_consumer.spec().durable(names), count)
                figures = clock.figures(count)
                worker.stop()
                tg.cancel_scope.cancel()
        stored = await anyio.to_thread.run_sync(stored_rows, Layout.from_data_dir(data_dir))
        if stored != count:
            raise JimbotError(f"analytics acked {count:,} events but stored {stored:,}")
        await drop_prefix(nc.jetstream(), names)
        return figures
    finally:
        await nc.close()


def build_store(data_dir: Path, total: int, *, days: int = 7) -> Layout:
    """A store of ``total`` events over the last ``days`` days, as the writer leaves it."""
    layout = Layout.from_data_dir(data_dir)
    store = Store(layout, retention=30)
    now_us = now_micros()
    templates = [
        event_row(body, subject=subject.partition(".")[2], seq=i, headers=headers, now_us=now_us)
        for i, (subject, body, headers) in enumerate(ModBatches().messages(Names("bench")))
    ]
    span_us = days * 86_400_000_000
    step = span_us // total
    chunk: list[tuple[str, int, tuple[object, ...]]] = []
    for i in range(total):
        _, _, row = templates[i % len(templates)]
        ts = now_us - span_us + i * step
        key = f"{i:08d}-{uuid.uuid4().hex[:24]}"
        new = (key, *row[1:6], ts, row[7], ts, i + 1, *row[10:])
        chunk.append((key, ts // 86_400_000_000, new))
        if len(chunk) == 50_000:
            store.write("events", chunk, set())
            chunk = []
    if chunk:
        store.write("events", chunk, set())
    store.maintain()
    return layout


def time_queries(layout: Layout, runs: int = QUERY_RUNS) -> dict[str, float]:
    """Median milliseconds per query, each run from a fresh reader, after one warm-up run."""
    out = {}
    for name, sql in QUERIES.items():
        run_query(layout, sql, timeout=120)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run_query(layout, sql, timeout=120)
            times.append((time.perf_counter() - started) * 1000)
        out[name] = statistics.median(times)
    return out


def rows(stored: int) -> list[Row]:
    out = [
        Row("analytics.msgs_per_s", "analytics ingest into Parquet, events/s", goal_min=0.8),
        Row("analytics.cpu_us", "analytics ingest, CPU µs/event"),
    ]
    for name, label in QUERY_LABELS.items():
        goal = 1000.0 if name == "by_type_hour" else None
        out.append(
            Row(
                f"analytics.query.{name}",
                f"query over {stored:,} stored events: {label}, ms",
                goal_max=goal,
                absolute=goal is not None,
            )
        )
    return out


async def measure(
    url: str, results: Results, *, events: int, stored: int, rounds: int, warmup: bool, work: Path
) -> str:
    """``rounds`` ingest rounds, sides alternating; then the query timings over ``stored``."""

    def fresh() -> Names:
        return Names(f"bencha{uuid.uuid4().hex[:10]}")

    async def one(side: str, count: int) -> ConsumeFigures:
        names = fresh()
        messages = event_messages(names, count)
        if side == RAW:
            return await ingest_raw(url, names, messages)
        with tempfile.TemporaryDirectory(dir=work) as store:
            return await ingest_analytics(url, names, messages, Path(store))

    if warmup:
        for side in (RAW, RUNTIME):
            await one(side, max(events // 10, 100))
    for index in range(rounds):
        for side in (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW):
            figures = await one(side, events)
            results.add("analytics.msgs_per_s", side, figures.msgs_per_s)
            results.add("analytics.cpu_us", side, figures.cpu_us)
    with tempfile.TemporaryDirectory(dir=work) as store:
        layout = await anyio.to_thread.run_sync(build_store, Path(store), stored)
        files = len(list(layout.table_dir("events").glob("*/*.parquet")))
        size = sum(p.stat().st_size for p in layout.table_dir("events").glob("*/*.parquet"))
        timings = await anyio.to_thread.run_sync(time_queries, layout)
    for name, ms in timings.items():
        results.add(f"analytics.query.{name}", RUNTIME, ms)
    sample = ModBatches()
    return (
        f"Analytics: {events:,} events per ingest run (the mod's {sample.size}-event scoring "
        f"burst as the gateway stores it, {sample.game_states} GAME_STATEs with the full deck "
        f"among them; fresh ids), median of {rounds} round(s); raw is fetch({RAW_BATCH}) + ack, "
        f"runtime is `handlers.analytics` writing zstd Parquet (fsync'd) before each ack. "
        f"Queries: {stored:,} events over 7 days in {files} files ({size / 1e6:.0f} MB), "
        f"through `run_query` from a fresh reader each time, median of {QUERY_RUNS} runs."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops._bench_analytics``: this suite alone, on its own nats-server."""
    parser = argparse.ArgumentParser(prog="python -m ops._bench_analytics")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.rounds, args.events, args.stored = 1, 2_000, 50_000
    results = Results(rows(args.stored))
    host = machine()
    try:
        with tempfile.TemporaryDirectory(prefix="jimbot-bench-") as work:
            server = NatsServer(store_dir=Path(work) / "nats", monitor_port=0, die_with_parent=True)
            with server:
                summary = anyio.run(
                    partial(
                        measure,
                        server.url,
                        results,
                        events=args.events,
                        stored=args.stored,
                        rounds=args.rounds,
                        warmup=not args.quick,
                        work=Path(work),
                    )
                )
    except JimbotError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    host["load_after"] = load_average()
    command = "python -m ops._bench_analytics " + " ".join(sys.argv[1:] if argv is None else argv)
    print(render(results, command=command.strip(), host=host, summary=summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
