"""The strategy advisor over a real nats-server with the offline strategist: the work queue,
the request-reply endpoint and its cache, the REST routes and the gRPC front."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import grpc
import httpx
import pytest

import subjects
from bridge.gateway import Gateway, create_app
from bridge.grpcfronts import strategy as strategy_front
from handlers import forget_breakers, request
from handlers._strategy import StrategyConfig, create_advisor, offline_advise
from handlers.dlq_mover import handler as dlq_mover
from handlers.policies.balatro import decide
from handlers.strategy_advisor import create_handlers
from schemas import create_event, decode_event_bytes, events_pb2, events_pb2_grpc, unpack_payload
from tests.integration.helpers import running, wait_for, wait_for_async
from tests.unit.handlers.policies.states import request as decision_request

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from handlers import Settings
    from subjects import Names

CONFIG = StrategyConfig(provider="offline")


def strategy_request(
    hand: str = "Ah Ad Kc 7s 2h 9d Qs 4c", *, question: str = "", **state: object
) -> events_pb2.StrategyRequest:
    """A StrategyRequest around the decision tests' compact game states."""
    base = decision_request(hand, **state)  # type: ignore[arg-type]
    out = events_pb2.StrategyRequest(request_id="s-1", question=question)
    out.game_state.CopyFrom(base.game_state)
    out.available_actions.extend(base.available_actions)
    return out


@pytest.fixture(autouse=True)
def _fresh_breakers() -> None:
    forget_breakers()


async def collect(nc: Client, names: Names, subject: str) -> tuple[list[Msg], Subscription]:
    got: list[Msg] = []

    async def keep(msg: Msg) -> None:
        got.append(msg)

    sub = await nc.subscribe(names.subject(subject), cb=keep)
    return got, sub


async def test_a_queued_request_is_answered_with_a_correlated_response_event(
    nc: Client, names: Names, settings: Settings
) -> None:
    advisor = create_advisor(CONFIG)
    queue, _ = create_handlers(advisor, CONFIG)
    got, sub = await collect(nc, names, subjects.STRATEGY_RESPONSE)
    req = strategy_request(blind=300, money=12, question="play or discard?")
    event = create_event(req, source="test")
    async with running(queue, settings=settings, nc=nc):
        await nc.jetstream().publish(
            names.subject(subjects.STRATEGY_REQUEST),
            event.SerializeToString(),
            headers={"Nats-Msg-Id": event.event_id},
        )
        await wait_for(lambda: got)
    await sub.unsubscribe()
    answer = decode_event_bytes(got[0].data)
    response = unpack_payload(answer)
    assert isinstance(response, events_pb2.StrategyResponse)
    assert answer.type == events_pb2.STRATEGY_RESPONSE
    assert answer.correlation_id == event.event_id
    assert (got[0].headers or {})["Nats-Msg-Id"] == f"strategy:{event.event_id}"
    assert response.request_id == "s-1"
    assert response.strategy_name == "offline-v1"
    assert response.model == "offline:rules"
    # The advice is the decision heuristic's move, with the numbers behind it.
    heuristic = decide(decision_request("Ah Ad Kc 7s 2h 9d Qs 4c", blind=300, money=12))
    assert response.recommended_action == heuristic.selected_action
    assert "300" in response.reasoning and "$12" in response.reasoning
    assert response.extra["plan"] == "dig"


async def test_a_request_older_than_its_timeout_gets_the_offline_answer_marked_stale(
    nc: Client, names: Names, settings: Settings
) -> None:
    queue, _ = create_handlers(create_advisor(CONFIG), CONFIG)
    got, sub = await collect(nc, names, subjects.STRATEGY_RESPONSE)
    fresh = create_event(strategy_request(), source="test")
    stale = create_event(strategy_request(), source="test", timestamp=time.time() - 12)
    async with running(queue, settings=settings, nc=nc):
        for event in (stale, fresh):
            await nc.jetstream().publish(
                names.subject(subjects.STRATEGY_REQUEST), event.SerializeToString()
            )
        await wait_for(lambda: len(got) == 2)
    await sub.unsubscribe()
    answers = {
        e.correlation_id: unpack_payload(e) for e in map(decode_event_bytes, (m.data for m in got))
    }
    late, on_time = answers[stale.event_id], answers[fresh.event_id]
    assert isinstance(late, events_pb2.StrategyResponse)
    assert isinstance(on_time, events_pb2.StrategyResponse)
    assert late.strategy_name == "fallback:stale"
    assert late.extra["fallback"] == "stale"
    assert late.extra.fields["age_seconds"].number_value >= 12
    assert late.recommended_action == on_time.recommended_action
    assert on_time.strategy_name == "offline-v1"


