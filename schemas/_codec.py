"""JSON events (the mod's shape) <-> the protobuf ``Event`` envelope.

``event_to_proto`` packs the payload in ``Any`` as the message of its type (``CUSTOM`` and
unmodelled subtypes: a ``Struct``), and keeps every envelope key nobody modelled in
``Event.extra``. ``event_to_json`` is its exact inverse: ``event_to_json(event_to_proto(e))``
gives ``e`` back (lists the mod sent as ``{}`` come back as ``[]``, integral doubles as ints).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import msgspec
from google.protobuf import any_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import DecodeError, Message

from schemas import events_pb2
from schemas._decode import DecodedEvent
from schemas._errors import SchemaDecodeError
from schemas._fill import fill
from schemas._models import ModEvent
from schemas._read import to_dict
from schemas._types import (
    event_type_for,
    event_type_name,
    message_class,
    payload_message_for,
    type_string,
)
from schemas._values import from_value, is_number, number_out, struct_from, to_float, to_value

__all__ = ["event_to_json", "event_to_proto", "pack", "payload_out", "stamp"]

Event = events_pb2.Event
_URL_PREFIX = "type.googleapis.com/"
_STRINGS = ("event_id", "source", "correlation_id", "subtype", "priority", "batch_id")
_BOOLS = ("initial", "debug")
_TIMES = {"event_time": "timestamp", "received_at": "received_at"}


def pack(message: Message) -> any_pb2.Any:
    """``message`` in an ``Any``, serialized deterministically (sorted map keys)."""
    return any_pb2.Any(
        type_url=_URL_PREFIX + message.DESCRIPTOR.full_name,
        value=message.SerializeToString(deterministic=True),
    )


def _payload_in(event: Event, value: Any) -> None:
    if isinstance(value, Mapping) and set(value) == {"@type", "@value"}:
        # An Any whose type we do not know, as event_to_json shows it.
        event.payload.type_url = str(value["@type"])
        event.payload.value = base64.b64decode(str(value["@value"]))
        return
    if not isinstance(value, Mapping):
        event.payload.CopyFrom(pack(to_value(value)))
        return
    cls = payload_message_for(event.type, event.subtype)
    if cls is None:
        event.payload.CopyFrom(pack(struct_from(value)))
        return
    message = cls()
    fill(message, value)
    event.payload.CopyFrom(pack(message))


def _payload_key(type_name: str) -> str:
    # The mod's lowercase connection_test carries `data`, not `payload`.
    return "data" if type_name == "connection_test" else "payload"


def _as_mapping(event: ModEvent | DecodedEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(event, DecodedEvent):
        return event.raw  # as sent: keys the models do not name are kept
    if isinstance(event, ModEvent):
        return msgspec.to_builtins(event)  # type: ignore[no-any-return]
    return event


def _envelope_in(event: Event, data: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the envelope; returns what it could not place."""
    extra: dict[str, Any] = {}
    payload_key = _payload_key(event.type_name)
    for key, value in data.items():
        if key == "type":
            continue
        if key == payload_key:
            _payload_in(event, value)
        elif key in _STRINGS and isinstance(value, str) and value:
            setattr(event, key, value)
        elif key == "version" and _is_version(value):
            event.version = value
        elif key == "timestamp" and is_number(value):
            event.source_timestamp_ms = to_float(value)
        elif key in _BOOLS and isinstance(value, bool):
            setattr(event, key, value)
        elif key == "changes" and _is_event_list(value):
            event.changes.extend(event_to_proto(item) for item in value)
        elif key == "metadata" and _is_text_map(value):
            event.metadata.update(value)
        elif key in _TIMES and isinstance(value, str) and _set_time(event, _TIMES[key], value):
            pass
        else:
            extra[key] = [] if key == "changes" and value == {} else value
    return extra


def _is_version(value: Any) -> bool:
    # 0 would vanish (no presence on the spec's field): extra keeps it instead.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < abs(value) < 2**31


def _is_event_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, Mapping) and isinstance(i.get("type"), str) for i in value)
    )


def _is_text_map(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(v, str) for v in value.values())
    )


def _set_time(event: Event, field: str, text: str) -> bool:
    parsed = timestamp_pb2.Timestamp()
    try:
        parsed.FromJsonString(text)
    except ValueError:
        return False
    getattr(event, field).CopyFrom(parsed)
    return parsed.ToJsonString() == text  # else extra keeps the exact text too


