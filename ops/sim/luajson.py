"""The BalatroMCP mod's hand-made JSON encoder, byte for byte.

The mod does not use a JSON library: ``EventBusClient:table_to_json`` walks Lua tables and
concatenates strings. Its output is what the gateway must read, so the simulator writes the
same bytes instead of clean JSON:

- a table with no array part is an object, so an empty list is ``{}``;
- primitive array items are quoted ``tostring`` values, unescaped: ``[1,true]`` → ``["1","true"]``;
- a table nested in an array is always encoded as an object (a nested list becomes
  ``{"1":…,"2":…}``);
- numbers are Lua's ``tostring`` (``%.14g``): ``300``, ``0.5123``, ``1e+15``, and bare ``inf``,
  ``-inf``, ``nan``, ``-nan`` tokens, which are not JSON;
- strings escape only backslash, quote, newline, carriage return and tab;
- object keys come out in ``pairs`` order, arbitrary but stable for a table of a given shape;
  ``nil`` fields (``None`` here) are simply absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from random import Random

__all__ = ["FrozenArray", "FrozenTable", "LuaEncoder", "encode", "lua_number"]

_SPECIAL = re.compile(r'[\\"\n\r\t]')
_INF, _NINF = math.inf, -math.inf


class FrozenTable(dict[str, Any]):
    """A table its owner promises never to change: an encoder encodes it once and reuses the
    text (a deck card is sent in every GAME_STATE, unchanged)."""

    __slots__ = ()


class FrozenArray(tuple[Any, ...]):
    """An array encoded once per encoder and reused, like :class:`FrozenTable`."""

    __slots__ = ()


def lua_number(value: float) -> str:
    """Format a number as LuaJIT's ``tostring`` does (C ``%.14g``, ``inf``, ``-nan``)."""
    if type(value) is int:
        return f"{value:.14g}"
    if value != value:
        # C's printf keeps the sign bit of a NaN: inf - inf is "-nan" on x86.
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    if value == _INF:
        return "inf"
    if value == _NINF:
        return "-inf"
    return f"{value:.14g}"


def _escape(text: str) -> str:
    if _SPECIAL.search(text) is None:
        return text
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def _tostring(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return lua_number(value)
    return str(value)


class LuaEncoder:
    """Encodes mappings the way the mod does, with a stable shuffled key order per shape.

    Lua's ``pairs`` order depends on the table's hash layout: arbitrary, but the same for two
    tables built with the same keys. So each distinct key tuple gets one random permutation
    (from ``rng``) that is reused, which is both faithful and cheap. Without ``rng`` keys keep
    their insertion order, which tests use for byte-exact expectations.
    """

    def __init__(self, rng: Random | None = None) -> None:
        self._rng = rng
        self._orders: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._frozen: dict[int, tuple[object, str]] = {}

    def encode(self, table: Mapping[str, Any]) -> str:
        """Encode one top-level table (an event, a batch) to the mod's text."""
        out: list[str] = []
        self._object(table, out)
        return "".join(out)

    def _keys(self, table: Mapping[str, Any]) -> Sequence[str]:
        if self._rng is None:
            return list(table)
        shape = tuple(table)
        order = self._orders.get(shape)
        if order is None:
            shuffled = list(shape)
            self._rng.shuffle(shuffled)
            order = self._orders[shape] = tuple(shuffled)
        return order

    def _object(self, table: Mapping[str, Any], out: list[str], *, ordered: bool = False) -> None:
        if type(table) is FrozenTable:
            cached = self._frozen.get(id(table))
            if cached is None:
                text: list[str] = []
                self._fields(table, self._keys(table), text)
                # Keep the table alive with its text, so its id cannot be reused.
                cached = self._frozen[id(table)] = (table, "".join(text))
            out.append(cached[1])
            return
        self._fields(table, table if ordered else self._keys(table), out)

    def _fields(self, table: Mapping[str, Any], keys: Any, out: list[str]) -> None:
        # Scalars are inlined: this loop is the simulator's hottest code.
        append = out.append
        append("{")
        first = True
        for key in keys:
            value = table[key]
            if value is None:
                continue
            if first:
                first = False
            else:
                append(",")
            kind = type(value)
            if kind is str:
                append(f'"{key}":"{_escape(value)}"')
            elif kind is int:
                append(f'"{key}":{value:.14g}')
            elif kind is float and value - value == 0.0:  # finite
                append(f'"{key}":{value:.14g}')
            elif kind is bool:
                append(f'"{key}":true' if value else f'"{key}":false')
            else:
                append(f'"{key}":')
                self._value(value, out)
        append("}")

    def _value(self, value: Any, out: list[str]) -> None:
        kind = type(value)
        if kind is str:
            out.append(f'"{_escape(value)}"')
        elif kind is float or kind is int:
            out.append(lua_number(value))
        elif kind is bool:
            out.append("true" if value else "false")
        elif kind is list or kind is tuple:
            self._array(value, out)
        elif kind is dict or kind is FrozenTable:
            self._object(value, out)
        elif kind is FrozenArray:
            cached = self._frozen.get(id(value))
            if cached is None:
                text: list[str] = []
                self._array(value, text)
                cached = self._frozen[id(value)] = (value, "".join(text))
            out.append(cached[1])
        elif isinstance(value, Mapping):
            self._object(value, out)
        elif isinstance(value, str):
            out.append(f'"{_escape(value)}"')
        elif isinstance(value, int | float):  # bool subclasses int: handled above by type
            out.append(lua_number(value))
        elif isinstance(value, Sequence):
            self._array(value, out)
        else:
            out.append("null")

    def _array(self, items: Sequence[Any], out: list[str]) -> None:
        present = [item for item in items if item is not None]
        if not present:
            out.append("{}")
            return
        out.append("[")
        first = True
        for item in present:
            if first:
                first = False
            else:
                out.append(",")
            kind = type(item)
            if kind is FrozenTable or kind is dict or isinstance(item, Mapping):
                self._object(item, out)
            elif isinstance(item, list | tuple):
                # table_to_json(item) on an array: pairs() yields 1..n, in order, as keys.
                self._object({str(n): v for n, v in enumerate(item, 1)}, out, ordered=True)
            else:
                out.append(f'"{_tostring(item)}"')
        out.append("]")


def encode(table: Mapping[str, Any], *, rng: Random | None = None) -> str:
    """Encode ``table`` as the mod would; keys in insertion order unless ``rng`` is given."""
    return LuaEncoder(rng).encode(table)
