"""The EventBus gRPC front against a real nats-server: publish, dead letters, subscriptions."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

import anyio
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import subjects
from bridge.grpcfronts import eventbus
from handlers import connect
from schemas import create_event, decode_event_bytes, events_pb2
from schemas import events_pb2_grpc as pb_grpc
from tests.integration.helpers import wait_for_async

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

Event = events_pb2.Event
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


SMALL_WINDOW: list[tuple[str, object]] = [
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 65536),
]
"""Client options that keep HTTP/2 flow control at 64 KiB, so a reader that does not read
holds the writer back at once (by default gRPC grows the window to megabytes)."""


@asynccontextmanager
async def front(
    nc: Client, names: Names, options: list[tuple[str, object]] | None = None
) -> AsyncIterator[pb_grpc.EventBusAsyncStub]:
    """The EventBus front on a free loopback port, served over ``nc``."""
    server = grpc.aio.server()
    assert eventbus.add(server, nc, names) == "jimbot.events.v1.EventBus"
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            yield cast("pb_grpc.EventBusAsyncStub", pb_grpc.EventBusStub(channel))
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def front_nc(nats_url: str) -> AsyncIterator[Client]:
    """The front's own connection, so a test can count its subscriptions."""
    client = await connect(nats_url, name="pytest-front")
    yield client
    await client.close()


def money(n: int, *, event_id: str | None = None) -> Event:
    return create_event(
        events_pb2.MoneyChangedEvent(old_value=n, new_value=n + 1, difference=1),
        source="test",
        event_id=event_id or f"money-{n}",
    )


def heartbeat(n: int) -> Event:
    return create_event(events_pb2.HeartbeatEvent(status=f"beat {n}"), source="test")


async def take(call: grpc.aio.UnaryStreamCall[object, Event], count: int) -> list[Event]:
    """The next ``count`` events of a subscription, within a bound."""
    out: list[Event] = []
    with anyio.fail_after(15):
        while len(out) < count:
            out.append(cast("Event", await call.read()))
    return out


async def consumers(nc: Client, names: Names) -> list[str]:
    info = await nc.jetstream().consumers_info(names.events_stream)
    return [c.name for c in info]


async def test_publish_stores_the_event_on_its_subject_with_the_id_as_msg_id(
    nc: Client, front_nc: Client, names: Names
) -> None:
    event = money(1)
    async with front(front_nc, names) as stub:
        reply = await stub.PublishEvent(event, metadata=(("traceparent", TRACEPARENT),))
    subject = names.subject(subjects.MONEY_CHANGED)
    assert (reply.event_id, reply.stored, reply.duplicate) == ("money-1", True, False)
    assert reply.subject == subject and reply.stream_sequence >= 1
    msg = await nc.jetstream().get_msg(names.events_stream, reply.stream_sequence)
    headers = msg.headers or {}
    assert headers["Nats-Msg-Id"] == "money-1"
    assert headers["Jimbot-Event-Type"] == "MONEY_CHANGED"
    assert headers["Jimbot-Source"] == "test"
    assert headers["traceparent"] == TRACEPARENT
    stored = decode_event_bytes(msg.data or b"")
    assert stored.payload == event.payload
    assert stored.HasField("received_at") and stored.version == 1


