"""Delivery semantics of batch consumers (``Consumer(batch=N)``), against a real nats-server."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import anyio
import pytest

import subjects
from handlers import BatchItem, Consumer, Context, PermanentError, RetryableError, publish
from handlers.dlq_mover import handler as dlq_mover
from tests.integration.helpers import running, wait_for, wait_for_async
from tests.integration.test_runtime_consume import dead_letters

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

SUBJECT = "events.custom.batch"


async def put(nc: Client, names: Names, count: int, start: int = 0) -> None:
    js = nc.jetstream()
    for i in range(start, start + count):
        await publish(js, names.subject(SUBJECT), f"m{i}".encode(), msg_id=f"id-{i}")


async def settled(nc: Client, names: Names, name: str, seq: int) -> bool:
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable(name))
    return bool(info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0)


async def test_full_batches_are_handled_in_one_call_each_and_acked(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls: list[list[bytes]] = []

    async def handle(items: list[BatchItem[bytes]], ctx: Context) -> None:
        calls.append([item.value for item in items])
        assert all(item.deliveries == 1 and item.msg_id for item in items)

    # ack_wait 2 s (not 1 s): a loaded machine's stall while a batch gathers does not get
    # its first messages redelivered; batch_wait 10 s leaves the bound below room too.
    consumer = Consumer(
        name="batched", subjects=[SUBJECT], handle=handle, batch=10, batch_wait=10.0, ack_wait=2.0
    )
    await put(nc, names, 30)  # published first: every batch fills up without waiting
    async with running(consumer, settings=settings, nc=nc):
        with anyio.fail_after(6):  # < batch_wait: full batches do not wait it out
            await wait_for_async(lambda: settled(nc, names, "batched", 30))
        await anyio.sleep(2.5)  # past ack_wait: nothing comes back
    assert [len(c) for c in calls] == [10, 10, 10]
    assert [b for c in calls for b in c] == [f"m{i}".encode() for i in range(30)]
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable("batched"))
    assert info.config.max_ack_pending == 10
    assert info.num_redelivered == 0


async def test_a_partial_batch_is_handled_after_batch_wait(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls: list[tuple[float, int]] = []

    async def handle(items: list[BatchItem[bytes]], ctx: Context) -> None:
        calls.append((anyio.current_time(), len(items)))

    # batch_wait 1 s: the three publishes (each awaiting its ack) must all arrive within it to
    # make one batch; 0.4 s was not always enough on a loaded machine.
    consumer = Consumer(
        name="partial", subjects=[SUBJECT], handle=handle, batch=100, batch_wait=1.0
    )
    async with running(consumer, settings=settings, nc=nc):
        await anyio.sleep(0.2)
        sent_at = anyio.current_time()
        await put(nc, names, 3)
        await wait_for_async(lambda: settled(nc, names, "partial", 3))
    assert [n for _, n in calls] == [3]
    assert 0.9 <= calls[0][0] - sent_at < 3.0


async def test_a_retryable_failure_redelivers_the_whole_batch(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls: list[list[tuple[bytes, int]]] = []

    async def flaky(items: list[BatchItem[bytes]], ctx: Context) -> None:
        calls.append([(item.value, item.deliveries) for item in items])
        if len(calls) == 1:
            raise RetryableError("disk busy")

    consumer = Consumer(
        name="flakybatch",
        subjects=[SUBJECT],
        handle=flaky,
        batch=5,
        batch_wait=0.2,
        retry_delay=0.2,
    )
    await put(nc, names, 5)
    async with running(consumer, settings=settings, nc=nc):
        await wait_for_async(lambda: settled(nc, names, "flakybatch", 5))
    assert calls[0] == [(f"m{i}".encode(), 1) for i in range(5)]
    # All five came back once, as second deliveries (in one batch, or two if the
    # redeliveries straggled past batch_wait).
    again = sorted(item for call in calls[1:] for item in call)
    assert again == [(f"m{i}".encode(), 2) for i in range(5)]


async def test_a_rejected_item_alone_is_dead_lettered_with_its_reason(
    nc: Client, names: Names, settings: Settings
) -> None:
    seen: list[bytes] = []

    async def picky(items: list[BatchItem[bytes]], ctx: Context) -> None:
        for item in items:
            seen.append(item.value)
            if item.value == b"m2":
                item.reject(PermanentError("m2 is malformed"))

    consumer = Consumer(name="picky", subjects=[SUBJECT], handle=picky, batch=5, batch_wait=0.2)
    await put(nc, names, 5)
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        [letter] = await dead_letters(nc, names, 1)
        await wait_for_async(lambda: settled(nc, names, "picky", 5))
        await anyio.sleep(0.5)
    headers = letter.headers or {}
    assert letter.data == b"m2"
    assert headers[subjects.DLQ_REASON] == "terminated"
    assert "m2 is malformed" in headers[subjects.DLQ_ERROR]
    assert headers[subjects.DLQ_MSG_ID] == "id-2"
    assert sorted(seen) == [f"m{i}".encode() for i in range(5)]  # nobody came back


async def test_undecodable_items_are_terminated_and_the_rest_handled(
    nc: Client, names: Names, settings: Settings
) -> None:
    got: list[dict[str, int]] = []

    async def typed(items: list[BatchItem[dict[str, int]]], ctx: Context) -> None:
        got.extend(item.value for item in items)

    consumer = Consumer(name="typedb", subjects=[SUBJECT], handle=typed, batch=3, batch_wait=0.2)
    js = nc.jetstream()
    await publish(js, names.subject(SUBJECT), b'{"a": 1}', msg_id="ok1")
    await publish(js, names.subject(SUBJECT), b"not json", msg_id="bad")
    await publish(js, names.subject(SUBJECT), b'{"b": 2}', msg_id="ok2")
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        [letter] = await dead_letters(nc, names, 1)
        await wait_for(lambda: len(got) == 2)
    assert got == [{"a": 1}, {"b": 2}]
    assert "does not decode" in (letter.headers or {})[subjects.DLQ_ERROR]


async def test_max_deliveries_dead_letters_every_message_of_the_batch(
    nc: Client, names: Names, settings: Settings
) -> None:
    calls = 0

    async def broken(items: list[BatchItem[bytes]], ctx: Context) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    consumer = Consumer(
        name="brokenb",
        subjects=[SUBJECT],
        handle=broken,
        batch=3,
        batch_wait=0.1,
        max_deliver=3,
        retry_delay=0.05,
    )
    await put(nc, names, 3)
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        letters = await dead_letters(nc, names, 3)
    assert sorted(bytes(letter.data or b"") for letter in letters) == [b"m0", b"m1", b"m2"]
    for letter in letters:
        headers = letter.headers or {}
        assert headers[subjects.DLQ_REASON] == "max_deliveries"
        assert headers[subjects.DLQ_DELIVERIES] == "3"
        assert "RuntimeError: boom" in headers[subjects.DLQ_ERROR]
        assert headers[subjects.DLQ_CONSUMER] == names.durable("brokenb")
    assert 3 <= calls <= 9  # redelivered messages may come back in other groupings


async def test_a_permanent_error_terminates_the_whole_batch(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def refuse(items: list[BatchItem[bytes]], ctx: Context) -> None:
        raise PermanentError("nothing here is usable")

    consumer = Consumer(name="refuseb", subjects=[SUBJECT], handle=refuse, batch=2, batch_wait=0.1)
    await put(nc, names, 2)
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        letters = await dead_letters(nc, names, 2)
    assert {(letter.headers or {})[subjects.DLQ_REASON] for letter in letters} == {"terminated"}


async def test_shutdown_handles_the_partial_batch_before_returning(
    nc: Client, names: Names, settings: Settings
) -> None:
    handled: list[int] = []

    async def handle(items: list[BatchItem[bytes]], ctx: Context) -> None:
        handled.append(len(items))

    consumer = Consumer(
        name="drainb", subjects=[SUBJECT], handle=handle, batch=100, batch_wait=30.0
    )
    async with running(consumer, settings=settings, nc=nc):
        await put(nc, names, 4)

        async def all_taken() -> bool:
            info = await nc.jetstream().consumer_info(names.events_stream, names.durable("drainb"))
            return bool(info.num_ack_pending == 4)

        await wait_for_async(all_taken)
        stopped_at = anyio.current_time()
    # Stopping did not wait out batch_wait: the partial batch was handled and acked at once.
    assert anyio.current_time() - stopped_at < 5
    assert handled == [4]
    assert await settled(nc, names, "drainb", 4)


async def test_shutdown_naks_a_batch_still_running_after_the_drain_timeout(
    nc: Client, names: Names, settings: Settings
) -> None:
    started = anyio.Event()

    async def stuck(items: list[BatchItem[bytes]], ctx: Context) -> None:
        started.set()
        await anyio.sleep(60)

    consumer = Consumer(name="stuckb", subjects=[SUBJECT], handle=stuck, batch=2, batch_wait=0.1)
    quick = dataclasses.replace(settings, drain_timeout=0.5)
    async with running(consumer, settings=quick, nc=nc):
        await put(nc, names, 2)
        await started.wait()
    # Handed back (nak), not left to ack_wait (30 s): the next copy gets them at once.
    again: list[int] = []

    async def record(items: list[BatchItem[bytes]], ctx: Context) -> None:
        again.extend(item.deliveries for item in items)

    replacement = Consumer(
        name="stuckb", subjects=[SUBJECT], handle=record, batch=2, batch_wait=0.1
    )
    async with running(replacement, settings=settings, nc=nc):
        await wait_for(lambda: len(again) == 2, timeout=5)
    assert again == [2, 2]


def test_a_batch_handler_must_take_a_list_of_items() -> None:
    async def single(body: bytes, ctx: Context) -> None:
        return None

    with pytest.raises(TypeError, match=r"list\[BatchItem"):
        Consumer(name="wrong", subjects=[SUBJECT], handle=single, batch=10)
    with pytest.raises(ValueError, match="batch >= 1"):
        Consumer(name="wrong", subjects=[SUBJECT], handle=single, batch=0)
