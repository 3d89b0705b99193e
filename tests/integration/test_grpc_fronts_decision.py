"""The DecisionService gRPC front against a real nats-server and the real decision endpoint."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

import anyio
import grpc
import pytest

import subjects
from bridge.grpcfronts import decision
from handlers import connect, forget_breakers
from handlers import decision as decision_service
from handlers.decision import create_endpoint
from handlers.policies import load_policy
from handlers.policies.balatro import decide
from schemas import events_pb2
from schemas import events_pb2_grpc as pb_grpc
from tests.integration.helpers import running
from tests.integration.test_decision import mod_request

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from handlers import Settings
    from subjects import Names

Request = events_pb2.LearningDecisionRequest
Response = events_pb2.LearningDecisionResponse
HERE = __name__


async def sleepy_policy(request: Request) -> Response:
    """An async policy far slower than any deadline here."""
    await anyio.sleep(3)
    return decide(request)


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    """The ``decision`` breaker is per process: each test starts closed."""
    forget_breakers()
    yield
    forget_breakers()


@pytest.fixture
async def front_nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(nats_url, name="pytest-front")
    yield client
    await client.close()


@asynccontextmanager
async def front(nc: Client, names: Names) -> AsyncIterator[grpc.aio.Channel]:
    """The DecisionService front on a free loopback port; yields a channel to it."""
    server = grpc.aio.server()
    assert decision.add(server, nc, names) == "jimbot.events.v1.DecisionService"
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(grace=None)


def stub_of(channel: grpc.aio.Channel) -> pb_grpc.DecisionServiceAsyncStub:
    return cast("pb_grpc.DecisionServiceAsyncStub", pb_grpc.DecisionServiceStub(channel))


@asynccontextmanager
async def responder(nc: Client, names: Names, answer: dict[str, str] | None) -> AsyncIterator[None]:
    """A stand-in decision service: answers every request with the given error headers, or
    never answers when ``answer`` is ``None``."""

    async def on_request(msg: Msg) -> None:
        if answer is not None:
            await nc.publish(msg.reply, b"", headers=answer)

    sub = await nc.subscribe(names.subject(subjects.RPC_DECISION_GET), cb=on_request)
    await nc.flush()
    try:
        yield
    finally:
        await sub.unsubscribe()


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_get_decision_answers_with_the_decision_service(
    nc: Client, front_nc: Client, names: Names, settings: Settings
) -> None:
    async with running(create_endpoint(decide), settings=settings, nc=nc):
        async with front(front_nc, names) as channel:
            reply = await stub_of(channel).GetDecision(mod_request(), timeout=5)
    assert reply.request_id == "req-42"
    assert reply.selected_action == "play_hand:0,2,4"
    assert reply.strategy_name == "heuristic-v1"


async def test_the_clients_deadline_travels_to_the_service(
    nc: Client, front_nc: Client, names: Names, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No time_limit_ms: only the gRPC deadline tells the service when to give its fallback."""
    # Margins of 0.25 s at the front and at the endpoint (not 10 ms) cover the NATS trips and a
    # loaded machine's scheduling. The front's default budget (5 s) exceeds the client's 1.5 s
    # deadline, so a front that dropped the deadline would let the call run out instead.
    monkeypatch.setattr(decision, "REPLY_MARGIN", 0.25)
    monkeypatch.setattr(decision, "DEFAULT_BUDGET", 5.0)
    monkeypatch.setattr(decision_service, "REPLY_MARGIN", 0.25)
    slow = create_endpoint(load_policy(f"{HERE}:sleepy_policy"), name="decision_slow")
    async with running(slow, settings=settings, nc=nc), front(front_nc, names) as channel:
        started = time.monotonic()
        reply = await stub_of(channel).GetDecision(mod_request(time_limit_ms=0), timeout=1.5)
        elapsed = time.monotonic() - started
    assert reply.strategy_name == "fallback:timeout"
    assert elapsed < 1.5


