"""What ``PublishEvent`` accepts, the defaults it fills in, and which subject an event goes to.

Rules (each broken one is an ``INVALID_ARGUMENT`` whose detail states it):

- ``event_id``: 1-256 characters, no whitespace or control characters (it becomes the
  ``Nats-Msg-Id`` that deduplicates retries);
- ``type``: a known ``EventType`` number;
- ``payload``, when it is one of our messages: it parses, and it is the message its type (and
  subtype) carries, so a consumer that decodes by type never meets a stranger;
- ``timestamp``: between years 1 and 9999 when set.

Defaults, as the HTTP gateway fills them for the mod: ``received_at`` is the server's receive
time (always), ``timestamp`` the receive time when unset, ``version`` 1 when 0, ``source``
``unknown`` when empty.
"""

from __future__ import annotations

import time
import unicodedata
from typing import TypeVar

from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from bridge.grpcfronts._rejects import InvalidInput
from schemas import events_pb2, message_class, payload_message_for, type_string
from subjects import event_subject

MAX_ID_CHARS = 256
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_UNTYPED = frozenset(m.DESCRIPTOR.full_name for m in (struct_pb2.Struct, struct_pb2.Value))
_KNOWN_TYPES = frozenset(events_pb2.EventType.values())

Event = events_pb2.Event
P = TypeVar("P", events_pb2.MetricEvent, events_pb2.ErrorEvent, events_pb2.ResourceEvent)


def check_event(event: Event) -> None:
    """Raise :class:`InvalidInput` naming the first rule ``event`` breaks."""
    _check_id(event.event_id)
    if event.type not in _KNOWN_TYPES:
        raise InvalidInput(
            f"type {event.type} is not a known EventType (0-{max(_KNOWN_TYPES)}); use CUSTOM "
            "with type_name for a type of your own"
        )
    if event.HasField("timestamp"):
        _check_time("timestamp", event.timestamp.seconds, event.timestamp.nanos)
    if event.HasField("payload"):
        _check_payload(event)


def _check_id(event_id: str) -> None:
    if not event_id:
        raise InvalidInput("event_id is empty: give every event a unique id (a UUID)")
    if len(event_id) > MAX_ID_CHARS:
        raise InvalidInput(f"event_id is {len(event_id)} characters; the limit is {MAX_ID_CHARS}")
    for ch in event_id:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise InvalidInput(
                f"event_id contains U+{ord(ch):04X}: use printable characters without spaces"
            )


def _check_time(field: str, seconds: int, nanos: int) -> None:
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos < 1_000_000_000:
        raise InvalidInput(f"{field} is outside years 1-9999 (seconds={seconds}, nanos={nanos})")


def _check_payload(event: Event) -> None:
    url = event.payload.type_url
    cls = message_class(url)
    if cls is None:
        return  # a message that is not ours: kept verbatim, as the gateway keeps it
    name = cls.DESCRIPTOR.full_name
    try:
        cls.FromString(event.payload.value)
    except (DecodeError, ValueError) as exc:
        raise InvalidInput(f"payload does not parse as its type {name}: {exc}") from None
    expected = payload_message_for(event.type, event.subtype)
    if expected is not None and name not in _UNTYPED and name != expected.DESCRIPTOR.full_name:
        kind = events_pb2.EventType.Name(event.type)
        raise InvalidInput(
            f"payload is {name}, but a {kind} event carries {expected.DESCRIPTOR.full_name}"
        )


def fill_defaults(event: Event, now: float | None = None) -> None:
    """Set the receive time and the defaults the gateway sets (see the module docstring)."""
    now = time.time() if now is None else now
    whole = int(now)
    event.received_at.seconds, event.received_at.nanos = whole, int((now - whole) * 1e9)
    if not event.HasField("timestamp"):
        event.timestamp.CopyFrom(event.received_at)
    if event.version == 0:
        event.version = 1
    if not event.source:
        event.source = "unknown"


def relative_subject(event: Event) -> str:
    """The relative subject ``event`` is stored on, as the gateway routes the mod's events.

    The last token of a parametric type comes from ``subtype`` when set, otherwise from the
    payload: a metric's ``name``, an error's ``source_component`` (else the event's source),
    a resource event's kind.
    """
    kind = type_string(event)
    return event_subject(kind, event.subtype or _detail(event))


def _detail(event: Event) -> str | None:
    try:
        if event.type == events_pb2.METRIC:
            metric = _payload(event, events_pb2.MetricEvent)
            return metric.name if metric is not None and metric.name else None
        if event.type == events_pb2.ERROR:
            error = _payload(event, events_pb2.ErrorEvent)
            component = error.source_component if error is not None else ""
            return component or event.source or None
        if event.type == events_pb2.RESOURCE:
            resource = _payload(event, events_pb2.ResourceEvent)
            if resource is not None and resource.kind:
                return events_pb2.ResourceEvent.Kind.Name(resource.kind)
    except ValueError:  # an enum number from a newer schema
        return None
    return None


def _payload(event: Event, cls: type[P]) -> P | None:
    if event.payload.type_url.rpartition("/")[2] != cls.DESCRIPTOR.full_name:
        return None
    return cls.FromString(event.payload.value)
