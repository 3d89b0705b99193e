"""Delivery semantics of the consumer runtime, against a real nats-server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import nats.errors
import pytest

import subjects
from handlers import Consumer, Context, PermanentError, RetryableError, publish
from handlers.dlq_mover import handler as dlq_mover
from tests.integration.helpers import running, wait_for, wait_for_async

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.api import RawStreamMsg

    from handlers import Settings
    from subjects import Names

SUBJECT = "events.custom.test"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def dead_letters(nc: Client, names: Names, expect: int) -> list[RawStreamMsg]:
    js = nc.jetstream()

    async def enough() -> bool:
        info = await js.stream_info(names.dlq_stream)
        return info.state.messages >= expect

    await wait_for_async(enough, timeout=15)
    info = await js.stream_info(names.dlq_stream)
    first = info.state.first_seq
    return [await js.get_msg(names.dlq_stream, first + i) for i in range(info.state.messages)]


async def test_success_is_acked_once_and_never_redelivered(
    nc: Client, names: Names, settings: Settings
) -> None:
    seen: list[bytes] = []

    async def ok(body: bytes, ctx: Context) -> None:
        seen.append(body)

    consumer = Consumer(name="ok", subjects=[SUBJECT], handle=ok, ack_wait=1.0)
    async with running(consumer, settings=settings, nc=nc):
        await publish(nc.jetstream(), names.subject(SUBJECT), b"one", msg_id="m1")
        await wait_for(lambda: len(seen) == 1)
        # Past the ack wait: an un-acked message would have come back by now.
        await anyio.sleep(1.5)
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable("ok"))
    assert seen == [b"one"]
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert info.ack_floor.stream_seq == 1


async def test_retryable_error_is_redelivered_with_growing_delays(
    nc: Client, names: Names, settings: Settings
) -> None:
    attempts: list[float] = []

    async def flaky(body: bytes, ctx: Context) -> None:
        attempts.append(anyio.current_time())
        if len(attempts) < 4:
            raise RetryableError("dependency down")

    consumer = Consumer(
        name="flaky", subjects=[SUBJECT], handle=flaky, retry_delay=0.2, max_deliver=6
    )
    async with running(consumer, settings=settings, nc=nc):
        await publish(nc.jetstream(), names.subject(SUBJECT), b"x", msg_id="m1")
        await wait_for(lambda: len(attempts) == 4)
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # nak delays 0.2 s, 0.4 s, 0.8 s: each gap at least its delay (so they grow: the last is
    # at least 0.72 s, past any fixed 0.2 s delay). Compared end to end only: a redelivery
    # late by 0.2 s on a loaded machine makes neighbouring gaps swap order.
    for gap, delay in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert gap >= delay * 0.9
    assert gaps[2] > gaps[0]


async def test_permanent_error_dead_letters_after_one_delivery_with_everything_kept(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls = 0

    async def reject(body: bytes, ctx: Context) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("price must be positive")

    consumer = Consumer(name="reject", subjects=[SUBJECT], handle=reject)
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        await nc.jetstream().publish(
            names.subject(SUBJECT),
            b"\x00body\xff",
            headers={"Nats-Msg-Id": "evt-1", "traceparent": TRACEPARENT, "X-Custom": "kept"},
        )
        [letter] = await dead_letters(nc, names, 1)
    headers = letter.headers or {}
    assert calls == 1
    assert letter.data == b"\x00body\xff"
    assert letter.subject == names.dlq_subject(names.durable("reject"))
    assert headers[subjects.DLQ_REASON] == "terminated"
    assert headers[subjects.DLQ_DELIVERIES] == "1"
    assert "price must be positive" in headers[subjects.DLQ_ERROR]
    assert headers[subjects.DLQ_SUBJECT] == names.subject(SUBJECT)
    assert headers[subjects.DLQ_STREAM] == names.events_stream
    assert headers[subjects.DLQ_SEQ] == "1"
    assert headers[subjects.DLQ_CONSUMER] == names.durable("reject")
    assert headers[subjects.DLQ_MSG_ID] == "evt-1"
    assert headers[subjects.DLQ_FAILED_AT]
    assert headers["traceparent"] == TRACEPARENT
    assert headers["X-Custom"] == "kept"


async def test_undecodable_input_is_permanent(nc: Client, names: Names, settings: Settings) -> None:
    calls = 0

    async def typed(body: dict[str, int], ctx: Context) -> None:
        nonlocal calls
        calls += 1

    consumer = Consumer(name="typed", subjects=[SUBJECT], handle=typed)
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        await publish(nc.jetstream(), names.subject(SUBJECT), b"not json", msg_id="bad")
        [letter] = await dead_letters(nc, names, 1)
    assert calls == 0
    assert (letter.headers or {})[subjects.DLQ_REASON] == "terminated"
    assert "does not decode" in (letter.headers or {})[subjects.DLQ_ERROR]


async def test_always_failing_handler_dead_letters_after_max_deliveries(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls = 0

    async def broken(body: bytes, ctx: Context) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    consumer = Consumer(
        name="broken", subjects=[SUBJECT], handle=broken, max_deliver=3, retry_delay=0.05
    )
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        await publish(
            nc.jetstream(),
            names.subject(SUBJECT),
            b"payload",
            msg_id="evt-9",
            headers={"traceparent": TRACEPARENT},
        )
        [letter] = await dead_letters(nc, names, 1)
    headers = letter.headers or {}
    assert calls == 3
    assert letter.data == b"payload"
    assert headers[subjects.DLQ_REASON] == "max_deliveries"
    assert headers[subjects.DLQ_DELIVERIES] == "3"
    assert "RuntimeError: boom" in headers[subjects.DLQ_ERROR]
    assert headers["traceparent"] == TRACEPARENT


async def test_never_acked_message_is_dead_lettered_by_the_max_deliveries_advisory(
    nc: Client, names: Names, settings: Settings
) -> None:
    """A consumer that crashes on every delivery never acks: the server's advisory drives it."""
    from nats.js.api import ConsumerConfig

    js = nc.jetstream()
    durable = names.durable("crashy")
    await js.add_consumer(
        names.events_stream,
        ConsumerConfig(
            durable_name=durable, ack_wait=0.3, max_deliver=2, filter_subject=names.subject(SUBJECT)
        ),
    )
    psub = await js.pull_subscribe_bind(durable=durable, stream=names.events_stream)
    async with running(dlq_mover, settings=settings, nc=nc):
        await publish(js, names.subject(SUBJECT), b"lost?", msg_id="evt-crash")
        for _ in range(2):  # take it twice, ack never
            await psub.fetch(1, timeout=5)
        # The server notices max deliveries when it next looks for work for this consumer.
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=1)
        [letter] = await dead_letters(nc, names, 1)
    headers = letter.headers or {}
    assert letter.data == b"lost?"
    assert headers[subjects.DLQ_REASON] == "max_deliveries"
    assert headers[subjects.DLQ_CONSUMER] == durable


