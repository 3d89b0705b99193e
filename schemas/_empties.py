"""The mod writes an empty list as ``{}``: rewrite it as ``[]`` wherever a model expects a list.

The rewrite is planned once per model from its msgspec type info, so at decode time only the
fields that can hold a list are visited (a 52-card deck of scalar-only cards costs one check
per list, not one per card field). The input is never mutated: a changed object is copied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import inspect as mi

__all__ = ["lists_for_empty_objects"]

Fix = Callable[[Any], Any]
_PLANS: dict[object, Fix | None] = {}
_BUILDING: set[object] = set()


def _fix_list(item: Fix | None) -> Fix:
    def fix(value: Any) -> Any:
        if value == {}:
            return []
        if item is not None and isinstance(value, list):
            return [item(v) for v in value]
        return value

    return fix


def _fix_object(fields: dict[str, Fix]) -> Fix:
    def fix(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] | None = None
        for key, field in fields.items():
            if key in value:
                new = field(value[key])
                if new is not value[key]:
                    out = dict(value) if out is None else out
                    out[key] = new
        return value if out is None else out

    return fix


def _fix_values(inner: Fix) -> Fix:
    def fix(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: inner(v) for k, v in value.items()}

    return fix


def _fix_union(obj: Fix | None, has_object: bool, arr: Fix | None) -> Fix:
    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            if has_object:
                return obj(value) if obj is not None else value
            return [] if not value and arr is not None else value
        if isinstance(value, list) and arr is not None:
            return arr(value)
        return value

    return fix


def _struct_plan(t: mi.StructType) -> Fix | None:
    key = t.cls
    if key in _PLANS:
        return _PLANS[key]
    if key in _BUILDING:  # a recursive model (ModEvent.changes): resolve when called
        return lambda value: (_PLANS[key] or (lambda v: v))(value)
    _BUILDING.add(key)
    try:
        fields = {f.encode_name: p for f in t.fields if (p := plan(f.type)) is not None}
    finally:
        _BUILDING.discard(key)
    _PLANS[key] = _fix_object(fields) if fields else None
    return _PLANS[key]


def plan(t: mi.Type) -> Fix | None:
    """The rewrite for values of type ``t``, or ``None`` when nothing in it can be a list."""
    if isinstance(t, mi.ListType):
        return _fix_list(plan(t.item_type))
    if isinstance(t, mi.StructType):
        return _struct_plan(t)
    if isinstance(t, mi.DictType):
        inner = plan(t.value_type)
        return None if inner is None else _fix_values(inner)
    if isinstance(t, mi.UnionType):
        objects = [m for m in t.types if isinstance(m, mi.StructType | mi.DictType)]
        arrays = [m for m in t.types if isinstance(m, mi.ListType)]
        obj = plan(objects[0]) if objects else None
        arr = plan(arrays[0]) if arrays else None
        return None if obj is None and arr is None else _fix_union(obj, bool(objects), arr)
    return None


def lists_for_empty_objects(value: Any, model: object) -> Any:
    """``value`` with each ``{}`` that ``model`` expects to be a list written as ``[]``."""
    if model not in _PLANS:
        _PLANS[model] = plan(mi.type_info(model))
    fix = _PLANS[model]
    return value if fix is None else fix(value)
