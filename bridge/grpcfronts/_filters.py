"""The consumer filter subjects of a ``SubscribeRequest``: its ``types`` and relative
``subjects``, checked, made absolute, and with any filter another one covers dropped (the
server refuses overlapping filters on one consumer).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import subjects
from bridge.grpcfronts._rejects import InvalidInput
from schemas import events_pb2
from subjects import event_filter

if TYPE_CHECKING:
    from collections.abc import Iterable

    from subjects import Names

MAX_FILTERS = 64
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_KNOWN_TYPES = frozenset(events_pb2.EventType.values())
_DURABLE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def type_filter(event_type: events_pb2.EventType.ValueType) -> str:
    """The relative filter for every event of ``event_type`` (all custom types for CUSTOM)."""
    if event_type not in _KNOWN_TYPES:
        raise InvalidInput(f"types: {event_type} is not a known EventType (0-{max(_KNOWN_TYPES)})")
    if event_type == events_pb2.CUSTOM:
        return subjects.CUSTOM_EVENTS
    return event_filter(events_pb2.EventType.Name(event_type))


def check_subject(relative: str) -> str:
    """A relative filter under ``events.``: tokens of ``[A-Za-z0-9_-]``, ``*``, or a final ``>``."""
    rule = "use a subject relative to the prefix under events., e.g. events.game.>"
    tokens = relative.split(".")
    if len(tokens) < 2 or tokens[0] != "events":
        raise InvalidInput(f"subjects: {relative!r} is not under events.: {rule}")
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        if token == "*" or (token == ">" and last) or _TOKEN.match(token):
            continue
        raise InvalidInput(f"subjects: {relative!r} has an invalid token {token!r}: {rule}")
    return relative


def covers(wide: str, narrow: str) -> bool:
    """Whether every subject ``narrow`` matches is matched by ``wide`` too."""
    a, b = wide.split("."), narrow.split(".")
    for i, token in enumerate(a):
        if token == ">":
            return len(b) > i
        if i >= len(b) or b[i] == ">":
            return False
        if token != "*" and token != b[i]:
            return False
    return len(a) == len(b)


def minimal(filters: Iterable[str]) -> list[str]:
    """``filters`` without duplicates and without any another one covers, in first-seen order."""
    unique = list(dict.fromkeys(filters))
    return [f for f in unique if not any(g != f and covers(g, f) for g in unique)]


def filter_subjects(request: events_pb2.SubscribeRequest, names: Names) -> list[str]:
    """Absolute filter subjects of ``request`` (every event when it names none).

    Raises:
        InvalidInput: an unknown type, a bad subject, or too many filters.
    """
    relative = [type_filter(t) for t in request.types]
    relative += [check_subject(s) for s in request.subjects]
    if len(relative) > MAX_FILTERS:
        raise InvalidInput(f"{len(relative)} filters; the limit is {MAX_FILTERS}")
    return [names.subject(s) for s in minimal(relative or [subjects.ALL_EVENTS])]


def check_durable(durable: str) -> str:
    """A durable name a client may choose: 1-64 of ``[A-Za-z0-9_-]``."""
    if not _DURABLE.match(durable):
        raise InvalidInput(f"durable {durable!r}: use 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return durable
