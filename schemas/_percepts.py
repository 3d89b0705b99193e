"""Percept payload formats: how the string an agent pushes is read (the bridge seed's
"pluggable serialization: JSON percept payload vs raw string").

The wire stays the contract's: ``Percept.payload`` is a string. A format says what that string
means, so the shim can refuse a payload that does not fit (``INVALID_ARGUMENT``, kept in the
dead-letter stream) and a policy gets the parsed value instead of re-parsing text:

- ``text`` (the default): any string, read as itself; the reference server's behaviour.
- ``json``: a JSON document, read as its value (object, list, number, ...).
- ``kv``: ``key=value`` items separated by ``;``, ``,``, ``&`` or new lines
  (``temperature=32C; battery=12%``), read as a ``{key: value}`` dict of strings.
- ``module:attribute``: your own ``str -> value`` callable, raising ``ValueError`` with the
  reason for a payload it refuses.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas._errors import JimbotError

__all__ = [
    "PERCEPT_FORMATS",
    "PERCEPT_FORMAT_ENV",
    "PERCEPT_FORMAT_FIX",
    "PerceptFormat",
    "PerceptFormatError",
    "percept_format",
]

Parse = Callable[[str], Any]
_KV_SEPARATORS = re.compile(r"[;,&\n]")


class PerceptFormatError(JimbotError):
    """Raised when a percept format name or import path cannot be loaded."""


def _text(payload: str) -> str:
    return payload


def _json(payload: str) -> Any:
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _kv(payload: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in _KV_SEPARATORS.split(payload):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"not key=value: {item.strip()[:40]!r}")
        pairs[key.strip()] = value.strip()
    return pairs


PERCEPT_FORMATS: dict[str, Parse] = {"text": _text, "json": _json, "kv": _kv}
"""The built-in formats by name."""
PERCEPT_FORMAT_ENV = "JIMBOT_AGENT_PERCEPT_FORMAT"
"""The variable naming the format, read alike by the shim and the agent workers."""
PERCEPT_FORMAT_FIX = "use text, json, kv or a <module>:<attribute> parser"
"""The fix a configuration error names."""


@dataclass(frozen=True, slots=True)
class PerceptFormat:
    """A named way to read percept payloads."""

    name: str
    parse: Parse
    """``payload -> value``; raises ``ValueError`` saying why a payload does not fit."""

    def check(self, payload: str) -> str | None:
        """Why ``payload`` does not fit this format, or ``None`` when it does."""
        try:
            self.parse(payload)
        except ValueError as exc:
            return f"percept payload is not {self.name}: {exc}"
        return None

    def read(self, payload: str) -> Any:
        """The parsed value; ``None`` for a payload that does not fit (say, one stored
        before the format was changed), so a policy can fall back to the raw text."""
        try:
            return self.parse(payload)
        except ValueError:
            return None


def percept_format(spec: str) -> PerceptFormat:
    """``text``, ``json``, ``kv`` or ``module:attribute``.

    Raises:
        PerceptFormatError: an unknown name, or an import path that does not load a callable.
    """
    spec = spec.strip() or "text"
    if spec in PERCEPT_FORMATS:
        return PerceptFormat(spec, PERCEPT_FORMATS[spec])
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        known = ", ".join(PERCEPT_FORMATS)
        raise PerceptFormatError(f"{spec!r} is not a percept format ({known} or module:attr)")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PerceptFormatError(f"{spec!r} does not load: {exc}") from None
    if not callable(target):
        raise PerceptFormatError(f"{spec!r} is not callable")
    return PerceptFormat(spec, target)
