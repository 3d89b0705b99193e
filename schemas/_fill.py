"""Plain JSON -> our protobuf messages, by descriptor, losing nothing.

A JSON key fills the field of the same name when its value fits the field's type. Anything
else lands in the message's ``extra`` Struct under its own key: a key nobody modelled, a value
of the wrong JSON type, a number the field would round (float32, int32), and an empty list or
object (so ``[]`` is not confused with "absent"). On the way back ``extra`` overrides the typed
fields, so ``to_dict(fill(json)) == json`` for any input, and typed readers still see every
value that fits. ``schemas._read`` is the way back.

Twins: when a message has ``X`` and ``X_exact`` (a spec field whose type is too narrow, and our
exact one), JSON ``X`` fills ``X_exact`` and a best-effort ``X`` for the spec's readers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from google.protobuf.descriptor import FieldDescriptor

from schemas import _plan
from schemas._errors import SchemaDecodeError
from schemas._plan import Plan, add_plain, plan_of, set_plain
from schemas._twins import COMPAT
from schemas._values import (
    FLOAT_TYPES,
    is_map,
    is_number,
    same,
    struct_from,
    to_float,
    to_value,
)

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

__all__ = ["fill"]

FD = FieldDescriptor
_SET, _KEEP, _EXTRA = 0, 1, 2  # typed only / typed and also kept in extra / extra only
_INT_RANGE: dict[int, tuple[int, int]] = {
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), (0, 2**64 - 1)),
}
_STRUCT, _VALUE, _LIST, _TIMESTAMP = (
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Timestamp",
)


# -- scalars ----------------------------------------------------------------------------------


def _lax(value: str, kind: int) -> Any:
    """The mod writes array items as strings ("1", "true"); read them as the field's type."""
    if kind == FD.TYPE_BOOL and value in ("true", "false"):
        return value == "true"
    if kind in _INT_RANGE or kind in FLOAT_TYPES:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if kind in _INT_RANGE and number.is_integer() else number
    return value


def _scalar(field: FieldDescriptor, value: Any, *, lax: bool = False) -> tuple[bool, Any]:
    kind = field.type
    if lax and isinstance(value, str):
        value = _lax(value, kind)
    if kind == FD.TYPE_STRING:
        return isinstance(value, str), value
    if kind == FD.TYPE_BOOL:
        return isinstance(value, bool), value
    if kind in _INT_RANGE:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        low, high = _INT_RANGE[kind]
        fits = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return fits, value
    if kind in FLOAT_TYPES:
        if is_number(value) and abs(value) > 2**1023:
            return True, to_float(value)  # an int past the double range: protobuf refuses it
        return is_number(value), value
    if kind == FD.TYPE_ENUM:
        if isinstance(value, str) and field.enum_type is not None:
            found = field.enum_type.values_by_name.get(value)
            return found is not None, found.number if found is not None else value
        in_range = (
            isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
        )
        return in_range, value
    return False, value


# -- filling a message ------------------------------------------------------------------------


def _set_message(sub: Message, value: Any) -> int:
    name = sub.DESCRIPTOR.full_name
    if name == _STRUCT:
        if not isinstance(value, Mapping):
            return _EXTRA
        sub.CopyFrom(struct_from(value))
    elif name == _VALUE:
        sub.CopyFrom(to_value(value))
    elif name == _LIST:
        if not isinstance(value, list):
            return _EXTRA
        sub.CopyFrom(to_value(value).list_value)
    elif name == _TIMESTAMP:
        try:
            sub.FromJsonString(value)  # type: ignore[attr-defined]
        except (ValueError, TypeError, AttributeError):
            return _EXTRA
        # RFC 3339 text with an offset or odd precision reads back differently: keep it too.
        return _SET if sub.ToJsonString() == value else _KEEP  # type: ignore[attr-defined]
    elif isinstance(value, Mapping):
        sub.SetInParent()
        fill(sub, value)
    else:
        return _EXTRA
    return _SET


def _set_field(msg: Message, field: FieldDescriptor, value: Any) -> int:
    """Set one field from a JSON value; says whether ``extra`` must keep the value too."""
    if is_map(field):
        return _set_map(msg, field, value)
    if field.is_repeated:
        return _set_repeated(msg, field, value)
    if field.message_type is not None:
        if value is None:
            return _EXTRA
        sub = getattr(msg, field.name)
        status = _set_message(sub, value)
        if status == _EXTRA:
            msg.ClearField(field.name)
        return status
    ok, converted = _scalar(field, value)
    if not ok:
        return _EXTRA
    try:
        setattr(msg, field.name, converted)
    except (ValueError, TypeError):
        return _EXTRA
    if not field.has_presence and not converted:
        return _KEEP  # a default value of an implicit-presence field would vanish
    expected = value if is_number(value) else converted  # an enum name reads back as a number
    return _SET if same(getattr(msg, field.name), expected) else _KEEP


def _is_list(field: FieldDescriptor | None) -> bool:
    if field is None or not field.is_repeated:
        return False
    return not is_map(field)


