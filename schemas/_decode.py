"""Tolerant decoding of the mod's bodies into typed models, one result per event.

A batch is decoded event by event: a bad event becomes an :class:`EventError` with a reason
(for the dead-letter stream) and never sinks the good events next to it. Only a body that is
not JSON, or not a batch at all, raises :class:`~schemas.SchemaDecodeError`.

Before validation, a type-directed pass (``schemas._empties``) turns the mod's ``{}`` into
``[]`` wherever a model expects a list (its encoder cannot tell an empty list from an empty
object); msgspec's lax mode then reads the strings the encoder writes for array items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from schemas._empties import lists_for_empty_objects
from schemas._errors import SchemaDecodeError
from schemas._json import decode_json, encode_json
from schemas._models import ModEvent
from schemas._payloads import Payload, payload_model_for

__all__ = [
    "DecodedBatch",
    "DecodedEvent",
    "EventError",
    "convert",
    "decode_batch",
    "decode_event",
    "parse_payload",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """An event that decoded: the typed view and the event exactly as it was sent."""

    index: int
    """Position in the batch (0 for a single event)."""
    event: ModEvent
    """The typed envelope."""
    payload: Payload | None
    """The typed payload, or ``None`` for a type nobody modelled (kept as ``CUSTOM``)."""
    raw: dict[str, Any]
    """The event as sent (after the tolerant parse); the codec converts this, so keys the
    models do not name still reach the bus."""


@dataclass(frozen=True, slots=True)
class EventError:
    """An event of a batch that did not decode, and why."""

    index: int
    """Position in the batch."""
    error: SchemaDecodeError
    """What was wrong, with the JSON path."""
    raw: Any
    """The event as sent (after the tolerant parse), to be dead-lettered."""

    @property
    def reason(self) -> str:
        """The error message, fit to be a dead-letter reason."""
        return str(self.error)

    @property
    def event_id(self) -> str | None:
        """The event's ``event_id`` when it has a string one."""
        value = self.raw.get("event_id") if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str | None:
        """The event's ``type`` when it has a string one."""
        value = self.raw.get("type") if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) else None

    def raw_json(self) -> bytes:
        """The event as JSON bytes (non-finite numbers kept), for the dead-letter stream."""
        return encode_json(self.raw)


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A decoded batch: its header and one result per event, in order."""

    batch_id: str | None
    source: str | None
    timestamp: float | None
    """Epoch milliseconds when the mod sent the batch."""
    results: tuple[DecodedEvent | EventError, ...]

    @property
    def events(self) -> tuple[DecodedEvent, ...]:
        """The events that decoded."""
        return tuple(r for r in self.results if isinstance(r, DecodedEvent))

    @property
    def errors(self) -> tuple[EventError, ...]:
        """The events that did not."""
        return tuple(r for r in self.results if isinstance(r, EventError))


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


def convert(obj: Any, model: type[T], *, what: str = "input", path: str = "$") -> T:
    """Validate plain JSON values (from :func:`~schemas.decode_json`) into ``model``, the
    mod's way: ``{}`` where a list is expected is an empty list, and array items sent as
    strings (``"1"``, ``"true"``) are read as the item type.

    Raises:
        SchemaDecodeError: ``obj`` does not fit; the message names the JSON path.
    """
    try:
        return msgspec.convert(lists_for_empty_objects(obj, model), model, strict=False)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).partition(" - at `")
        inner = where.rstrip("`").removeprefix("$")
        raise SchemaDecodeError(what, reason, path=path + inner) from exc


def parse_payload(event: ModEvent, *, path: str = "$.payload") -> Payload | None:
    """The typed payload of an event, or ``None`` when nobody modelled its type.

    Raises:
        SchemaDecodeError: the payload does not fit its model; the message names the field.
    """
    model = payload_model_for(event.type, event.subtype)
    if model is None:
        return None
    label = f"{event.type}/{event.subtype}" if event.subtype else event.type
    return convert(event.payload, model, what=f"payload of {label}", path=path)


def _decode_object(obj: Any, *, index: int, path: str) -> DecodedEvent:
    if not isinstance(obj, dict):
        raise SchemaDecodeError("event", f"expected an object, got {_kind(obj)}", path=path)
    type_ = obj.get("type")
    if not isinstance(type_, str) or not type_.strip():
        got = "missing" if type_ is None else f"{_kind(type_)} {type_!r}"
        raise SchemaDecodeError("event", f"`type` must be a non-empty string, got {got}", path=path)
    data = obj
    if type_.strip().lower() == "connection_test" and "payload" not in obj and "data" in obj:
        # The connection test carries `data`, not `payload`; the typed view unifies them.
        data = {("payload" if k == "data" else k): v for k, v in obj.items()}
    event = convert(data, ModEvent, what=f"{type_} event", path=path)
    payload = parse_payload(event, path=f"{path}.payload")
    return DecodedEvent(index=index, event=event, payload=payload, raw=obj)


def decode_event(raw: bytes | str | Mapping[str, Any]) -> DecodedEvent:
    """Decode one event (a single ``POST /api/v1/events`` body, or an already parsed object).

    Raises:
        SchemaDecodeError: not JSON, or the event or its payload does not fit.
    """
    obj = dict(raw) if isinstance(raw, Mapping) else decode_json(raw, what="event body")
    return _decode_object(obj, index=0, path="$")


def decode_batch(raw: bytes | str) -> DecodedBatch:
    """Decode a batch body into one result per event; bad events do not sink good ones.

    Raises:
        SchemaDecodeError: the body is not JSON, or not an object with an ``events`` array.
    """
    obj = decode_json(raw, what="batch body")
    if not isinstance(obj, dict):
        raise SchemaDecodeError("batch body", f"expected an object, got {_kind(obj)}", path="$")
    events = obj.get("events")
    if events == {}:
        events = []  # the mod's encoder writes an empty list as {}
    if not isinstance(events, list):
        got = "missing" if events is None else _kind(events)
        raise SchemaDecodeError(
            "batch body", f"`events` must be an array, got {got}", path="$.events"
        )
    results: list[DecodedEvent | EventError] = []
    for i, item in enumerate(events):
        try:
            results.append(_decode_object(item, index=i, path=f"$.events[{i}]"))
        except SchemaDecodeError as exc:
            results.append(EventError(index=i, error=exc, raw=item))
    batch_id, source, timestamp = obj.get("batch_id"), obj.get("source"), obj.get("timestamp")
    return DecodedBatch(
        batch_id=None if batch_id is None else str(batch_id),
        source=source if isinstance(source, str) else None,
        timestamp=timestamp if isinstance(timestamp, float) else _int_as_float(timestamp),
        results=tuple(results),
    )


def _int_as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else None