async def test_long_work_with_in_progress_acks_is_not_redelivered(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls = 0

    async def slow(body: bytes, ctx: Context) -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(4.2)  # > 2x ack_wait

    # The keep-alive ticks every ack_wait / 3 and skips work younger than a tick, so the
    # first in-progress ack may come 2/3 of ack_wait after delivery: with 2 s, 0.67 s spare
    # for a loaded machine's scheduling (0.33 s with 1 s did not always do).
    consumer = Consumer(name="slow", subjects=[SUBJECT], handle=slow, ack_wait=2.0)
    async with running(consumer, settings=settings, nc=nc):
        await publish(nc.jetstream(), names.subject(SUBJECT), b"x", msg_id="m1")
        await wait_for(lambda: calls == 1)

        async def acked() -> bool:
            info = await nc.jetstream().consumer_info(names.events_stream, names.durable("slow"))
            return bool(info.ack_floor.stream_seq == 1)

        await wait_for_async(acked, timeout=15)
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable("slow"))
    assert calls == 1
    assert info.num_redelivered == 0


async def test_same_msg_id_published_twice_is_stored_once(nc: Client, names: Names) -> None:
    js = nc.jetstream()
    first = await publish(js, names.subject(SUBJECT), b"a", msg_id="same-id")
    second = await publish(js, names.subject(SUBJECT), b"a", msg_id="same-id")
    info = await js.stream_info(names.events_stream)
    assert not first.duplicate
    assert second.duplicate
    assert info.state.messages == 1


async def test_returned_value_is_published_with_a_derived_id(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def double(n: int, ctx: Context) -> int:
        return n * 2

    consumer = Consumer(
        name="double", subjects=["events.custom.in"], handle=double, publish_to="events.custom.out"
    )
    js = nc.jetstream()
    async with running(consumer, settings=settings, nc=nc):
        await publish(js, names.subject("events.custom.in"), 21, msg_id="in-1")

        async def stored() -> bool:
            return (await js.stream_info(names.events_stream)).state.messages == 2

        await wait_for_async(stored)
    out = await js.get_last_msg(names.events_stream, names.subject("events.custom.out"))
    assert out.data == b"42"
    assert (out.headers or {})["Nats-Msg-Id"] == "in-1:double:1"


async def test_two_prefixes_on_one_server_are_isolated(
    nc: Client, names: Names, settings: Settings
) -> None:
    from dataclasses import replace

    from subjects import Names as N
    from subjects import provision

    other = N(names.prefix + "x")
    await provision(nc.jetstream(), other)
    seen: list[str] = []

    async def record(body: bytes, ctx: Context) -> None:
        seen.append(ctx.subject)

    consumer = Consumer(name="iso", subjects=["events.>"], handle=record)
    async with running(consumer, settings=replace(settings, prefix=other.prefix), nc=nc):
        await publish(nc.jetstream(), names.subject(SUBJECT), b"mine", msg_id="a")
        await publish(nc.jetstream(), other.subject(SUBJECT), b"theirs", msg_id="a")
        await wait_for(lambda: len(seen) == 1)
        await anyio.sleep(0.3)
    ours = await nc.jetstream().stream_info(names.events_stream)
    theirs = await nc.jetstream().stream_info(other.events_stream)
    assert seen == [other.subject(SUBJECT)]
    assert ours.state.messages == 1
    assert theirs.state.messages == 1


@pytest.mark.parametrize("bad", ["Bad", "a.b", "", "x" * 40])
def test_invalid_prefix_is_refused_with_the_rule(bad: str) -> None:
    from subjects import InvalidPrefixError, Names

    with pytest.raises(InvalidPrefixError) as caught:
        Names(bad)
    assert "EVENT_BUS_TOPIC_PREFIX" in str(caught.value)
