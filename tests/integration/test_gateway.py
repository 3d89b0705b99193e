"""The HTTP gateway against a real nats-server: every event stored or dead-lettered."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import subjects
from bridge.gateway import Gateway, create_app
from schemas import decode_event_bytes, event_to_json

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

FIXTURES = Path(__file__).parents[1] / "unit" / "schemas" / "fixtures"


@pytest.fixture
async def client(nc: Client, names: Names) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


def event(type_: str, payload: dict[str, Any] | str, event_id: str, **extra: Any) -> str:
    import json

    body = payload if isinstance(payload, str) else json.dumps(payload)
    fields = "".join(f',"{k}":{json.dumps(v)}' for k, v in extra.items())
    return (
        f'{{"type":"{type_}","source":"BalatroMCP","event_id":"{event_id}","version":1,'
        f'"timestamp":45231.7734,"payload":{body}{fields}}}'
    )


def batch(*events: str, batch_id: str = "b-1") -> bytes:
    return (
        f'{{"batch_id":"{batch_id}","source":"BalatroMCP","timestamp":1700000000000,'
        f'"events":[{",".join(events)}]}}'
    ).encode()


async def stored(nc: Client, names: Names, subject: str) -> dict[str, Any]:
    msg = await nc.jetstream().get_last_msg(names.events_stream, names.subject(subject))
    return event_to_json(decode_event_bytes(msg.data or b""))


async def test_a_realistic_batch_is_stored_with_every_value_intact(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    body = (FIXTURES / "scoring_batch.body").read_bytes()
    reply = await client.post(
        "/api/v1/events/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["dead_lettered"] == []
    assert report["stored"] == report["received"] > 0
    update = await stored(nc, names, "events.game.scoring.score_update")
    assert math.isinf(update["payload"]["new_score"])


@pytest.mark.parametrize(
    ("quirk", "payload", "check"),
    [
        ("float timestamp", '{"old_value":4,"new_value":9,"difference":5}', None),
        ("bare inf", '{"old_chips":1,"new_chips":inf,"old_mult":1,"new_mult":-inf}', "inf"),
        ("empty list as {}", '{"old_count":0,"new_count":0,"jokers":{}}', "empty"),
        ("numbers as strings in arrays", '{"counts":["1","2"],"flags":["true"]}', "strings"),
        ("key order and missing fields", '{"new_value":9}', None),
    ],
)
async def test_each_quirk_is_stored_and_reads_back_intact(
    client: httpx.AsyncClient, nc: Client, names: Names, quirk: str, payload: str, check: str | None
) -> None:
    type_ = {"inf": "SCORE_CHANGED", "empty": "JOKERS_CHANGED", "strings": "DIAGNOSTIC"}.get(
        check or "", "MONEY_CHANGED"
    )
    reply = await client.post("/api/v1/events/batch", content=batch(event(type_, payload, "q-1")))
    assert reply.status_code == 200, reply.text
    assert reply.json()["stored"] == 1, reply.text
    back = await stored(nc, names, subjects.event_subject(type_))
    assert back["timestamp"] == 45231.7734  # the mod's own clock kept
    if check == "inf":
        assert back["payload"]["new_chips"] == math.inf
        assert back["payload"]["new_mult"] == -math.inf
    elif check == "empty":
        assert back["payload"]["jokers"] == []
    elif check == "strings":
        assert back["payload"] == {"counts": ["1", "2"], "flags": ["true"]}


async def test_connection_test_is_accepted_and_kept(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    body = (FIXTURES / "connection_test.body").read_bytes()
    reply = await client.post("/api/v1/events", content=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["stored"] == 1
    back = await stored(nc, names, "events.system.connection_test")
    assert back["type"] == "connection_test"


async def test_unknown_type_is_kept_under_custom(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    reply = await client.post(
        "/api/v1/events/batch", content=batch(event("BRAND_NEW_THING", '{"x":1}', "u-1"))
    )
    assert reply.json()["stored"] == 1
    back = await stored(nc, names, "events.custom.brand_new_thing")
    assert back["type"] == "BRAND_NEW_THING"


async def test_good_events_are_stored_and_bad_ones_dead_lettered_with_the_reason(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    good = event("MONEY_CHANGED", '{"old_value":1,"new_value":2,"difference":1}', "g-1")
    bad = '{"type":42,"event_id":"b-1","payload":{}}'
    reply = await client.post("/api/v1/events/batch", content=batch(good, bad))
    assert reply.status_code == 200
    report = reply.json()
    assert report["status"] == "partial"
    assert report["stored"] == 1
    [dead] = report["dead_lettered"]
    assert dead["index"] == 1 and dead["event_id"] == "b-1" and "type" in dead["reason"]
    letter = await nc.jetstream().get_last_msg(names.dlq_stream, names.dlq_ingest_subject("http"))
    assert (letter.headers or {})[subjects.DLQ_REASON] == "ingest"
    assert b'"event_id":"b-1"' in (letter.data or b"")


async def test_a_retried_batch_stores_nothing_new_and_reports_duplicates(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    events = [
        event("HAND_PLAYED", '{"hands_remaining":3,"hand_number":1}', f"r-{i}") for i in range(5)
    ]
    first = await client.post("/api/v1/events/batch", content=batch(*events))
    again = await client.post("/api/v1/events/batch", content=batch(*events))
    assert first.json()["stored"] == 5
    assert again.json()["stored"] == 0
    assert again.json()["duplicates"] == 5
    info = await nc.jetstream().stream_info(names.events_stream)
    assert info.state.messages == 5


async def test_a_change_event_twice_in_one_batch_is_stored_once(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    change = event("MONEY_CHANGED", '{"old_value":1,"new_value":5,"difference":4}', "c-1")
    state = event("GAME_STATE", '{"in_game":false,"timestamp":1700000000,"phase":"MENU"}', "s-1")
    state = state[:-1] + f',"changes":[{change}]}}'
    reply = await client.post("/api/v1/events/batch", content=batch(change, state))
    report = reply.json()
    assert report["stored"] == 2  # the change and the state
    assert report["duplicates"] == 1  # the nested copy of the change
    info = await nc.jetstream().stream_info(names.events_stream)
    assert info.state.messages == 2


async def test_a_body_that_is_not_json_gets_a_problem_and_is_kept_raw(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    reply = await client.post("/api/v1/events/batch", content=b"\x00garbage{{")
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["status"] == 400 and reply.json()["detail"]
    letter = await nc.jetstream().get_last_msg(names.dlq_stream, names.dlq_ingest_subject("http"))
    assert letter.data == b"\x00garbage{{"


async def test_a_body_over_the_limit_gets_413(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/v1/events/batch", content=b"x" * (10 * 1024 * 1024 + 1))
    assert reply.status_code == 413


async def test_commands_are_queued_and_polled_once_as_text(client: httpx.AsyncClient) -> None:
    empty = await client.get("/api/v1/commands/poll")
    assert empty.status_code == 200 and empty.text == ""
    assert empty.headers["content-type"].startswith("text/plain")
    queued = await client.post(
        "/api/v1/commands", json={"type": "select_card", "payload": {"index": 2}}
    )
    assert queued.status_code == 202
    lines = await client.post(
        "/api/v1/commands", content=b"play_hand\n", headers={"Content-Type": "text/plain"}
    )
    assert lines.status_code == 202
    polled = await client.get("/api/v1/commands/poll")
    assert polled.text == "select_card:2\nplay_hand\n"
    assert (await client.get("/api/v1/commands/poll")).text == ""


async def test_a_bad_command_is_refused_with_the_rule(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/v1/commands", content=b"DROP TABLE;\n")
    assert reply.status_code == 400
    assert "name:params" in reply.json()["detail"]


async def test_health_and_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["status"] == "healthy"
    assert {"version", "uptime_seconds", "metadata"} <= health.keys()
    assert health["nats"]["connected"] and health["jetstream"]["reachable"]
    await client.post("/api/v1/events/batch", content=batch(event("HEARTBEAT", "{}", "h-1")))
    metrics = (await client.get("/metrics")).text
    assert 'jimbot_gateway_events_total{outcome="stored"}' in metrics
    spec = (await client.get("/schema/openapi.json")).json()
    body = spec["paths"]["/api/v1/events/batch"]["post"]["requestBody"]
    batch_ref = body["content"]["application/json"]["schema"]["$ref"]
    assert batch_ref == "#/components/schemas/ModBatch"
    events = spec["components"]["schemas"]["ModBatch"]["properties"]["events"]
    assert events["items"]["$ref"] == "#/components/schemas/ModEvent"
    one = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/ConnectionTest"} in one["schema"]["oneOf"]


async def test_history_by_time_and_type(client: httpx.AsyncClient) -> None:
    await client.post(
        "/api/v1/events/batch",
        content=batch(
            event(
                "HEARTBEAT", '{"version":"1","uptime":5.0,"headless":false,"game_state":"1"}', "h-1"
            ),
            event("MONEY_CHANGED", '{"old_value":1,"new_value":2,"difference":1}', "m-1"),
        ),
    )
    everything = (await client.get("/api/v1/events")).json()
    assert everything["count"] == 2
    money = (await client.get("/api/v1/events", params={"type": "MONEY_CHANGED"})).json()
    assert [e["event"]["event_id"] for e in money["events"]] == ["m-1"]
    future = (await client.get("/api/v1/events", params={"from": "4102444800000"})).json()
    assert future["count"] == 0
    bad = await client.get("/api/v1/events", params={"from": "yesterday"})
    assert bad.status_code == 400 and "from" in bad.json()["detail"]


@pytest.mark.parametrize("bad", ["1e400", "-1e20", "nan", "inf", "yesterday"])
async def test_history_refuses_a_time_that_is_not_one(client: httpx.AsyncClient, bad: str) -> None:
    for name in ("from", "to"):
        reply = await client.get("/api/v1/events", params={name: bad})
        assert reply.status_code == 400, reply.text
        assert name in reply.json()["detail"]
