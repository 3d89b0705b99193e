"""``jimbot dlq ls | show | replay | purge`` against a real nats-server."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import subjects
from handlers import Consumer, Context, PermanentError, publish
from handlers.dlq_mover import handler as dlq_mover
from ops import _dlq
from tests.integration.clihelp import TRACEPARENT, data_lines, jimbot, put_dead_letter
from tests.integration.helpers import running, wait_for, wait_for_async

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


async def _dlq_count(nc: Client, names: Names) -> int:
    info = await nc.jetstream().stream_info(names.dlq_stream)
    return int(info.state.messages)


async def test_ls_prints_one_line_per_dead_letter_and_filters(
    nc: Client, names: Names, settings: Settings
) -> None:
    js = nc.jetstream()
    first = await put_dead_letter(js, names, handler="score", subject="events.custom.a")
    await put_dead_letter(js, names, handler="score", reason="max_deliveries", deliveries=5)
    await put_dead_letter(js, names, handler="other", subject="events.game.hand.played")

    everything = await jimbot(settings, "dlq", "ls")
    by_reason = await jimbot(settings, "dlq", "ls", "--reason", "max_deliveries")
    by_consumer = await jimbot(settings, "dlq", "ls", "--consumer", "score")
    by_durable = await jimbot(settings, "dlq", "ls", "--consumer", names.durable("other"))
    by_subject = await jimbot(settings, "dlq", "ls", "--subject", "events.custom.*")
    limited = await jimbot(settings, "dlq", "ls", "--limit", "1")
    as_json = await jimbot(settings, "dlq", "ls", "--json", "--reason", "max_deliveries")

    assert everything.exit_code == 0, everything.output
    rows = data_lines(everything.stdout)
    assert len(rows) == 3
    assert rows[0].split()[:4] == [
        str(first),
        "terminated",
        names.durable("score"),
        names.subject("events.custom.a"),
    ]
    assert "ValueError: bad thing" in rows[0]
    assert [r.split()[1] for r in data_lines(by_reason.stdout)] == ["max_deliveries"]
    assert len(data_lines(by_consumer.stdout)) == 2
    assert len(data_lines(by_durable.stdout)) == 1
    assert len(data_lines(by_subject.stdout)) == 2  # events.custom.a and events.custom.thing
    assert len(data_lines(limited.stdout)) == 1
    record = json.loads(as_json.stdout)
    assert record[subjects.DLQ_DELIVERIES] == "5"


async def test_ls_on_an_empty_dlq_says_so(nc: Client, settings: Settings) -> None:
    result = await jimbot(settings, "dlq", "ls")
    assert result.exit_code == 0
    assert result.stdout.strip() == "no dead letters match"


async def test_show_prints_every_header_and_the_body(
    nc: Client, names: Names, settings: Settings
) -> None:
    js = nc.jetstream()
    text = await put_dead_letter(js, names, body=b"plain words")
    binary = await put_dead_letter(js, names, body=b"\xff\x00\xfe")

    shown = await jimbot(settings, "dlq", "show", str(text))
    hexed = await jimbot(settings, "dlq", "show", str(binary))
    missing = await jimbot(settings, "dlq", "show", "999")

    assert shown.exit_code == 0, shown.output
    for header in (*subjects.DLQ_HEADERS, "traceparent", "X-Custom"):
        assert header in shown.stdout
    assert shown.stdout.rstrip().endswith("plain words")
    assert "ff 00 fe" in hexed.stdout
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        f"jimbot: no dead letter 999 in {names.dlq_stream}: list them with `jimbot dlq ls`"
    )


async def test_show_decodes_a_protobuf_event_body(
    nc: Client, names: Names, settings: Settings
) -> None:
    from schemas.events_pb2 import HAND_PLAYED, Event

    event = Event(event_id="evt-pb", type=HAND_PLAYED, source="pytest")
    seq = await put_dead_letter(
        nc.jetstream(),
        names,
        body=event.SerializeToString(),
        content_type="application/protobuf; messageType=jimbot.events.v1.Event",
    )

    result = await jimbot(settings, "dlq", "show", str(seq))

    assert result.exit_code == 0, result.output
    body = result.stdout[result.stdout.index("\n{") :]
    assert json.loads(body)["event_id"] == "evt-pb"


async def test_replay_restores_the_original_and_deletes_the_dead_letter(
    nc: Client, names: Names, settings: Settings
) -> None:
    js = nc.jetstream()
    seq = await put_dead_letter(js, names, body=b"again", msg_id="evt-1")
    other = await put_dead_letter(js, names, reason="max_deliveries")

    dry = await jimbot(settings, "dlq", "replay", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert await _dlq_count(nc, names) == 2
    result = await jimbot(settings, "dlq", "replay", "--reason", "terminated")

    assert result.exit_code == 0, result.output
    assert f"replayed     dlq {seq} -> {names.subject('events.custom.thing')}" in result.stdout
    assert await _dlq_count(nc, names) == 1
    remaining = await _dlq.scan(js, names)
    assert [letter.seq for letter in remaining.letters] == [other]
    msg = await js.get_msg(names.events_stream, 1)
    headers = msg.headers or {}
    assert msg.subject == names.subject("events.custom.thing")
    assert msg.data == b"again"
    assert headers["Nats-Msg-Id"] == f"evt-1:replay:{seq}"
    assert headers[subjects.REPLAY_OF] == str(seq)
    assert headers["traceparent"] == TRACEPARENT
    assert headers["X-Custom"] == "kept"
    assert not [k for k in headers if k.startswith("Jimbot-Dlq-")]


async def test_replay_after_a_crash_before_the_delete_does_not_double_the_event(
    nc: Client, names: Names, settings: Settings
) -> None:
    js = nc.jetstream()
    seq = await put_dead_letter(js, names, msg_id="evt-2")
    letter = await _dlq.get(js, names, seq)
    assert letter is not None
    # A replay that stored the event and died before deleting the dead letter:
    headers = _dlq.replay_headers(letter, dlq_stream=names.dlq_stream)
    await js.publish(letter.original_subject, letter.data, headers=headers)

    result = await jimbot(settings, "dlq", "replay", "--seq", str(seq))

    assert result.exit_code == 0, result.output
    assert "duplicate" in result.stdout
    info = await js.stream_info(names.events_stream)
    assert info.state.messages == 1
    assert await _dlq_count(nc, names) == 0


async def test_purge_needs_yes_without_a_terminal_and_respects_filters(
    nc: Client, names: Names, settings: Settings
) -> None:
    js = nc.jetstream()
    await put_dead_letter(js, names, reason="terminated")
    await put_dead_letter(js, names, reason="max_deliveries")
    await put_dead_letter(js, names, reason="max_deliveries")

    refused = await jimbot(settings, "dlq", "purge")
    assert refused.exit_code == 1
    assert "without --yes" in refused.stderr
    assert await _dlq_count(nc, names) == 3
    some = await jimbot(settings, "dlq", "purge", "--reason", "max_deliveries", "--yes")
    assert some.exit_code == 0, some.output
    assert "deleted 2 dead letters" in some.stdout
    assert await _dlq_count(nc, names) == 1
    rest = await jimbot(settings, "dlq", "purge", "--yes")
    assert "deleted 1 dead letters" in rest.stdout
    assert await _dlq_count(nc, names) == 0


async def test_scan_reads_thousands_of_dead_letters_in_batches(nc: Client, names: Names) -> None:
    js = nc.jetstream()
    for i in range(1200):
        await js.publish(
            names.dlq_subject("x"), b"", headers={subjects.DLQ_REASON: ("a", "b", "c")[i % 3]}
        )

    everything = await _dlq.scan(js, names)
    some = await _dlq.scan(js, names, _dlq.Filter(reason="b"), limit=10)

    assert len(everything.letters) == 1200
    assert not everything.truncated
    assert Counter(letter.reason for letter in everything.letters) == {"a": 400, "b": 400, "c": 400}
    assert [letter.reason for letter in some.letters] == ["b"] * 10


async def test_failed_events_replayed_to_a_fixed_handler_are_processed_exactly_once(
    nc: Client, names: Names, settings: Settings
) -> None:
    """End to end: a real failing consumer, the real dlq_mover, the CLI's replay."""
    subject = "events.custom.order"
    processed: Counter[bytes] = Counter()
    fixed = False

    async def handle(body: bytes, ctx: Context) -> None:
        if not fixed and body.startswith(b"bad"):
            if body.startswith(b"bad-perm"):
                raise PermanentError("cannot read this order")
            raise RuntimeError("flaky dependency")
        processed[body] += 1

    consumer = Consumer(
        name="orders", subjects=[subject], handle=handle, max_deliver=2, retry_delay=0.05
    )
    bodies = [b"good-1", b"bad-perm-1", b"bad-retry-1", b"good-2", b"bad-perm-2"]
    js = nc.jetstream()
    async with running(consumer, dlq_mover, settings=settings, nc=nc):
        for i, body in enumerate(bodies):
            await publish(js, names.subject(subject), body, msg_id=f"order-{i}")

        async def three_dead() -> bool:
            return await _dlq_count(nc, names) == 3

        await wait_for_async(three_dead, timeout=15)
        listed = await jimbot(settings, "dlq", "ls", "--consumer", "orders")
        reasons = Counter(row.split()[1] for row in data_lines(listed.stdout))
        assert reasons == {"terminated": 2, "max_deliveries": 1}

        fixed = True
        result = await jimbot(settings, "dlq", "replay", "--consumer", "orders")
        assert result.exit_code == 0, result.output
        assert "replayed 3 of 3" in result.stdout
        await wait_for(lambda: sum(processed.values()) == 5, timeout=10)
        # A second replay finds nothing: the dead letters are gone.
        again = await jimbot(settings, "dlq", "replay")
        assert "replayed 0 of 0" in again.stdout

    assert processed == {body: 1 for body in bodies}
    info = await js.consumer_info(names.events_stream, names.durable("orders"))
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
    assert await _dlq_count(nc, names) == 0