async def test_no_decision_service_is_unavailable_at_once(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as channel:
        started = time.monotonic()
        error = await rpc_error(stub_of(channel).GetDecision(mod_request(), timeout=5))
        elapsed = time.monotonic() - started
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "no decision service answers" in (error.details() or "")
    assert elapsed < 2  # at once, not after the 5 s budget


async def test_a_service_that_does_not_answer_in_time_is_deadline_exceeded(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with responder(nc, names, None), front(front_nc, names) as channel:
        started = time.monotonic()
        error = await rpc_error(stub_of(channel).GetDecision(mod_request()))
        elapsed = time.monotonic() - started
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no decision within 1000 ms" in (error.details() or "")
    assert 0.9 < elapsed < 3


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        ("400", grpc.StatusCode.INVALID_ARGUMENT, "refused the request: bad hand"),
        ("500", grpc.StatusCode.INTERNAL, "failed (500): bad hand"),
    ],
)
async def test_service_errors_map_to_grpc_statuses(
    nc: Client,
    front_nc: Client,
    names: Names,
    code: str,
    status: grpc.StatusCode,
    detail: str,
) -> None:
    headers = {"Nats-Service-Error": "bad hand", "Nats-Service-Error-Code": code}
    async with responder(nc, names, headers), front(front_nc, names) as channel:
        error = await rpc_error(stub_of(channel).GetDecision(mod_request(), timeout=5))
    assert error.code() == status
    assert detail in (error.details() or "")


async def test_five_failures_open_the_circuit_and_then_calls_fail_fast(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as channel:
        stub = stub_of(channel)
        first = [await rpc_error(stub.GetDecision(mod_request(), timeout=5)) for _ in range(5)]
        started = time.monotonic()
        refused = await rpc_error(stub.GetDecision(mod_request(), timeout=5))
        elapsed = time.monotonic() - started
    assert all("no decision service answers" in (e.details() or "") for e in first)
    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert (refused.details() or "").startswith("circuit open")
    assert elapsed < 2  # at once, not after the 5 s budget


async def test_refused_requests_do_not_open_the_circuit(
    nc: Client, front_nc: Client, names: Names
) -> None:
    headers = {"Nats-Service-Error": "bad hand", "Nats-Service-Error-Code": "400"}
    async with responder(nc, names, headers), front(front_nc, names) as channel:
        stub = stub_of(channel)
        errors = [await rpc_error(stub.GetDecision(mod_request(), timeout=5)) for _ in range(8)]
    assert {e.code() for e in errors} == {grpc.StatusCode.INVALID_ARGUMENT}


async def test_a_body_that_is_not_a_request_is_invalid_argument_and_dead_lettered(
    nc: Client, front_nc: Client, names: Names
) -> None:
    dead = await nc.jetstream().subscribe(names.dlq_ingest_subject("grpc"), ordered_consumer=True)
    async with front(front_nc, names) as channel:
        raw = channel.unary_unary("/jimbot.events.v1.DecisionService/GetDecision")
        error = await rpc_error(raw(b"\x0a\xff\xfe", timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid jimbot.events.v1.LearningDecisionRequest" in (error.details() or "")
    letter = await dead.next_msg(timeout=5)
    assert letter.data == b"\x0a\xff\xfe"
    assert (letter.headers or {})[subjects.DLQ_SUBJECT] == names.subject(subjects.RPC_DECISION_GET)
    await dead.unsubscribe()


async def test_stream_decisions_answers_every_request_in_order(
    nc: Client, front_nc: Client, names: Names, settings: Settings
) -> None:
    requests = []
    for n in range(40):
        req = mod_request()
        req.request_id = f"req-{n}"
        requests.append(req)
    async with running(create_endpoint(decide), settings=settings, nc=nc):
        async with front(front_nc, names) as channel:
            call = stub_of(channel).StreamDecisions(iter(requests), timeout=10)
            replies = [reply async for reply in call]
    assert [r.request_id for r in replies] == [f"req-{n}" for n in range(40)]
    assert {r.selected_action for r in replies} == {"play_hand:0,2,4"}


async def test_stream_decisions_ends_with_the_status_of_a_bad_request_after_the_good_ones(
    nc: Client, front_nc: Client, names: Names, settings: Settings
) -> None:
    good = mod_request().SerializeToString()
    async with running(create_endpoint(decide), settings=settings, nc=nc):
        async with front(front_nc, names) as channel:
            raw = channel.stream_stream("/jimbot.events.v1.DecisionService/StreamDecisions")
            call = raw(iter([good, good, b"\x0a\xff\xfe", good]), timeout=10)
            replies = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for reply in call:
                    replies.append(Response.FromString(cast("bytes", reply)))
    assert [r.request_id for r in replies] == ["req-42", "req-42"]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("request 3: body is not a valid")


async def test_stream_decisions_without_a_service_is_unavailable(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as channel:
        call = stub_of(channel).StreamDecisions(iter([mod_request()]), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
