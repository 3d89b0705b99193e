"""Tolerant JSON for the BalatroMCP mod's hand-made encoder, and a JSON writer that keeps it.

The mod writes numbers with Lua's ``tostring``, so late-game scores arrive as bare ``inf``,
``-inf``, ``nan`` or ``-nan`` tokens, which are not JSON, and it does not escape strings inside
arrays. :func:`decode_json` first tries msgspec as is (the fast path, taken by almost every
body); only when that fails does it run a pre-pass that rewrites, outside string literals,
each non-finite token into a number literal, and inside string literals escapes raw control
characters and stray backslashes, then decodes with a ``float_hook`` that turns those
literals (and any number past the double range) into ``inf`` / ``-inf`` / ``nan``.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from typing import Any

import msgspec

from schemas._errors import SchemaDecodeError

__all__ = ["decode_json", "encode_json"]

# Bare tokens become number literals the lenient decoder's float_hook reads back: infinities
# as exponents past the double range (float() saturates), NaN as one absurd literal.
_INF, _NEG_INF, _NAN = b"1e999999", b"-1e999999", b"1.7e777777777"

# The body splits into string literals (odd parts: never searched for tokens) and the JSON
# between them (even parts), where the bare tokens live: LuaJIT's inf / nan, MSVC Lua's
# 1.#INF / 1.#IND, Python's Infinity / NaN.
_STRING = re.compile(rb'("(?:[^"\\]|\\.)*")', re.DOTALL)
_TOKEN = re.compile(
    rb"(?<![\w.])(?P<sign>[-+]?)(?P<word>Infinity|inf|NaN|nan|1\.#(?:INF|IND|QNAN|SNAN)\d*)(?![\w.#])"
)
_NEEDS_FIX = re.compile(rb"[\x00-\x1f\\]")
_CONTROL = re.compile(rb"[\x00-\x1f]")
_BAD_ESCAPE = re.compile(rb'\\(?=[^"\\/bfnrtu]|u(?![0-9a-fA-F]{4}))')


def _float(text: str) -> float:
    return math.nan if text == _NAN.decode() else float(text)


# Used only on the slow path: a Python call per float is too slow for every body.
_LENIENT = msgspec.json.Decoder(float_hook=_float)


def _fix_string(literal: bytes) -> bytes:
    body = _BAD_ESCAPE.sub(rb"\\\\", literal[1:-1])
    body = _CONTROL.sub(lambda m: b"\\u%04x" % m.group()[0], body)
    return b'"' + body + b'"'


def _token(match: re.Match[bytes]) -> bytes:
    if match.group("word").lower().startswith((b"inf", b"1.#inf")):
        return _NEG_INF if match.group("sign") == b"-" else _INF
    return _NAN  # -nan / -1.#IND are NaN too: a sign on NaN carries nothing


def _inside_strings(data: bytes, hits: list[re.Match[bytes]]) -> list[bool]:
    """Whether each hit sits inside a string literal."""
    if b"\\" not in data:
        # No escapes anywhere: the parity of the quotes before a hit says it (C-speed counts).
        inside, seen, last = [], 0, 0
        for hit in hits:
            seen += data.count(b'"', last, hit.start())
            last = hit.start()
            inside.append(seen % 2 == 1)
        return inside
    spans = [m.span() for m in _STRING.finditer(data)]
    starts = [start for start, _ in spans]
    found = []
    for hit in hits:
        i = bisect.bisect_right(starts, hit.start()) - 1
        found.append(i >= 0 and spans[i][1] > hit.start())
    return found


def _repair_tokens(data: bytes) -> bytes:
    """Rewrite the bare tokens only (the common case): C-speed scans, a Python step per hit."""
    hits = list(_TOKEN.finditer(data))
    if not hits:
        return data
    out: list[bytes] = []
    last = 0
    for hit, inside in zip(hits, _inside_strings(data, hits), strict=True):
        if not inside:  # inside a string literal it is text, not a number
            out += [data[last : hit.start()], _token(hit)]
            last = hit.end()
    out.append(data[last:])
    return b"".join(out)


def _repair_all(data: bytes) -> bytes:
    """Rewrite the tokens and repair every string literal (slower: a step per literal)."""
    parts = _STRING.split(data)
    for i, part in enumerate(parts):
        if i % 2 == 0:
            parts[i] = _TOKEN.sub(_token, part)
        elif _NEEDS_FIX.search(part, 1, len(part) - 1):
            parts[i] = _fix_string(part)
    return b"".join(parts)


def decode_json(raw: bytes | bytearray | memoryview | str, *, what: str = "JSON body") -> Any:
    """Decode JSON the way the mod writes it, into plain Python values.

    Args:
        raw: the body.
        what: names the input in the error message.

    Returns:
        dicts, lists, str, int, float (possibly ``inf``/``nan``), bool and None.

    Raises:
        SchemaDecodeError: the body is not JSON even after the repairs above.
    """
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if not data.strip():
        raise SchemaDecodeError(what, "the body is empty")
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as first:
        error: msgspec.DecodeError = first
        for repair in (_repair_tokens, _repair_all):
            try:
                return _LENIENT.decode(repair(data))
            except msgspec.DecodeError as exc:
                error = exc
        # Report the first error: its byte offset points into the body as it was sent.
        raise SchemaDecodeError(what, f"not valid JSON ({first})") from error


def encode_json(obj: Any) -> bytes:
    """Encode plain Python values as compact JSON that :func:`decode_json` reads back exactly.

    Non-finite floats are written as ``Infinity`` / ``-Infinity`` / ``NaN`` (as Python's json
    module does) rather than silently becoming ``null``, which is what msgspec would do.
    """
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode()
