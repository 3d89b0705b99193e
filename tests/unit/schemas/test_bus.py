"""Bytes on the bus: encoding, parsing, reading any body as JSON, new envelopes."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from schemas import (
    SchemaDecodeError,
    create_event,
    decode_batch,
    decode_event_bytes,
    encode_event,
    event_to_json,
    event_to_proto,
    events_pb2,
    message_to_json,
)
from schemas import agent_bridge_pb2 as ab

pb = events_pb2
Body = Callable[[str], bytes]


def test_encode_event_is_deterministic() -> None:
    items = {f"joker_{i}": {"cost": i} for i in range(9)}
    forward = {"type": "GAME_STATE", "payload": {"shop_items": items}}
    backward = {"payload": {"shop_items": dict(reversed(items.items()))}, "type": "GAME_STATE"}
    assert encode_event(event_to_proto(forward)) == encode_event(event_to_proto(backward))


def test_decode_event_bytes_rejects_garbage_clearly() -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        decode_event_bytes(b"\xff\xff\xff")
    assert str(caught.value).startswith("cannot decode protobuf Event: ")
    assert caught.value.__cause__ is not None


def test_message_to_json_reads_bus_bytes(mod_body: Body) -> None:
    result = decode_batch(mod_body("scoring_batch")).events[5]
    body = encode_event(event_to_proto(result, batch_id="b-1"))
    shown = message_to_json(body)
    assert shown["type"] == "SCORING"
    assert shown["subtype"] == "HAND_EVAL_COMPLETE"
    assert shown["batch_id"] == "b-1"
    assert shown["payload"]["final_score"] == math.inf
    assert shown["payload"]["joker_triggers"] == 7


def test_message_to_json_of_other_messages() -> None:
    percept = ab.Percept(agent="python_link", payload="temperature=32C")
    shown = message_to_json(percept.SerializeToString(), message_type="agentbridge.Percept")
    assert shown == {"agent": "python_link", "payload": "temperature=32C"}
    response = ab.ActionResponse(action="idle", status=ab.ACTION_STATUS_ERROR)
    assert message_to_json(response) == {"action": "idle", "status": "ACTION_STATUS_ERROR"}
    with pytest.raises(SchemaDecodeError, match="unknown message type 'nope.Nope'"):
        message_to_json(b"", message_type="nope.Nope")


def test_create_event_infers_type_and_subtype_from_the_payload() -> None:
    event = create_event(
        pb.ScoringHandEvalStart(starting_score=10, ante=1),
        source="scorer",
        correlation_id="c-1",
        timestamp=1.5,
    )
    assert (event.type, event.subtype, event.source, event.version) == (
        pb.SCORING,
        "HAND_EVAL_START",
        "scorer",
        1,
    )
    assert len(event.event_id) == 36 and event.correlation_id == "c-1"
    assert event.timestamp.seconds == 1 and event.timestamp.nanos == 500_000_000
    assert event_to_json(event)["payload"] == {"starting_score": 10, "ante": 1}
    with pytest.raises(ValueError, match="pass event_type"):
        create_event(pb.Empty(), source="x")
    assert create_event(pb.Empty(), source="x", event_type=pb.CUSTOM).type == pb.CUSTOM