def stamp(target: timestamp_pb2.Timestamp, seconds: float) -> None:
    """Set ``target`` to epoch ``seconds``."""
    # Split before scaling: seconds * 1e9 would round away the sub-microsecond digits.
    whole = math.floor(seconds)
    nanos = round((seconds - whole) * 1e9)
    target.seconds, target.nanos = (whole + 1, 0) if nanos >= 10**9 else (whole, nanos)


def event_to_proto(
    event: ModEvent | DecodedEvent | Mapping[str, Any],
    *,
    batch_id: str | None = None,
    batch_timestamp_ms: float | None = None,
    received_at: float | None = None,
) -> Event:
    """Convert one event in the mod's JSON shape to the protobuf envelope.

    Args:
        event: a decoded event (its ``raw`` form is converted, so nothing is lost), a
            ``ModEvent``, or a plain mapping.
        batch_id: the mod batch it arrived in.
        batch_timestamp_ms: the batch's epoch milliseconds; sets ``Event.timestamp``.
        received_at: epoch seconds when the server received it; sets ``received_at`` (and
            ``timestamp``, when there is no batch timestamp).

    Raises:
        SchemaDecodeError: the event has no string ``type``, holds a value protobuf cannot (a
            string that is not valid Unicode), or gives a message without ``extra`` (only
            service messages such as ``ResourceGrant``) a key it does not have.
    """
    data = _as_mapping(event)
    type_ = data.get("type")
    if not isinstance(type_, str) or not type_.strip():
        raise SchemaDecodeError("event", "`type` must be a non-empty string", path="$.type")
    try:
        return _to_proto(data, type_, batch_id, batch_timestamp_ms, received_at)
    except ValueError as exc:  # protobuf refused a value (e.g. a string that is not UTF-8)
        raise SchemaDecodeError(f"{type_} event", str(exc)) from exc


def _to_proto(
    data: Mapping[str, Any],
    type_: str,
    batch_id: str | None,
    batch_timestamp_ms: float | None,
    received_at: float | None,
) -> Event:
    result = Event(type=event_type_for(type_))
    if type_ != event_type_name(result.type):
        result.type_name = type_
    subtype = data.get("subtype")
    result.subtype = subtype if isinstance(subtype, str) else ""  # the payload class needs it
    extra = _envelope_in(result, data)
    if extra:
        result.extra.CopyFrom(struct_from(extra))
    if batch_id:
        result.batch_id = batch_id
    if received_at is not None:
        stamp(result.received_at, received_at)
    if batch_timestamp_ms is not None:
        stamp(result.timestamp, batch_timestamp_ms / 1000)
    elif received_at is not None:
        result.timestamp.CopyFrom(result.received_at)
    return result


def payload_out(payload: any_pb2.Any) -> Any:
    """An ``Any`` payload as JSON: unpacked by type URL, or ``{"@type", "@value"}``."""
    cls = message_class(payload.type_url)
    if cls is None:
        return {"@type": payload.type_url, "@value": base64.b64encode(payload.value).decode()}
    try:
        message = cls.FromString(payload.value)
    except DecodeError as exc:
        raise SchemaDecodeError(f"payload {payload.type_url}", str(exc)) from exc
    if isinstance(message, struct_pb2.Value):
        return from_value(message)
    if isinstance(message, struct_pb2.Struct):
        return {k: from_value(v) for k, v in message.fields.items()}
    return to_dict(message)


def event_to_json(event: Event) -> dict[str, Any]:
    """The envelope back in the mod's JSON shape (the inverse of :func:`event_to_proto`).

    Our own envelope fields appear under their names (``correlation_id``, ``metadata``,
    ``batch_id``) and the two epoch times as RFC 3339 text (``event_time``, ``received_at``).
    """
    out: dict[str, Any] = {"type": type_string(event)}
    for key in _STRINGS:
        if getattr(event, key):
            out[key] = getattr(event, key)
    if event.version:
        out["version"] = event.version
    if event.HasField("source_timestamp_ms"):
        out["timestamp"] = number_out(event.source_timestamp_ms)
    if event.HasField("initial"):
        out["initial"] = event.initial
    if event.HasField("debug"):
        out["debug"] = event.debug
    if event.changes:
        out["changes"] = [event_to_json(change) for change in event.changes]
    if event.metadata:
        out["metadata"] = dict(event.metadata)
    if event.HasField("timestamp"):
        out["event_time"] = event.timestamp.ToJsonString()
    if event.HasField("received_at"):
        out["received_at"] = event.received_at.ToJsonString()
    if event.HasField("payload"):
        out[_payload_key(event.type_name)] = payload_out(event.payload)
    out.update({k: from_value(v) for k, v in event.extra.fields.items()})
    return out
