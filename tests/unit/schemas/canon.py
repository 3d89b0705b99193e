"""Equality for JSON values the way the codec promises it: NaN equals NaN, ``300 == 300.0``,
but ``True`` is not ``1``; and the mod's ``{}`` for an empty list reads as ``[]``."""

from __future__ import annotations

import math
from typing import Any


def same_json(a: Any, b: Any) -> bool:
    """Deep equality of plain JSON values (see the module docstring)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def empty_objects_as_lists(value: Any, keys: frozenset[str]) -> Any:
    """``value`` with each ``{}`` under one of ``keys`` (list fields) written as ``[]``."""
    if isinstance(value, dict):
        return {
            k: [] if v == {} and k in keys else empty_objects_as_lists(v, keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [empty_objects_as_lists(v, keys) for v in value]
    return value
