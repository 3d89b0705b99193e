"""``POST /api/v1/query`` and ``/ws/metrics`` on a gateway over a real nats-server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect as ws_connect

import subjects
from bridge.gateway import Gateway, create_app
from handlers import publish
from handlers._analytics import Store, event_row, now_micros
from schemas import create_event, events_pb2
from schemas.analytics import Layout
from tests.integration.helpers import wait_for

if TYPE_CHECKING:
    from litestar import Litestar
    from nats.aio.client import Client

    from subjects import Names


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    monkeypatch.setenv("JIMBOT_DATA_DIR", str(tmp_path))
    layout = Layout.from_data_dir(tmp_path)
    store = Store(layout, retention=30)
    entries = []
    for i in range(30):
        payload = events_pb2.HandPlayedEvent(hands_remaining=i % 3, hand_number=i)
        body = create_event(payload, source="BalatroMCP").SerializeToString()
        entries.append(
            event_row(
                body, subject=subjects.HAND_PLAYED, seq=i + 1, headers={}, now_us=now_micros()
            )
        )
    store.write("events", entries, set())
    return layout


@pytest.fixture
async def client(nc: Client, names: Names, layout: Layout) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


async def test_a_query_returns_columns_and_rows(client: httpx.AsyncClient) -> None:
    reply = await client.post(
        "/api/v1/query",
        content="SELECT fields->>'hands_remaining' AS h, count(*) AS n FROM events "
        "GROUP BY h ORDER BY h",
        headers={"Content-Type": "text/plain"},
    )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert [c["name"] for c in answer["columns"]] == ["h", "n"]
    assert answer["rows"] == [["0", 10], ["1", 10], ["2", 10]]
    assert answer["row_count"] == 3
    assert answer["truncated"] is False


async def test_a_json_body_with_a_limit_says_when_rows_were_cut(client: httpx.AsyncClient) -> None:
    reply = await client.post(
        "/api/v1/query", json={"sql": "SELECT event_id, ts FROM events", "limit": 7}
    )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["row_count"] == 7 and answer["truncated"] is True
    assert answer["columns"][1] == {"name": "ts", "type": "timestamp[us]"}


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO events (event_id) VALUES ('x')",
        "DELETE FROM events",
        "CREATE TABLE t AS SELECT * FROM events",
        "COPY (SELECT * FROM events) TO 'out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
        "ATTACH 'other.duckdb'",
        "SET enable_external_access = true",
        "SELECT 1; DROP VIEW events",
    ],
)
async def test_a_writing_statement_is_refused(
    client: httpx.AsyncClient, layout: Layout, sql: str
) -> None:
    reply = await client.post("/api/v1/query", content=sql)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["title"] == "read-only: statement refused"
    assert problem["detail"].startswith("refused: ")
    assert not (Path.cwd() / "out.csv").exists()
    assert not list(layout.root.rglob("*.csv"))


@pytest.mark.parametrize(
    ("body", "title", "words"),
    [
        ("SELEC 1", "query failed", "syntax error"),
        ("SELECT nope FROM events", "query failed", "nope"),
        ("SELECT * FROM read_csv('/etc/passwd')", "query failed", "Permission"),
        ("", "bad query request", "no SQL"),
    ],
)
async def test_a_bad_query_gets_a_problem_naming_why(
    client: httpx.AsyncClient, body: str, title: str, words: str
) -> None:
    reply = await client.post("/api/v1/query", content=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["title"] == title
    assert words in reply.json()["detail"]


async def test_a_bad_limit_is_refused(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/v1/query", json={"sql": "SELECT 1", "limit": 0})
    assert reply.status_code == 400
    assert "limit" in reply.json()["detail"]
    reply = await client.post("/api/v1/query", json={"query": "SELECT 1"})
    assert reply.status_code == 400
    assert "sql" in reply.json()["detail"]


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await wait_for(lambda: server.started)
        try:
            yield int(server.servers[0].sockets[0].getsockname()[1])
        finally:
            server.should_exit = True


async def _frames_until(ws: Any, events: int, dead_letters: int) -> tuple[dict[str, int], int]:
    seen: dict[str, int] = {}
    dead = 0
    with anyio.fail_after(10):
        while sum(seen.values()) < events or dead < dead_letters:
            frame = json.loads(await ws.recv())
            assert frame["type"] == "counts"
            assert frame["events"] == sum(frame["by_type"].values())
            for kind, n in frame["by_type"].items():
                seen[kind] = seen.get(kind, 0) + n
            dead += frame["dead_letters"]
    return seen, dead


async def test_ws_metrics_streams_live_counts_only_while_watched(
    nc: Client, names: Names, layout: Layout
) -> None:
    app = create_app(Gateway(nc, names))
    subscriptions = len(nc._subs)
    async with serving(app) as port:
        async with ws_connect(f"ws://127.0.0.1:{port}/ws/metrics?interval=0.2") as ws:
            hello = json.loads(await ws.recv())
            assert hello == {"type": "hello", "prefix": names.prefix, "interval_s": 0.2}
            assert len(nc._subs) == subscriptions + 2
            js = nc.jetstream()
            for _ in range(3):
                event = create_event(events_pb2.HandPlayedEvent(), source="test")
                await publish(js, names.subject(subjects.HAND_PLAYED), event,
                              msg_id=event.event_id, event_type="HAND_PLAYED")  # fmt: skip
            await publish(js, names.dlq_subject("x"), b"dead", msg_id="d1")
            assert await _frames_until(ws, 3, 1) == ({"HAND_PLAYED": 3}, 1)
        await wait_for(lambda: len(nc._subs) == subscriptions)
        async with ws_connect(f"ws://127.0.0.1:{port}/ws/metrics?interval=0") as ws:
            error = json.loads(await ws.recv())
            assert error["type"] == "error" and "interval" in error["detail"]