def _kept(field: FieldDescriptor | None, value: Any) -> Any:
    """What ``extra`` keeps: the value as sent, but the mod's ``{}`` as ``[]`` for a list."""
    return [] if value == {} and _is_list(field) else value


def _set_repeated(msg: Message, field: FieldDescriptor, value: Any) -> int:
    if value == {} or value == []:
        return _EXTRA  # the key was sent, empty: extra keeps it (as [])
    if not isinstance(value, list):
        return _EXTRA
    target = getattr(msg, field.name)
    if field.message_type is not None:
        if field.message_type.full_name in (_VALUE, _STRUCT):
            item_plan = None  # items are any JSON: only _set_message knows them
        elif all(isinstance(item, Mapping) for item in value):
            item_plan = plan_of(field.message_type, _IN_HOOKS)
        else:
            return _EXTRA
        for item in value:
            if item_plan is not None and add_plain(target, item_plan, item):
                continue
            if _set_message(target.add(), item) == _EXTRA:
                msg.ClearField(field.name)
                return _EXTRA
        return _SET
    converted = [_scalar(field, item, lax=True) for item in value]
    if not all(ok for ok, _ in converted):
        return _EXTRA
    items = [item for _, item in converted]
    try:
        target.extend(items)
    except (ValueError, TypeError):
        msg.ClearField(field.name)
        return _EXTRA
    return _SET if all(same(a, b) for a, b in zip(target, items, strict=True)) else _KEEP


def _set_map(msg: Message, field: FieldDescriptor, value: Any) -> int:
    if value == {} or value == []:
        return _EXTRA
    if not isinstance(value, Mapping):
        return _EXTRA
    target = getattr(msg, field.name)
    value_field = cast("Descriptor", field.message_type).fields_by_name["value"]
    if value_field.message_type is not None:
        if not all(isinstance(item, Mapping) for item in value.values()):
            return _EXTRA
        for key, item in value.items():
            _set_message(target[str(key)], item)
        return _SET
    converted = {str(k): _scalar(value_field, v) for k, v in value.items()}
    if not all(ok for ok, _ in converted.values()):
        return _EXTRA
    try:
        target.update({k: v for k, (_, v) in converted.items()})
    except (ValueError, TypeError):
        msg.ClearField(field.name)
        return _EXTRA
    return _SET if all(same(target[k], v) for k, v in value.items()) else _KEEP


def fill(msg: Message, data: Mapping[str, Any]) -> None:
    """Fill ``msg`` from a JSON object, keeping what does not fit in ``msg.extra``.

    Raises:
        SchemaDecodeError: ``msg`` has no ``extra`` field and ``data`` has a key that does not
            fit it.
    """
    plan = plan_of(cast("Descriptor", msg.DESCRIPTOR), _IN_HOOKS)
    plain = plan.plain if _plan.FAST_PATH else {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        check = plain.get(key)
        if check is not None and check(value) and set_plain(msg, key, value):
            continue
        status, field = _fill_key(msg, plan, key, value)
        if status != _SET:
            extra[key] = _kept(field, value)
    if not extra:
        return
    if plan.has_extra:
        msg.extra.CopyFrom(struct_from(extra))  # type: ignore[attr-defined]
    elif any(k not in plan.fields for k in extra):
        unknown = ", ".join(sorted(k for k in extra if k not in plan.fields))
        raise SchemaDecodeError(plan.full_name, f"unknown field(s): {unknown}")


def _fill_key(msg: Message, plan: Plan, key: str, value: Any) -> tuple[int, FieldDescriptor | None]:
    """The general path for one key: its status and the field it names (if any)."""
    hook = plan.hooks.get(key)
    field = None if key in plan.internal else plan.fields.get(key)
    if hook is not None:
        return hook(msg, value), field
    if field is None:
        return _EXTRA, None
    twin = plan.twins.get(key)
    if twin is None:
        return _set_field(msg, field, value), field
    status = _set_field(msg, twin, value)
    if status != _EXTRA:
        COMPAT[(plan.full_name, key)](msg, value)
    return status, field


# -- message-specific rules -------------------------------------------------------------------

_GAME_STATE = "jimbot.events.v1.GameStateEvent"


def _deck(msg: Message, value: Any) -> int:
    """The mod's ``deck`` object: ``full_deck`` fills the spec's ``deck`` cards (so the several
    kB are not stored twice), the rest fills ``deck_info``. A plain card list fills ``deck``."""
    field = cast("Descriptor", msg.DESCRIPTOR).fields_by_name["deck"]
    if isinstance(value, list):
        return _set_field(msg, field, value)
    if not isinstance(value, Mapping):
        return _EXTRA
    rest = {k: v for k, v in value.items() if k != "full_deck"}
    if "full_deck" in value and _set_field(msg, field, value["full_deck"]) != _SET:
        rest["full_deck"] = _kept(field, value["full_deck"])  # deck_info.extra keeps it
    info = msg.deck_info  # type: ignore[attr-defined]
    info.SetInParent()
    fill(info, rest)
    return _SET


_IN_HOOKS: dict[tuple[str, str], Callable[[Message, Any], int]] = {(_GAME_STATE, "deck"): _deck}
