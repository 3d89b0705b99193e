"""Which ``EventType`` a producer's type string means, and which message carries each payload.

Type strings are matched case-insensitively against the ``EventType`` names; anything else is
``CUSTOM`` and the envelope keeps the string in ``type_name``. ``SCORING`` and
``LEARNING_DECISION`` pick their payload message by ``subtype`` as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from google.protobuf import message_factory, struct_pb2

from schemas import agent_bridge_pb2, events_pb2

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

__all__ = [
    "EventTypeValue",
    "event_type_for",
    "event_type_name",
    "message_class",
    "payload_message_for",
    "payload_type_of",
    "type_string",
]

EventTypeValue: TypeAlias = events_pb2.EventType.ValueType
"""An ``EventType`` number (``events_pb2.HAND_PLAYED``...)."""

pb = events_pb2
_BY_TYPE: dict[EventTypeValue, type[Message]] = {
    pb.GAME_STATE: pb.GameStateEvent,
    pb.STRATEGY_REQUEST: pb.StrategyRequest,
    pb.STRATEGY_RESPONSE: pb.StrategyResponse,
    pb.KNOWLEDGE_QUERY: pb.KnowledgeQuery,
    pb.KNOWLEDGE_UPDATE: pb.KnowledgeUpdate,
    pb.METRIC: pb.MetricEvent,
    pb.ERROR: pb.ErrorEvent,
    pb.HEARTBEAT: pb.HeartbeatEvent,
    pb.MONEY_CHANGED: pb.MoneyChangedEvent,
    pb.SCORE_CHANGED: pb.ScoreChangedEvent,
    pb.HAND_PLAYED: pb.HandPlayedEvent,
    pb.CARDS_DISCARDED: pb.CardsDiscardedEvent,
    pb.JOKERS_CHANGED: pb.JokersChangedEvent,
    pb.ROUND_CHANGED: pb.RoundChangedEvent,
    pb.PHASE_CHANGED: pb.PhaseChangedEvent,
    pb.ROUND_COMPLETE: pb.RoundCompleteEvent,
    pb.JOKER_TRIGGER: pb.JokerTriggerEvent,
    pb.CONNECTION_TEST: pb.ConnectionTestEvent,
    pb.DIAGNOSTIC: pb.DiagnosticEvent,
    pb.AGENT_PERCEPT: pb.AgentPerceptEvent,
    pb.AGENT_ACTION: pb.AgentActionEvent,
    pb.RESOURCE: pb.ResourceEvent,
}
_BY_SUBTYPE: dict[tuple[EventTypeValue, str], type[Message]] = {
    (pb.SCORING, "HAND_EVAL_START"): pb.ScoringHandEvalStart,
    (pb.SCORING, "SCORE_UPDATE"): pb.ScoringScoreUpdate,
    (pb.SCORING, "JOKER_TRIGGER"): pb.ScoringJokerTrigger,
    (pb.SCORING, "HAND_EVAL_COMPLETE"): pb.ScoringHandEvalComplete,
    (pb.SCORING, "MULT_UPDATE"): pb.ScoringMultUpdate,
    (pb.SCORING, "CHIPS_UPDATE"): pb.ScoringChipsUpdate,
    (pb.LEARNING_DECISION, ""): pb.LearningDecisionRequest,
    (pb.LEARNING_DECISION, "REQUEST"): pb.LearningDecisionRequest,
    (pb.LEARNING_DECISION, "RESPONSE"): pb.LearningDecisionResponse,
}
# The other way: which type (and subtype) a payload message is published as.
_TYPE_OF: dict[str, tuple[EventTypeValue, str]] = {
    **{cls.DESCRIPTOR.full_name: (t, "") for t, cls in _BY_TYPE.items()},
    **{cls.DESCRIPTOR.full_name: key for key, cls in _BY_SUBTYPE.items() if key[1]},
}


def _all_messages(descriptors: list[Descriptor]) -> dict[str, type[Message]]:
    found: dict[str, type[Message]] = {}
    for desc in descriptors:
        if not desc.GetOptions().map_entry:
            found[desc.full_name] = message_factory.GetMessageClass(desc)
        found.update(_all_messages(list(desc.nested_types)))
    return found


_MESSAGES: dict[str, type[Message]] = {
    **_all_messages(list(events_pb2.DESCRIPTOR.message_types_by_name.values())),
    **_all_messages(list(agent_bridge_pb2.DESCRIPTOR.message_types_by_name.values())),
    **{m.DESCRIPTOR.full_name: m for m in (struct_pb2.Struct, struct_pb2.Value)},
}


# Looked up per event: ``EventType.keys()`` / ``.Name()`` build their answers on every call.
_BY_NAME: dict[str, EventTypeValue] = {
    name: events_pb2.EventType.Value(name) for name in events_pb2.EventType.keys()
}
_NAMES: dict[EventTypeValue, str] = {number: name for name, number in _BY_NAME.items()}


def event_type_for(type_string: str) -> EventTypeValue:
    """The ``EventType`` of a producer's type string (any case); ``CUSTOM`` when unknown."""
    return _BY_NAME.get(type_string.strip().upper(), events_pb2.CUSTOM)


def event_type_name(event_type: EventTypeValue) -> str:
    """``EventType.Name(event_type)`` without building the lookup per call."""
    found = _NAMES.get(event_type)
    return found if found is not None else events_pb2.EventType.Name(event_type)


def type_string(event: events_pb2.Event) -> str:
    """The type string a producer sent (``type_name``), or else the ``EventType`` name."""
    if event.type_name:
        return event.type_name
    try:
        return events_pb2.EventType.Name(event.type)
    except ValueError:  # a number from a newer schema
        return f"EVENT_TYPE_{event.type}"


def payload_message_for(event_type: EventTypeValue, subtype: str = "") -> type[Message] | None:
    """The message class that carries this type's payload; ``None``: kept as a Struct."""
    found = _BY_TYPE.get(event_type)
    return found or _BY_SUBTYPE.get((event_type, subtype.strip().upper()))


def payload_type_of(message: Message) -> tuple[EventTypeValue, str] | None:
    """The ``(EventType, subtype)`` a payload message is published as, or ``None``."""
    return _TYPE_OF.get(message.DESCRIPTOR.full_name)


def message_class(full_name_or_type_url: str) -> type[Message] | None:
    """Our message class (or Struct / Value) by full name or ``Any`` type URL."""
    return _MESSAGES.get(full_name_or_type_url.rpartition("/")[2])