async def test_a_retry_with_the_same_id_is_a_duplicate_of_the_first(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        first = await stub.PublishEvent(money(7))
        again = await stub.PublishEvent(money(7))
    assert (first.stored, first.duplicate) == (True, False)
    assert (again.stored, again.duplicate) == (False, True)
    assert again.stream_sequence == first.stream_sequence


async def test_defaults_are_filled_and_parametric_types_route_by_detail(
    nc: Client, front_nc: Client, names: Names
) -> None:
    bare = Event(event_id="e-metric", type=events_pb2.METRIC)
    bare.payload.Pack(events_pb2.MetricEvent(name="Hands Per Minute", value=3.0))
    custom = Event(event_id="e-custom", type=events_pb2.CUSTOM, type_name="Shop Reroll")
    async with front(front_nc, names) as stub:
        metric = await stub.PublishEvent(bare)
        other = await stub.PublishEvent(custom)
    assert metric.subject == names.subject("events.metrics.hands_per_minute")
    assert other.subject == names.subject("events.custom.shop_reroll")
    msg = await nc.jetstream().get_msg(names.events_stream, metric.stream_sequence)
    stored = decode_event_bytes(msg.data or b"")
    assert (stored.source, stored.version) == ("unknown", 1)
    assert stored.timestamp == stored.received_at


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        (Event(type=events_pb2.HEARTBEAT), "event_id is empty"),
        (Event(event_id="has space", type=events_pb2.HEARTBEAT), "event_id contains U+0020"),
        (Event(event_id="x", type=cast("events_pb2.EventType.ValueType", 99)), "not a known"),
        (
            Event(
                event_id="x",
                type=events_pb2.MONEY_CHANGED,
                payload=create_event(events_pb2.HandPlayedEvent(), source="t").payload,
            ),
            "carries jimbot.events.v1.MoneyChangedEvent",
        ),
    ],
    ids=["no-id", "space-in-id", "unknown-type", "payload-of-another-type"],
)
async def test_a_bad_event_is_invalid_argument_and_kept_raw_in_the_dead_letters(
    nc: Client, front_nc: Client, names: Names, event: Event, detail: str
) -> None:
    dead = await nc.jetstream().subscribe(names.dlq_ingest_subject("grpc"), ordered_consumer=True)
    async with front(front_nc, names) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PublishEvent(event)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in (caught.value.details() or "")
    letter = await dead.next_msg(timeout=5)
    assert letter.data == event.SerializeToString()
    headers = letter.headers or {}
    assert headers[subjects.DLQ_REASON] == "ingest"
    assert detail in headers[subjects.DLQ_ERROR]
    assert headers["Jimbot-Grpc-Method"] == "/jimbot.events.v1.EventBus/PublishEvent"
    await dead.unsubscribe()


async def test_a_body_that_is_not_an_event_is_invalid_argument_and_dead_lettered(
    nc: Client, front_nc: Client, names: Names
) -> None:
    garbage = b"\xff\xff\xff not protobuf"
    dead = await nc.jetstream().subscribe(names.dlq_ingest_subject("grpc"), ordered_consumer=True)
    server = grpc.aio.server()
    eventbus.add(server, front_nc, names)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary("/jimbot.events.v1.EventBus/PublishEvent")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await raw(garbage)
    finally:
        await server.stop(grace=None)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid jimbot.events.v1.Event" in (caught.value.details() or "")
    letter = await dead.next_msg(timeout=5)
    assert letter.data == garbage
    expected_id = hashlib.sha256(b"/jimbot.events.v1.EventBus/PublishEvent\0" + garbage)
    assert (letter.headers or {})["Nats-Msg-Id"] == f"grpc:{expected_id.hexdigest()[:32]}"
    await dead.unsubscribe()


