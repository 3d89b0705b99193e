"""Our protobuf messages -> plain JSON, the way back of ``schemas._fill``.

Fields are read in number order; a twin's exact field is preferred to the spec's narrow one;
``extra`` is merged last so what the producer sent wins over any typed approximation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from google.protobuf.descriptor import FieldDescriptor

from schemas._values import FLOAT_TYPES, from_value, internal_fields, is_map, number_out

if TYPE_CHECKING:
    from collections.abc import Callable

    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

__all__ = ["field_out", "to_dict"]

_STRUCT, _VALUE, _LIST, _TIMESTAMP = (
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Timestamp",
)


def _out(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name == _STRUCT:
            return {k: from_value(v) for k, v in value.fields.items()}
        if name == _VALUE:
            return from_value(value)
        if name == _LIST:
            return [from_value(v) for v in value.values]
        if name == _TIMESTAMP:
            return value.ToJsonString()
        return to_dict(value)
    if field.type in FLOAT_TYPES:
        return number_out(value)
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    return value


def _has(msg: Message, field: FieldDescriptor) -> bool:
    if field.is_repeated:
        return len(getattr(msg, field.name)) > 0
    if field.has_presence:
        return msg.HasField(field.name)
    return bool(getattr(msg, field.name) != field.default_value)


def field_out(msg: Message, field: FieldDescriptor) -> Any:
    """One set field of ``msg`` as JSON."""
    value = getattr(msg, field.name)
    if is_map(field):
        value_field = cast("Descriptor", field.message_type).fields_by_name["value"]
        return {k: _out(value_field, v) for k, v in value.items()}
    if field.is_repeated:
        return [_out(field, v) for v in value]
    return _out(field, value)


def to_dict(msg: Message) -> dict[str, Any]:
    """``msg`` as the JSON object it was filled from (``extra`` merged back on top)."""
    desc = cast("Descriptor", msg.DESCRIPTOR)
    fields = desc.fields_by_name
    internal = internal_fields(desc)
    out: dict[str, Any] = {}
    for field in desc.fields:
        if field.name in internal:
            continue
        twin = fields.get(f"{field.name}_exact")
        if twin is not None and _has(msg, twin):
            out[field.name] = field_out(msg, twin)
        elif _has(msg, field):
            out[field.name] = field_out(msg, field)
    hook = _OUT_HOOKS.get(desc.full_name)
    if hook is not None:
        hook(msg, out)
    if "extra" in fields and msg.HasField("extra"):
        out.update({k: from_value(v) for k, v in msg.extra.fields.items()})  # type: ignore[attr-defined]
    return out


def _deck(msg: Message, out: dict[str, Any]) -> None:
    """The way back of ``schemas._fill._deck``."""
    cards = [to_dict(card) for card in msg.deck]  # type: ignore[attr-defined]
    if msg.HasField("deck_info"):
        info = to_dict(msg.deck_info)  # type: ignore[attr-defined]
        out["deck"] = {"full_deck": cards, **info} if cards else info
    elif cards:
        out["deck"] = cards


_OUT_HOOKS: dict[str, Callable[[Message, dict[str, Any]], None]] = {
    "jimbot.events.v1.GameStateEvent": _deck,
}
