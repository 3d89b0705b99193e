"""Per-message lookups for ``schemas._fill``, computed once per descriptor, and its fast path.

Walking a field descriptor per JSON key (map? repeated? message? twin? hook?) costs ~2 µs a
key in Python; a card of 7 keys cost ~19 µs where ``Card(**raw)`` costs ~0.9 µs. Most keys the
mod sends are *plain*: an ``optional`` scalar field (string, bool, integer, double) with no
twin, no message-specific rule, and a value of exactly the Python type protobuf stores
unchanged. For such a key the general path always ends in ``setattr`` and never touches
``extra``, so setting it directly gives the same message, byte for byte. Anything else (an
enum, a float32 that would round, an implicit-presence field whose default would vanish, a
``3.0`` for an int field, an int a double cannot hold) takes the general path.

``FAST_PATH = False`` forces the general path everywhere (the tests compare both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf.descriptor import FieldDescriptor

from schemas._values import internal_fields, is_map

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

__all__ = ["FAST_PATH", "Hook", "Plan", "add_plain", "all_plain", "plan_of", "set_plain"]

FAST_PATH = True
"""False: ``schemas._fill`` takes the general path for every key (for tests and profiling)."""

FD = FieldDescriptor
Check = Callable[[Any], bool]
Hook = Callable[["Message", Any], int]


def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _int_check(low: int, high: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


def _is_double(value: Any) -> bool:
    """A float, or an int a double holds exactly (the general path keeps others in extra)."""
    kind = type(value)
    return kind is float or (kind is int and -(2**53) <= value <= 2**53)


_INT32, _INT64 = _int_check(-(2**31), 2**31 - 1), _int_check(-(2**63), 2**63 - 1)
_UINT32, _UINT64 = _int_check(0, 2**32 - 1), _int_check(0, 2**64 - 1)
_CHECKS: dict[int, Check] = {
    FD.TYPE_STRING: _is_str,
    FD.TYPE_BOOL: _is_bool,
    FD.TYPE_DOUBLE: _is_double,
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), _INT32),
    **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), _INT64),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), _UINT32),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), _UINT64),
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``fill`` needs to know about one message type, looked up once."""

    full_name: str
    fields: Mapping[str, FieldDescriptor]
    internal: frozenset[str]
    twins: dict[str, FieldDescriptor]
    """JSON key -> its ``<key>_exact`` twin field."""
    plain: dict[str, Check]
    """JSON key -> whether a value can be set directly (see the module docstring)."""
    hooks: Mapping[str, Hook]
    """JSON key -> the message-specific rule that fills it."""
    has_extra: bool


_PLANS: dict[str, Plan] = {}


def _plain_check(field: FieldDescriptor, plan_twins: dict[str, FieldDescriptor]) -> Check | None:
    if field.is_repeated or field.message_type is not None or not field.has_presence:
        return None
    if field.name in plan_twins:
        return None
    oneof = field.containing_oneof
    if oneof is not None and len(oneof.fields) > 1:
        return None  # a real oneof: which member wins would depend on the order of keys
    return _CHECKS.get(field.type)


def plan_of(desc: Descriptor, all_hooks: Mapping[tuple[str, str], Hook]) -> Plan:
    """The plan of ``desc``; ``all_hooks``: (message, key) -> the rule that fills that key."""
    found = _PLANS.get(desc.full_name)
    if found is not None:
        return found
    fields = desc.fields_by_name
    hooks = {key: hook for (name, key), hook in all_hooks.items() if name == desc.full_name}
    internal = internal_fields(desc)
    twins = {
        name: twin
        for name in fields
        if name not in internal and (twin := fields.get(f"{name}_exact")) is not None
    }
    plain: dict[str, Check] = {}
    for name, field in fields.items():
        check = _plain_check(field, twins)
        if check is not None and name not in internal and name not in hooks and not is_map(field):
            plain[name] = check
    found = Plan(desc.full_name, fields, internal, twins, plain, hooks, "extra" in fields)
    _PLANS[desc.full_name] = found
    return found


def all_plain(plan: Plan, data: Mapping[str, Any]) -> bool:
    """True when every key of ``data`` can be set directly (``FAST_PATH`` on)."""
    if not FAST_PATH:
        return False
    plain = plan.plain
    for key, value in data.items():
        check = plain.get(key)
        if check is None or not check(value):
            return False
    return True


def set_plain(msg: Message, key: str, value: Any) -> bool:
    """The fast path for one plain key (see the module docstring); False: take the general one."""
    try:
        setattr(msg, key, value)
    except (ValueError, TypeError):  # e.g. a lone surrogate: the general path keeps it
        return False
    return True


def add_plain(target: Any, plan: Plan, item: Mapping[str, Any]) -> bool:
    """Append ``item`` in one call when every key is plain; False: nothing was appended."""
    if not all_plain(plan, item):
        return False
    count = len(target)
    try:
        target.add(**item)
    except (ValueError, TypeError):
        del target[count:]
        return False
    return True
