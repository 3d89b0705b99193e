from __future__ import annotations

import msgspec
import pytest

from handlers import Consumer, Context, Endpoint, HandlerNotFound, handler_names, load
from schemas import events_pb2


class Hand(msgspec.Struct):
    hands_remaining: int


async def takes_struct(hand: Hand, ctx: Context) -> None:
    return None


async def takes_proto(event: events_pb2.Event, ctx: Context) -> None:
    return None


async def returns_int(n: int, ctx: Context) -> int:
    return n


def test_input_codec_follows_the_annotation() -> None:
    c = Consumer(name="s", subjects=["events.x"], handle=takes_struct)
    assert c.input_codec.decode(b'{"hands_remaining": 3}') == Hand(3)
    p = Consumer(name="p", subjects=["events.x"], handle=takes_proto)
    event = events_pb2.Event(event_id="e1")
    assert p.input_codec.decode(event.SerializeToString()) == event
    assert "jimbot.events.v1.Event" in p.input_codec.content_type


def test_a_returned_value_needs_somewhere_to_go() -> None:
    with pytest.raises(ValueError, match="publish_to"):
        Consumer(name="r", subjects=["events.x"], handle=returns_int)


def test_endpoint_must_return_a_response() -> None:
    with pytest.raises(ValueError, match="return"):
        Endpoint(name="e", subject="rpc.x", handle=takes_struct)


def test_sync_functions_and_bad_names_are_refused_with_the_rule() -> None:
    def sync(value: bytes, ctx: Context) -> None:
        return None

    with pytest.raises(TypeError, match="async def"):
        Consumer(name="x", subjects=["events.x"], handle=sync)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a-z"):
        Consumer(name="Bad-Name", subjects=["events.x"], handle=takes_struct)
    with pytest.raises(ValueError, match="max_deliver"):
        Consumer(name="x", subjects=["events.x"], handle=takes_struct, max_deliver=0)


def test_retry_delay_grows_and_is_capped() -> None:
    c = Consumer(name="x", subjects=["e"], handle=takes_struct, retry_delay=0.5, max_retry_delay=3)
    assert [c.retry_delay_for(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_handlers_are_found_by_module_name_or_path() -> None:
    assert "dlq_mover" in handler_names()
    [mover] = load("dlq_mover")
    assert mover.name == "dlq_mover"
    assert load("tests.unit.handlers.test_declare:ENDPOINT") == [ENDPOINT]
    with pytest.raises(HandlerNotFound) as caught:
        load("no_such_handler")
    assert "dlq_mover" in str(caught.value)


ENDPOINT = Endpoint(name="echo", subject="rpc.echo", handle=returns_int)
