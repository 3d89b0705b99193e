"""The bytes on the bus: encoding and parsing ``Event`` envelopes, reading any protobuf body as
JSON (``jimbot decode``), and wrapping a typed payload in a new envelope for publishers.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from schemas import events_pb2
from schemas._codec import event_to_json, pack, payload_out, stamp
from schemas._errors import SchemaDecodeError
from schemas._read import to_dict
from schemas._types import EventTypeValue, message_class, payload_type_of

__all__ = [
    "create_event",
    "decode_event_bytes",
    "encode_event",
    "message_to_json",
    "unpack_payload",
]

Event = events_pb2.Event


def encode_event(event: Event) -> bytes:
    """The bytes published on the bus (deterministic: map keys sorted)."""
    return event.SerializeToString(deterministic=True)


def decode_event_bytes(data: bytes) -> Event:
    """Parse bus bytes as an ``Event``.

    Raises:
        SchemaDecodeError: the bytes are not a protobuf ``Event``.
    """
    try:
        return Event.FromString(data)
    except DecodeError as exc:
        raise SchemaDecodeError("protobuf Event", str(exc) or "malformed protobuf") from exc


def unpack_payload(event: Event) -> Message | None:
    """The payload as its message (a ``Struct`` or ``Value`` for untyped ones); ``None`` when
    there is no payload or its type is not ours.

    Raises:
        SchemaDecodeError: the payload bytes do not parse as their declared type.
    """
    cls = message_class(event.payload.type_url) if event.HasField("payload") else None
    if cls is None:
        return None
    try:
        return cls.FromString(event.payload.value)
    except DecodeError as exc:
        raise SchemaDecodeError(f"payload {event.payload.type_url}", str(exc)) from exc


def message_to_json(data: bytes | Message, *, message_type: str | None = None) -> dict[str, Any]:
    """Any protobuf body as readable JSON (``jimbot decode`` prints this).

    Args:
        data: bus bytes or a message. An ``Event`` shows as :func:`event_to_json` does, with
            its payload unpacked by type URL.
        message_type: full name of the message the bytes hold (default
            ``jimbot.events.v1.Event``), e.g. ``agentbridge.Percept``.

    Raises:
        SchemaDecodeError: unknown ``message_type``, or the bytes do not parse as it.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        name = message_type or Event.DESCRIPTOR.full_name
        cls = message_class(name)
        if cls is None:
            raise SchemaDecodeError("protobuf body", f"unknown message type {name!r}")
        try:
            data = cls.FromString(bytes(data))
        except DecodeError as exc:
            raise SchemaDecodeError(f"protobuf {name}", str(exc) or "malformed protobuf") from exc
    if isinstance(data, Event):
        return event_to_json(data)
    if isinstance(data, any_pb2.Any):
        return {"@type": data.type_url, "value": payload_out(data)}
    return to_dict(data)


def create_event(
    payload: Message,
    *,
    source: str,
    event_type: EventTypeValue | None = None,
    subtype: str | None = None,
    correlation_id: str = "",
    event_id: str | None = None,
    timestamp: float | None = None,
) -> Event:
    """A new envelope around a typed payload, ready to publish.

    Args:
        payload: e.g. ``events_pb2.HandPlayedEvent(...)``; its type (and subtype) follow
            from the message class unless given.
        source: the publishing component.
        event_type: needed only for a payload that several types share (``Struct``).
        subtype: overrides the subtype the message class implies.
        correlation_id: the event this one answers or follows.
        event_id: defaults to a new UUID4.
        timestamp: epoch seconds, default now.

    Raises:
        ValueError: no event type was given and the payload class does not imply one.
    """
    implied = payload_type_of(payload)
    if event_type is None and implied is None:
        raise ValueError(f"pass event_type: {payload.DESCRIPTOR.full_name} implies no type")
    kind, implied_subtype = implied if implied is not None else (events_pb2.CUSTOM, "")
    event = Event(
        event_id=event_id or str(uuid.uuid4()),
        correlation_id=correlation_id,
        type=kind if event_type is None else event_type,
        source=source,
        version=1,
        subtype=implied_subtype if subtype is None else subtype,
        payload=pack(payload),
    )
    stamp(event.timestamp, time.time() if timestamp is None else timestamp)
    return event
