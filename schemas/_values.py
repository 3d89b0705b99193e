"""Plain JSON values <-> ``google.protobuf.Value`` / ``Struct``, keeping non-finite numbers.

Struct numbers are doubles, so on the way back integral values come out as ``int`` (as JSON
would show them); an ``int`` beyond 2^53 cannot be held exactly and becomes the nearest double.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from schemas._errors import SchemaDecodeError

__all__ = [
    "FLOAT_TYPES",
    "from_value",
    "internal_fields",
    "is_map",
    "is_number",
    "number_out",
    "same",
    "struct_from",
    "to_float",
    "to_value",
]

FLOAT_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)

# Fields a message-specific rule owns (see schemas._fill / schemas._read), per message.
_MANAGED: dict[str, frozenset[str]] = {
    "jimbot.events.v1.GameStateEvent": frozenset({"deck", "deck_info"}),
}


_INTERNAL: dict[str, frozenset[str]] = {}
_MAPS: dict[str, bool] = {}


def internal_fields(desc: Descriptor) -> frozenset[str]:
    """Fields no JSON key maps to directly: ``extra``, exact twins, rule-owned fields."""
    found = _INTERNAL.get(desc.full_name)
    if found is None:
        names = desc.fields_by_name
        twins = {n for n in names if n.endswith("_exact") and n.removesuffix("_exact") in names}
        found = frozenset({"extra", *twins, *_MANAGED.get(desc.full_name, ())})
        _INTERNAL[desc.full_name] = found
    return found


def is_map(field: FieldDescriptor) -> bool:
    """True for a ``map<…>`` field (asking the descriptor's options each time is slow)."""
    found = _MAPS.get(field.full_name)
    if found is None:
        entry = field.message_type
        found = _MAPS[field.full_name] = entry is not None and entry.GetOptions().map_entry
    return found


def is_number(value: Any) -> bool:
    """True for int and float, not bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def number_out(value: float) -> int | float:
    """A double as JSON would show it: integral values as ``int``.

    Non-finite values, -0.0 and integral values past 2^53 stay ``float``.
    """
    negative_zero = value == 0 and math.copysign(1, value) < 0
    if value.is_integer() and abs(value) <= 2**53 and not negative_zero:
        return int(value)
    return value


def to_float(value: int | float) -> float:
    """``float(value)``, saturating ints beyond the double range to infinity."""
    try:
        return float(value)
    except OverflowError:  # an int beyond the double range
        return math.inf if value > 0 else -math.inf


def _text(text: str) -> str:
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:  # protobuf strings must be valid UTF-8
            raise SchemaDecodeError("string", f"not valid Unicode ({exc.reason})") from exc
    return text


def to_value(obj: Any, out: struct_pb2.Value | None = None) -> struct_pb2.Value:
    """A plain JSON value as a ``Value`` (non-finite numbers kept; huge ints become doubles).

    Raises:
        SchemaDecodeError: ``obj`` holds something JSON cannot (a lone surrogate, an object).
    """
    out = struct_pb2.Value() if out is None else out
    if obj is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        out.bool_value = obj
    elif is_number(obj):
        out.number_value = to_float(obj)
    elif isinstance(obj, str):
        out.string_value = _text(obj)
    elif isinstance(obj, Mapping):
        out.struct_value.SetInParent()
        for key, item in obj.items():
            to_value(item, out.struct_value.fields[_text(str(key))])
    elif isinstance(obj, list | tuple):
        out.list_value.SetInParent()
        for item in obj:
            to_value(item, out.list_value.values.add())
    else:
        raise SchemaDecodeError("value", f"{type(obj).__name__} is not a JSON type")
    return out


def struct_from(obj: Mapping[str, Any]) -> struct_pb2.Struct:
    """A plain JSON object as a ``Struct``."""
    return to_value(obj).struct_value


def from_value(value: struct_pb2.Value) -> Any:
    """A ``Value`` as a plain JSON value."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return number_out(value.number_value)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {k: from_value(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [from_value(v) for v in value.list_value.values]
    return None