async def test_publish_with_nats_down_is_unavailable_at_once(nats_url: str, names: Names) -> None:
    client = await connect(nats_url, name="pytest-closed")
    await client.close()
    async with front(client, names) as stub:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PublishEvent(money(1), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "not connected" in (caught.value.details() or "")
    assert time.monotonic() - started < 2  # at once, not after the 5 s deadline


async def test_subscribe_streams_200_published_events_in_order(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        await wait_for_async(lambda: _has_consumer(nc, names))
        for n in range(200):
            await stub.PublishEvent(money(n))
        got = await take(call, 200)
        call.cancel()
    assert [e.event_id for e in got] == [f"money-{n}" for n in range(200)]


async def test_subscribe_filters_by_type_and_by_relative_subject(
    nc: Client, front_nc: Client, names: Names
) -> None:
    scoring = create_event(events_pb2.ScoringHandEvalStart(), source="test", event_id="score-1")
    async with front(front_nc, names) as stub:
        by_type = stub.SubscribeEvents(
            events_pb2.SubscribeRequest(types=[events_pb2.HEARTBEAT, events_pb2.SCORING])
        )
        by_subject = stub.SubscribeEvents(events_pb2.SubscribeRequest(subjects=["events.game.>"]))
        await wait_for_async(lambda: _has_consumer(nc, names, 2))
        for event in (money(1), heartbeat(1), scoring, money(2)):
            await stub.PublishEvent(event)
        typed = await take(by_type, 2)
        under_game = await take(by_subject, 3)
        by_type.cancel()
        by_subject.cancel()
    assert [e.type for e in typed] == [events_pb2.HEARTBEAT, events_pb2.SCORING]
    assert [e.event_id for e in under_game] == ["money-1", "score-1", "money-2"]


async def test_overlapping_filters_are_merged_instead_of_refused(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(
            events_pb2.SubscribeRequest(
                types=[events_pb2.MONEY_CHANGED], subjects=["events.game.>", "events.game.>"]
            )
        )
        await wait_for_async(lambda: _has_consumer(nc, names))
        await stub.PublishEvent(money(5))
        [event] = await take(call, 1)
        call.cancel()
    assert event.event_id == "money-5"


@pytest.mark.parametrize(
    ("request_", "detail"),
    [
        (events_pb2.SubscribeRequest(subjects=["commands.>"]), "is not under events."),
        (events_pb2.SubscribeRequest(subjects=["events.a b"]), "invalid token"),
        (events_pb2.SubscribeRequest(subjects=["events.>.x"]), "invalid token"),
        (events_pb2.SubscribeRequest(durable="no.dots"), "durable 'no.dots'"),
        (
            events_pb2.SubscribeRequest(types=[cast("events_pb2.EventType.ValueType", 77)]),
            "77 is not a known EventType",
        ),
    ],
    ids=["foreign-subject", "space", "inner-gt", "durable-name", "unknown-type"],
)
async def test_a_bad_subscribe_request_is_invalid_argument(
    nc: Client, front_nc: Client, names: Names, request_: events_pb2.SubscribeRequest, detail: str
) -> None:
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(request_)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in (caught.value.details() or "")


async def test_subscribe_from_a_start_time_gets_only_events_stored_after_it(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        for n in range(5):
            await stub.PublishEvent(money(n))
        await anyio.sleep(0.05)
        start = Timestamp()
        start.GetCurrentTime()
        await anyio.sleep(0.05)
        for n in range(5, 10):
            await stub.PublishEvent(money(n))
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest(start_time=start))
        got = await take(call, 5)
        await stub.PublishEvent(money(10))
        [live] = await take(call, 1)
        call.cancel()
    assert [e.event_id for e in got] == [f"money-{n}" for n in range(5, 10)]
    assert live.event_id == "money-10"


async def test_without_a_start_time_only_new_events_come(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        await stub.PublishEvent(money(1))
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        await wait_for_async(lambda: _has_consumer(nc, names))
        await stub.PublishEvent(money(2))
        [event] = await take(call, 1)
        call.cancel()
    assert event.event_id == "money-2"


async def test_a_durable_subscription_resumes_where_it_left_off(
    nc: Client, front_nc: Client, names: Names
) -> None:
    epoch = Timestamp(seconds=1)
    request = events_pb2.SubscribeRequest(durable="analytics", start_time=epoch)
    async with front(front_nc, names) as stub:
        for n in range(10):
            await stub.PublishEvent(money(n))
        first = stub.SubscribeEvents(request)
        got = await take(first, 10)
        first.cancel()
        for n in range(10, 15):
            await stub.PublishEvent(money(n))
        second = stub.SubscribeEvents(request)
        resumed = await take(second, 5)
        second.cancel()
        other = stub.SubscribeEvents(
            events_pb2.SubscribeRequest(durable="analytics", subjects=["events.game.>"])
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await other.read()
    assert [e.event_id for e in got] == [f"money-{n}" for n in range(10)]
    assert [e.event_id for e in resumed] == [f"money-{n}" for n in range(10, 15)]
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"{names.prefix}_grpc_analytics" in await consumers(nc, names)


async def test_a_durable_gives_back_what_it_took_but_did_not_write(
    nc: Client, front_nc: Client, names: Names
) -> None:
    """Events pulled ahead of a client that cancels come first, in order, on resume."""
    request = events_pb2.SubscribeRequest(durable="slow", start_time=Timestamp(seconds=1))
    big = "x" * 60_000  # one of these fills the HTTP/2 window, so most stay unwritten
    async with front(front_nc, names, SMALL_WINDOW) as stub:
        for n in range(40):
            event = money(n)
            event.metadata["pad"] = big
            await stub.PublishEvent(event)
        first = stub.SubscribeEvents(request)
        got = await take(first, 2)
        first.cancel()
        second = stub.SubscribeEvents(request)
        (resumed,) = await take(second, 1)  # well within the 30 s ack wait: given back
        start = int(resumed.event_id.removeprefix("money-"))
        rest = await take(second, 39 - start)
        second.cancel()
    assert [e.event_id for e in got] == ["money-0", "money-1"]
    # The event being written at the cancel comes again (given back); those whose write had
    # completed into the HTTP/2 window and the sockets' buffers (room for a few of these)
    # count as delivered, as documented: resume picks up right after them, never later, and
    # nothing after it is skipped.
    assert 1 <= start <= 10
    assert [e.event_id for e in rest] == [f"money-{n}" for n in range(start + 1, 40)]


async def test_cancel_deletes_the_consumer_and_leaves_no_subscription(
    nc: Client, front_nc: Client, names: Names
) -> None:
    await front_nc.jetstream().account_info()  # makes the connection's request inbox first
    baseline = len(front_nc._subs)
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest(types=[events_pb2.HEARTBEAT]))
        await wait_for_async(lambda: _has_consumer(nc, names))
        await stub.PublishEvent(heartbeat(1))
        await take(call, 1)
        assert len(front_nc._subs) > baseline
        call.cancel()
        await wait_for_async(lambda: _has_consumer(nc, names, 0))
        await wait_for_async(lambda: _subs_back(front_nc, baseline))
        assert call.cancelled()


async def test_a_slow_reader_holds_back_the_consumer_not_the_memory(
    nc: Client, front_nc: Client, names: Names
) -> None:
    """Nothing is read: the front pulls at most its window, the rest stays in the stream."""
    async with front(front_nc, names, SMALL_WINDOW) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        await wait_for_async(lambda: _has_consumer(nc, names))
        payload = "y" * 20_000
        for n in range(300):
            event = money(n)
            event.metadata["pad"] = payload
            await stub.PublishEvent(event)
        await anyio.sleep(1.0)
        [name] = await consumers(nc, names)
        info = await nc.jetstream().consumer_info(names.events_stream, name)
        got = await take(call, 300)
        call.cancel()
    assert info.num_pending is not None and info.num_pending > 200
    assert [e.event_id for e in got] == [f"money-{n}" for n in range(300)]


async def test_the_trace_context_of_a_stored_event_travels_in_its_metadata(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        await wait_for_async(lambda: _has_consumer(nc, names))
        await stub.PublishEvent(money(1), metadata=(("traceparent", TRACEPARENT),))
        [event] = await take(call, 1)
        call.cancel()
    assert event.metadata["traceparent"] == TRACEPARENT


async def test_subscribe_with_nats_down_is_unavailable(nats_url: str, names: Names) -> None:
    client = await connect(nats_url, name="pytest-closed")
    await client.close()
    async with front(client, names) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_deleted_consumer_ends_the_stream_as_unavailable(
    nc: Client, front_nc: Client, names: Names
) -> None:
    async with front(front_nc, names) as stub:
        call = stub.SubscribeEvents(events_pb2.SubscribeRequest())
        await wait_for_async(lambda: _has_consumer(nc, names))
        [name] = await consumers(nc, names)
        await nc.jetstream().delete_consumer(names.events_stream, name)
        with anyio.fail_after(15), pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no longer exists" in (caught.value.details() or "")


async def _has_consumer(nc: Client, names: Names, count: int = 1) -> bool:
    return len(await consumers(nc, names)) == count


async def _subs_back(nc: Client, baseline: int) -> bool:
    return len(nc._subs) == baseline


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        (["events.>", "events.game.>"], ["events.>"]),
        (["events.game.scoring.*", "events.game.>"], ["events.game.>"]),
        (["events.game.*", "events.game.x.y"], ["events.game.*", "events.game.x.y"]),
        (["events.a", "events.a", "events.*"], ["events.*"]),
        (["events.*.b", "events.a.*"], ["events.*.b", "events.a.*"]),
    ],
)
def test_filters_another_one_covers_are_dropped(filters: list[str], kept: list[str]) -> None:
    from bridge.grpcfronts._filters import minimal

    assert minimal(filters) == kept
