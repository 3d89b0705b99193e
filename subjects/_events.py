"""Which subject an event of a given type lands on.

The mapping is by the type *string* the producers send (``GAME_STATE``, ``SCORING`` + subtype),
so the gateway can route before it has decoded a payload. A type nobody knows yet goes under
``events.custom.<type>``: kept, never dropped.
"""

from __future__ import annotations

import re

from subjects import _names as n

_FIXED: dict[str, str] = {
    "GAME_STATE": n.GAME_STATE_UPDATE,
    "HEARTBEAT": n.HEARTBEAT,
    "MONEY_CHANGED": n.MONEY_CHANGED,
    "SCORE_CHANGED": n.SCORE_CHANGED,
    "HAND_PLAYED": n.HAND_PLAYED,
    "CARDS_DISCARDED": n.CARDS_DISCARDED,
    "JOKERS_CHANGED": n.JOKERS_CHANGED,
    "ROUND_CHANGED": n.ROUND_CHANGED,
    "PHASE_CHANGED": n.PHASE_CHANGED,
    "ROUND_COMPLETE": n.ROUND_COMPLETE,
    "JOKER_TRIGGER": n.JOKER_TRIGGER,
    "LEARNING_DECISION": n.LEARNING_DECISION,
    "STRATEGY_REQUEST": n.STRATEGY_REQUEST,
    "STRATEGY_RESPONSE": n.STRATEGY_RESPONSE,
    "KNOWLEDGE_UPDATE": n.KNOWLEDGE_UPDATE,
    "KNOWLEDGE_QUERY": "events.knowledge.query",
    "AGENT_PERCEPT": n.AGENT_PERCEPT,
    "AGENT_ACTION": n.AGENT_ACTION,
    "CONNECTION_TEST": "events.system.connection_test",
    "DIAGNOSTIC": "events.system.diagnostic",
}

# Types whose last token comes from the event (subtype, metric name, component, kind).
_PARAMETRIC: dict[str, str] = {
    "SCORING": "events.game.scoring",
    "METRIC": "events.metrics",
    "ERROR": "events.error",
    "RESOURCE": "events.resource",
}

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def event_token(text: str) -> str:
    """A string made safe to be one subject token: lower case, ``[a-z0-9_-]``, never empty."""
    token = _UNSAFE.sub("_", text.strip().lower()).strip("_")
    return token[:64] or "unknown"


def event_subject(event_type: str, detail: str | None = None) -> str:
    """The relative subject for an event type.

    Args:
        event_type: the producer's type string, any case (``GAME_STATE``, ``connection_test``).
        detail: the subtype of ``SCORING``, the metric name of ``METRIC``, the component of
            ``ERROR`` or the kind of ``RESOURCE``; ignored for other types.

    Returns:
        e.g. ``events.game.state.update`` or ``events.game.scoring.hand_eval_start``.
    """
    key = event_type.strip().upper()
    if key in _FIXED:
        return _FIXED[key]
    if key in _PARAMETRIC:
        return f"{_PARAMETRIC[key]}.{event_token(detail or 'unspecified')}"
    return f"events.custom.{event_token(event_type)}"


def event_filter(event_type: str) -> str:
    """The relative subject filter for every event of a type (all subtypes of ``SCORING``)."""
    key = event_type.strip().upper()
    if key in _PARAMETRIC:
        return f"{_PARAMETRIC[key]}.*"
    return event_subject(event_type)