async def test_an_event_that_is_not_a_strategy_request_is_dead_lettered(
    nc: Client, names: Names, settings: Settings
) -> None:
    queue, _ = create_handlers(create_advisor(CONFIG), CONFIG)
    wrong = create_event(events_pb2.HandPlayedEvent(hands_remaining=2), source="test")
    js = nc.jetstream()
    async with running(queue, dlq_mover, settings=settings, nc=nc):
        await js.publish(names.subject(subjects.STRATEGY_REQUEST), wrong.SerializeToString())
        await js.publish(names.subject(subjects.STRATEGY_REQUEST), b"\x08\xff\xff not protobuf")

        async def two_letters() -> bool:
            return (await js.stream_info(names.dlq_stream)).state.messages >= 2

        await wait_for_async(two_letters, timeout=15)
    # The queue handles both at once, so the letters may land in either order.
    state = (await js.stream_info(names.dlq_stream)).state
    letters = [await js.get_msg(names.dlq_stream, seq) for seq in (state.first_seq, state.last_seq)]
    errors = sorted(
        (letter.headers or {})[subjects.DLQ_ERROR]
        for letter in letters
        if (letter.headers or {}).get(subjects.DLQ_CONSUMER) == names.durable("strategy_queue")
    )
    assert len(errors) == 2
    assert errors[0].startswith("body is not a valid jimbot.events.v1.Event protobuf")
    assert "not a strategy request" in errors[1]
    assert "HAND_PLAYED" in errors[1]


async def test_the_endpoint_answers_and_then_serves_the_same_question_from_cache(
    nc: Client, names: Names, settings: Settings
) -> None:
    _, endpoint = create_handlers(create_advisor(CONFIG), CONFIG)
    subject = names.subject(subjects.RPC_STRATEGY_REQUEST)
    req = strategy_request(phase="SHOP", money=14, jokers=["Joker", "Greedy Joker"],
                           shop={"joker_1": ("Jolly Joker", 5)})  # fmt: skip
    async with running(endpoint, settings=settings, nc=nc):
        first = await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)
        again = events_pb2.StrategyRequest()
        again.CopyFrom(req)
        again.request_id = "s-2"
        again.game_state.timestamp = 1234.5  # a clock, not a change of state
        second = await request(nc, subject, again, events_pb2.StrategyResponse, timeout=5)
        req.question = "should I save for interest?"
        third = await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)
    assert first.recommended_action == "buy_joker:1" and not first.cached
    assert "Jolly Joker" in first.reasoning
    assert second.cached and second.request_id == "s-2"
    assert second.recommended_action == first.recommended_action
    assert second.reasoning == first.reasoning
    assert not third.cached  # another question is another answer


@pytest.fixture
async def client(nc: Client, names: Names) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


async def test_the_cache_route_lists_cached_strategies_with_their_age(
    client: httpx.AsyncClient, nc: Client, names: Names, settings: Settings
) -> None:
    empty = await client.get("/api/v1/strategies/cache")
    assert empty.status_code == 200 and empty.json() == {"entries": [], "count": 0}
    _, endpoint = create_handlers(create_advisor(CONFIG), CONFIG)
    subject = names.subject(subjects.RPC_STRATEGY_REQUEST)
    async with running(endpoint, settings=settings, nc=nc):
        for money in (4, 30):
            req = strategy_request(money=money, question="what now?")
            await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)
            await anyio.sleep(0.05)
    reply = await client.get("/api/v1/strategies/cache")
    assert reply.status_code == 200
    body = reply.json()
    assert body["count"] == 2
    newest, oldest = body["entries"]
    assert newest["age_seconds"] <= oldest["age_seconds"] < 60
    assert 0 < newest["expires_in_seconds"] <= 3600
    assert newest["provider"] == "offline-v1" and newest["phase"] == "SELECTING_HAND"
    assert newest["question"] == "what now?"
    assert newest["strategy"]["strategy_name"] == "offline-v1"
    assert "$30" in newest["strategy"]["reasoning"]
    assert len(newest["key"]) == 40
    limited = await client.get("/api/v1/strategies/cache", params={"limit": 1})
    assert limited.json()["count"] == 1


