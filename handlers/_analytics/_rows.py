"""One stored row per message: the envelope's columns and the payload's fields as JSON.

This runs once per event on the ingest path, so it reads only what the views need and keeps
the payload cheap: scalar fields, small maps and lists of scalars, and singular nested
messages, but never the repeated messages (hand, deck, jokers) that make a GAME_STATE big.
Times are integer microseconds since the epoch (UTC); the store turns them into TIMESTAMPs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message

import subjects
from schemas import events_pb2, message_class

Row = tuple[Any, ...]
"""Column values in the order of ``schemas.analytics`` ``TABLES[table]``."""

_EVENT = events_pb2.Event
_TYPE_NAMES = {number: name for name, number in events_pb2.EventType.items()}
_DAY_US = 86_400_000_000
_encode = msgspec.json.Encoder().encode
_UNTYPED = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def _micros(stamp: Any) -> int | None:
    """A protobuf Timestamp as epoch microseconds; ``None`` when unset."""
    if not stamp.seconds and not stamp.nanos:
        return None
    return int(stamp.seconds * 1_000_000 + stamp.nanos // 1000)


# --- payload fields ------------------------------------------------------------------------

Convert = Callable[[Any], Any] | None
"""How one field's value becomes JSON; ``None`` leaves it as it is."""
_SKIP: Any = object()


def _field_plan(fd: Any) -> Convert | Any:
    """How to render one field, decided once per field: the value, a conversion, or skip."""
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        sub: Any = fd.message_type
        if sub.GetOptions().map_entry:
            value_fd = sub.fields_by_name["value"]
            return _SKIP if value_fd.type == FieldDescriptor.TYPE_MESSAGE else dict
        if fd.is_repeated or sub.full_name in _UNTYPED:
            return _SKIP
        if sub.full_name == "google.protobuf.Timestamp":
            return _micros
        return _message_fields
    if fd.type == FieldDescriptor.TYPE_ENUM:
        names = {v.number: v.name for v in fd.enum_type.values}
        if fd.is_repeated:
            return lambda values: [names.get(v, v) for v in values]
        return lambda value: names.get(value, value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return _SKIP
    return list if fd.is_repeated else None


_PLANS: dict[Any, dict[str, Convert | Any]] = {}
"""Per message type (its descriptor): how to render each field."""


def _message_fields(message: Message) -> dict[str, Any] | None:
    """The set fields of a message as a dict (see the module docstring for what is left out)."""
    descriptor = message.DESCRIPTOR
    plan = _PLANS.get(descriptor)
    if plan is None:
        plan = _PLANS[descriptor] = {fd.name: _field_plan(fd) for fd in descriptor.fields}
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        convert = plan[fd.name]
        if convert is None:
            out[fd.name] = value
        elif convert is not _SKIP:
            converted = convert(value)
            if converted is not None:
                out[fd.name] = converted
    return out or None


def _payload_json(event: events_pb2.Event) -> bytes | None:
    if not event.HasField("payload"):
        return None
    any_payload = event.payload
    cls = message_class(any_payload.type_url)
    if cls is None:
        return None
    payload = cls.FromString(any_payload.value)
    if cls.DESCRIPTOR.full_name in _UNTYPED:
        return _encode(MessageToDict(payload))
    fields = _message_fields(payload)
    return None if fields is None else _encode(fields)


# --- rows ----------------------------------------------------------------------------------


def day_of(ts_us: int | None, now_us: int) -> int:
    """The day partition (days since the epoch): the event's UTC day, or today's when the
    event has no time or claims one more than a day ahead (a clock gone wrong)."""
    if ts_us is None or ts_us <= 0 or ts_us > now_us + _DAY_US:
        return now_us // _DAY_US
    return ts_us // _DAY_US


def event_row(
    body: bytes, *, subject: str, seq: int | None, headers: Mapping[str, str], now_us: int
) -> tuple[str, int, Row]:
    """``(key, day, row)`` for one message of the events stream.

    A body that is not an ``Event`` is still stored (the bus carried it), keyed by its
    ``Nats-Msg-Id`` or stream sequence, with the reason in ``error``.
    """
    error = fields = None
    try:
        event = _EVENT.FromString(body)
    except DecodeError as exc:
        event, error = _EVENT(), f"not a protobuf Event: {exc or 'malformed'}"
    else:
        try:
            fields = _payload_json(event)
        except (DecodeError, ValueError) as exc:
            error = f"payload does not parse as {event.payload.type_url}: {exc or 'malformed'}"
    key = event.event_id or headers.get("Nats-Msg-Id") or f"seq:{seq}"
    ts = _micros(event.timestamp)
    if error:
        kind = headers.get("Jimbot-Event-Type") or "UNKNOWN"
    else:
        kind = _TYPE_NAMES.get(event.type) or f"EVENT_TYPE_{event.type}"
    metadata = event.metadata
    row = (
        key,
        kind,
        event.subtype or None,
        event.type_name or None,
        event.source or headers.get("Jimbot-Source") or None,
        subject,
        ts,
        _micros(event.received_at),
        now_us,
        seq,
        event.correlation_id or None,
        metadata.get("session"),
        event.batch_id or None,
        len(body),
        _encode(dict(metadata)) if metadata else None,
        fields,
        error,
    )
    return key, day_of(ts, now_us), row


def _header_time(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1_000_000)


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _preview(body: bytes, content_type: str) -> str | None:
    """The start of a text body; a protobuf body says what it holds instead."""
    if not body:
        return None
    if content_type.startswith("application/protobuf"):
        return f"({len(body)} B protobuf)"
    try:
        return body[:200].decode("utf-8", errors="replace")
    except Exception:  # pragma: no cover - decode with errors="replace" does not raise
        return None


def dead_letter_row(
    body: bytes, *, subject: str, seq: int | None, headers: Mapping[str, str], now_us: int
) -> tuple[str, int, Row]:
    """``(key, day, row)`` for one message of the dead-letter stream, from its headers."""
    key = headers.get("Nats-Msg-Id") or f"seq:{seq}"
    failed_at = _header_time(headers.get(subjects.DLQ_FAILED_AT))
    row = (
        key,
        seq,
        subject,
        headers.get(subjects.DLQ_REASON),
        headers.get(subjects.DLQ_CONSUMER),
        headers.get(subjects.DLQ_STREAM),
        _int(headers.get(subjects.DLQ_SEQ)),
        _int(headers.get(subjects.DLQ_DELIVERIES)),
        headers.get(subjects.DLQ_ERROR),
        failed_at,
        headers.get(subjects.DLQ_SUBJECT),
        headers.get(subjects.DLQ_MSG_ID),
        headers.get("Jimbot-Event-Type"),
        len(body),
        _preview(body, headers.get("Content-Type", "")),
        now_us,
    )
    return key, day_of(failed_at, now_us), row


def now_micros() -> int:
    return time.time_ns() // 1000
