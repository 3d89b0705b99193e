"""Property tests: JSON -> protobuf -> JSON and protobuf -> JSON -> protobuf lose nothing."""

from __future__ import annotations

from typing import Any, cast

import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import (
    create_event,
    decode_batch,
    decode_event_bytes,
    encode_event,
    encode_json,
    event_to_json,
    event_to_proto,
    events_pb2,
    message_class,
    payload_type_of,
)
from tests.unit.schemas import strategies as s
from tests.unit.schemas.canon import same_json

FD = FieldDescriptor
SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("event_type", "subtype"), list(s.PAYLOADS), ids=str)
def test_json_to_protobuf_to_json(event_type: str, subtype: str | None) -> None:
    @SETTINGS
    @given(s.mod_event(event_type, subtype, s.PAYLOADS[(event_type, subtype)]))
    def check(event: dict[str, Any]) -> None:
        proto = event_to_proto(event)
        assert same_json(event_to_json(decode_event_bytes(encode_event(proto))), event)
        # And back again: the protobuf side is a fixed point too.
        assert encode_event(event_to_proto(event_to_json(proto))) == encode_event(proto)

    check()


@SETTINGS
@given(s.connection_test)
def test_connection_test_round_trips(event: dict[str, Any]) -> None:
    assert same_json(event_to_json(event_to_proto(event)), event)


@SETTINGS
@given(st.lists(s.mod_event("HAND_PLAYED", None, s.PAYLOADS[("HAND_PLAYED", None)]), max_size=5))
def test_through_the_tolerant_decoder_as_bytes(events: list[dict[str, Any]]) -> None:
    body = encode_json({"batch_id": "b", "source": "BalatroMCP", "events": events})
    batch = decode_batch(body)
    assert len(batch.results) == len(events)
    for event, result in zip(events, batch.results, strict=True):
        if result in batch.events:
            assert same_json(event_to_json(event_to_proto(result)), event)


# -- protobuf first ---------------------------------------------------------------------------

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FD.TYPE_STRING: s.text,
    FD.TYPE_BOOL: st.booleans(),
    FD.TYPE_INT32: s.int32,
    FD.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FD.TYPE_DOUBLE: st.floats(),
    FD.TYPE_FLOAT: st.floats(width=32),
}


def _has_rules(desc: Descriptor) -> bool:
    # Messages with twins or rule-owned fields are covered JSON-first above.
    return any(name.endswith("_exact") or name == "deck_info" for name in desc.fields_by_name)


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    if field.message_type is not None:
        name = field.message_type.full_name
        if field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            inner = _field_value(value, depth)
            return None if inner is None else st.dictionaries(s.text, inner, max_size=3)
        if name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.Any"):
            return None  # Struct-valued fields are exercised JSON-first
        if name == "google.protobuf.Timestamp":
            strategy: st.SearchStrategy[Any] = st.builds(
                lambda sec, ns: {"seconds": sec, "nanos": ns},
                st.integers(0, 253402300799),
                st.integers(0, 999_999_999),
            )
        elif depth > 2 or _has_rules(field.message_type):
            return None
        else:
            strategy = message_values(field.message_type, depth + 1)
    elif field.enum_type is not None:
        strategy = st.sampled_from([v.number for v in field.enum_type.values])
    else:
        strategy = _SCALARS[field.type]
    return st.lists(strategy, min_size=1, max_size=3) if field.is_repeated else strategy


def message_values(desc: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field values for ``desc`` (typed fields only: what a typed producer would set)."""
    optional = {
        f.name: strategy
        for f in desc.fields
        if f.name != "extra" and (strategy := _field_value(f, depth)) is not None
    }
    return st.fixed_dictionaries({}, optional=optional)


def _build(desc: Descriptor, values: dict[str, Any]) -> Message:
    message = message_factory.GetMessageClass(desc)()
    for name, value in values.items():
        field = desc.fields_by_name[name]
        target = field.message_type
        if target is not None and target.GetOptions().map_entry:
            inner = target.fields_by_name["value"].message_type
            for key, item in value.items():
                if inner is None:
                    getattr(message, name)[key] = item
                else:
                    getattr(message, name)[key].CopyFrom(_build(inner, item))
        elif target is not None and field.is_repeated:
            getattr(message, name).extend(_build(target, item) for item in value)
        elif target is not None:
            getattr(message, name).CopyFrom(_build(target, value))
        elif field.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def _desc(cls: type[Message]) -> Descriptor:
    return cast("Descriptor", cls.DESCRIPTOR)


PROTO_FIRST = sorted(
    {
        cls.DESCRIPTOR.full_name
        for name in events_pb2.DESCRIPTOR.message_types_by_name
        if (cls := message_class(f"jimbot.events.v1.{name}")) is not None
        and payload_type_of(cls()) is not None
        and not _has_rules(_desc(cls))
    }
)


def test_proto_first_covers_the_payload_messages() -> None:
    assert len(PROTO_FIRST) == 29


@pytest.mark.parametrize("full_name", PROTO_FIRST)
def test_protobuf_to_json_to_protobuf(full_name: str) -> None:
    cls = message_class(full_name)
    assert cls is not None

    @SETTINGS
    @given(message_values(_desc(cls)), st.floats(0, 2e9))
    def check(values: dict[str, Any], when: float) -> None:
        event = create_event(_build(_desc(cls), values), source="test", timestamp=when)
        event.metadata["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        again = event_to_proto(event_to_json(event))
        assert encode_event(again) == encode_event(event)

    check()


def test_envelope_fields_round_trip() -> None:
    event = events_pb2.Event(
        event_id="e",
        correlation_id="c",
        type=events_pb2.SCORING,
        source="s",
        version=3,
        subtype="NEW_STEP",
        priority="high",
        source_timestamp_ms=1.5,
        batch_id="b",
        type_name="scoring",
        initial=False,
        debug=True,
    )
    event.metadata["k"] = "v"
    event.timestamp.FromJsonString("2024-01-15T10:30:00.123Z")
    event.received_at.FromJsonString("2024-01-15T10:30:00.456789Z")
    event.changes.add(type=events_pb2.HAND_PLAYED, event_id="x")
    assert event_to_proto(event_to_json(event)) == event