async def test_rate_limits_are_read_and_changed_through_rest(
    client: httpx.AsyncClient, nc: Client, names: Names
) -> None:
    defaults = (await client.get("/api/v1/config/rate_limits")).json()
    assert defaults == {
        "limits": {"capacity": 100, "refill_per_hour": 100.0, "burst_capacity": 10,
                   "burst_refill_per_minute": 10.0},
        "tokens": None,
    }  # fmt: skip
    changed = await client.put("/api/v1/config/rate_limits", json={"capacity": 20})
    assert changed.status_code == 200
    assert changed.json()["limits"]["capacity"] == 20
    spec_shape = {"strategy": "token_bucket", "refill_rate": "50/hour", "burst_capacity": 5}
    again = await client.put("/api/v1/config/rate_limits", json=spec_shape)
    assert again.json()["limits"] == {
        "capacity": 20, "refill_per_hour": 50.0, "burst_capacity": 5,
        "burst_refill_per_minute": 10.0,
    }  # fmt: skip
    # Stored in KV, where every copy of the advisor reads it.
    kv = await nc.jetstream().key_value(names.bucket(subjects.LIMITS_BUCKET))
    stored = json.loads((await kv.get(subjects.LIMITS_CONFIG_KEY)).value or b"")
    assert stored["capacity"] == 20 and stored["burst_capacity"] == 5


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"capacity": 10, "speed": 3}', "unknown field 'speed'"),
        (b'{"capacity": "lots"}', "capacity must be an integer"),
        (b'{"capacity": 2.5}', "capacity must be an integer"),
        (b'{"capacity": -1}', "capacity must be an integer from 0"),
        (b'{"refill_per_hour": -5}', "refill_per_hour must be a finite number >= 0"),
        (b'{"refill_rate": "fast"}', "like '100/hour'"),
        (
            b'{"capacity": 5, "burst_capacity": 10}',
            "burst_capacity (10) cannot exceed capacity (5)",
        ),
        (b'{"strategy": "leaky_bucket"}', "only 'token_bucket'"),
        (b"", "JSON object"),
    ],
)
async def test_bad_rate_limits_get_a_400_problem_naming_the_rule(
    client: httpx.AsyncClient, body: bytes, detail: str
) -> None:
    reply = await client.put("/api/v1/config/rate_limits", content=body)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["status"] == 400 and problem["title"] == "bad rate limits"
    assert detail in problem["detail"]
    # Nothing was stored.
    assert (await client.get("/api/v1/config/rate_limits")).json()["limits"]["capacity"] == 100


@pytest.fixture
async def grpc_port(nc: Client, names: Names) -> AsyncIterator[int]:
    server = grpc.aio.server()
    assert strategy_front.add(server, nc, names) == "jimbot.events.v1.StrategyAdvisor"
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(grace=None)


async def test_the_grpc_front_relays_request_strategy(
    grpc_port: int, nc: Client, settings: Settings
) -> None:
    _, endpoint = create_handlers(create_advisor(CONFIG), CONFIG)
    req = strategy_request(blind=50, money=26)
    async with running(endpoint, settings=settings, nc=nc):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = events_pb2_grpc.StrategyAdvisorStub(channel)
            first = await stub.RequestStrategy(req, timeout=5)
            second = await stub.RequestStrategy(req, timeout=5)
    assert first.recommended_action == offline_advise(req).recommended_action
    assert first.recommended_action.startswith("play_hand:")
    assert not first.cached and second.cached


async def test_the_grpc_front_says_how_to_start_a_missing_advisor(grpc_port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = events_pb2_grpc.StrategyAdvisorStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RequestStrategy(strategy_request(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "jimbot run strategy_advisor" in (caught.value.details() or "")
