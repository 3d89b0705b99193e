"""The interface specification's numbers, pinned through the descriptors (and ours, once
published, never move either)."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from schemas import events_pb2

FD = FieldDescriptor
MESSAGES = events_pb2.DESCRIPTOR.message_types_by_name


def _message(name: str) -> Descriptor:
    outer, _, inner = name.partition(".")
    desc = MESSAGES[outer]
    return desc.nested_types_by_name[inner] if inner else desc


# (message, field, number, type name or message full name, repeated) from the specification.
SPEC_FIELDS: list[tuple[str, str, int, str, bool]] = [
    ("Event", "event_id", 1, "string", False),
    ("Event", "correlation_id", 2, "string", False),
    ("Event", "type", 3, "jimbot.events.v1.EventType", False),
    ("Event", "source", 4, "string", False),
    ("Event", "timestamp", 5, "google.protobuf.Timestamp", False),
    ("Event", "version", 6, "int32", False),
    ("Event", "metadata", 7, "jimbot.events.v1.Event.MetadataEntry", True),
    ("Event", "payload", 8, "google.protobuf.Any", False),
    ("GameStateEvent", "game_id", 1, "string", False),
    ("GameStateEvent", "ante", 2, "int32", False),
    ("GameStateEvent", "round", 3, "int32", False),
    ("GameStateEvent", "hand_number", 4, "int32", False),
    ("GameStateEvent", "jokers", 5, "jimbot.events.v1.GameStateEvent.Joker", True),
    ("GameStateEvent", "hand", 6, "jimbot.events.v1.GameStateEvent.Card", True),
    ("GameStateEvent", "deck", 7, "jimbot.events.v1.GameStateEvent.Card", True),
    ("GameStateEvent", "chips", 8, "int32", False),
    ("GameStateEvent", "mult", 9, "int32", False),
    ("GameStateEvent", "money", 10, "int32", False),
    ("GameStateEvent", "hand_size", 11, "int32", False),
    ("GameStateEvent", "hands_remaining", 12, "int32", False),
    ("GameStateEvent", "discards_remaining", 13, "int32", False),
    ("GameStateEvent", "shop_items", 14, "jimbot.events.v1.GameStateEvent.ShopItemsEntry", True),
    (
        "GameStateEvent",
        "score_history",
        15,
        "jimbot.events.v1.GameStateEvent.ScoreHistoryEntry",
        True,
    ),
    ("GameStateEvent.Joker", "name", 1, "string", False),
    ("GameStateEvent.Joker", "rarity", 2, "string", False),
    ("GameStateEvent.Joker", "position", 3, "int32", False),
    (
        "GameStateEvent.Joker",
        "properties",
        4,
        "jimbot.events.v1.GameStateEvent.Joker.PropertiesEntry",
        True,
    ),
    ("GameStateEvent.Card", "suit", 1, "string", False),
    ("GameStateEvent.Card", "rank", 2, "string", False),
    ("GameStateEvent.Card", "enhancement", 3, "string", False),
    ("GameStateEvent.Card", "seal", 4, "string", False),
    ("GameStateEvent.Card", "edition", 5, "string", False),
    ("LearningDecisionRequest", "request_id", 1, "string", False),
    ("LearningDecisionRequest", "game_state", 2, "jimbot.events.v1.GameStateEvent", False),
    ("LearningDecisionRequest", "available_actions", 3, "string", True),
    ("LearningDecisionRequest", "time_limit_ms", 4, "float", False),
    ("LearningDecisionRequest", "context", 5, "jimbot.events.v1.DecisionContext", False),
    ("LearningDecisionResponse", "request_id", 1, "string", False),
    ("LearningDecisionResponse", "selected_action", 2, "string", False),
    ("LearningDecisionResponse", "confidence", 3, "float", False),
    (
        "LearningDecisionResponse",
        "action_values",
        4,
        "jimbot.events.v1.LearningDecisionResponse.ActionValuesEntry",
        True,
    ),
    ("LearningDecisionResponse", "used_llm", 5, "bool", False),
    ("LearningDecisionResponse", "strategy_name", 6, "string", False),
    ("DecisionContext", "recent_actions", 1, "string", True),
    ("DecisionContext", "current_score", 2, "float", False),
    ("DecisionContext", "target_score", 3, "float", False),
    ("DecisionContext", "strategy_hint", 4, "string", False),
    ("ResourceRequest", "component", 1, "string", False),
    ("ResourceRequest", "type", 2, "jimbot.events.v1.ResourceType", False),
    ("ResourceRequest", "amount", 3, "int64", False),
    ("ResourceRequest", "duration_ms", 4, "int64", False),
    ("ResourceRequest", "priority", 5, "jimbot.events.v1.Priority", False),
    ("ErrorEvent", "error_id", 1, "string", False),
    ("ErrorEvent", "source_component", 2, "string", False),
    ("ErrorEvent", "severity", 3, "jimbot.events.v1.ErrorEvent.ErrorSeverity", False),
    ("ErrorEvent", "message", 4, "string", False),
    ("ErrorEvent", "stack_trace", 5, "string", False),
    ("ErrorEvent", "context", 6, "jimbot.events.v1.ErrorEvent.ContextEntry", True),
    ("ErrorEvent", "affected_components", 7, "string", True),
    (
        "ErrorEvent",
        "suggested_action",
        8,
        "jimbot.events.v1.ErrorEvent.RecoveryAction",
        False,
    ),
]

_SCALAR_NAMES = {
    FD.TYPE_STRING: "string",
    FD.TYPE_INT32: "int32",
    FD.TYPE_INT64: "int64",
    FD.TYPE_FLOAT: "float",
    FD.TYPE_DOUBLE: "double",
    FD.TYPE_BOOL: "bool",
}


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return _SCALAR_NAMES[field.type]


@pytest.mark.parametrize(
    ("message", "field", "number", "type_name", "repeated"),
    SPEC_FIELDS,
    ids=[f"{m}.{f}" for m, f, *_ in SPEC_FIELDS],
)
def test_spec_field_keeps_its_number_and_type(
    message: str, field: str, number: int, type_name: str, repeated: bool
) -> None:
    found = _message(message).fields_by_name[field]
    assert found.number == number
    assert _type_name(found) == type_name
    assert found.is_repeated == repeated


def test_package_is_the_specs() -> None:
    assert events_pb2.DESCRIPTOR.package == "jimbot.events.v1"


def _values(enum_full_name: str) -> dict[str, int]:
    enum = events_pb2.DESCRIPTOR.pool.FindEnumTypeByName(enum_full_name)
    return {v.name: v.number for v in enum.values}


def test_event_type_keeps_the_spec_values_and_only_adds() -> None:
    values = _values("jimbot.events.v1.EventType")
    spec = [
        "GAME_STATE",
        "LEARNING_DECISION",
        "STRATEGY_REQUEST",
        "STRATEGY_RESPONSE",
        "KNOWLEDGE_QUERY",
        "KNOWLEDGE_UPDATE",
        "METRIC",
        "ERROR",
        "HEARTBEAT",
    ]
    assert {name: values[name] for name in spec} == {name: i for i, name in enumerate(spec)}
    ours = [
        "MONEY_CHANGED",
        "SCORE_CHANGED",
        "HAND_PLAYED",
        "CARDS_DISCARDED",
        "JOKERS_CHANGED",
        "ROUND_CHANGED",
        "PHASE_CHANGED",
        "ROUND_COMPLETE",
        "JOKER_TRIGGER",
        "SCORING",
        "CONNECTION_TEST",
        "DIAGNOSTIC",
        "CUSTOM",
        "AGENT_PERCEPT",
        "AGENT_ACTION",
        "RESOURCE",
    ]
    assert {name: values[name] for name in ours} == {n: 9 + i for i, n in enumerate(ours)}
    assert len(values) == len(spec) + len(ours)


@pytest.mark.parametrize(
    ("enum", "expected"),
    [
        ("jimbot.events.v1.ResourceType", ["GPU_COMPUTE", "MEMORY_MB", "CLAUDE_API_TOKENS"]),
        ("jimbot.events.v1.ErrorEvent.ErrorSeverity", ["INFO", "WARNING", "ERROR", "CRITICAL"]),
        (
            "jimbot.events.v1.ErrorEvent.RecoveryAction",
            ["RETRY", "CIRCUIT_BREAK", "FALLBACK", "ESCALATE"],
        ),
    ],
)
def test_spec_enums(enum: str, expected: list[str]) -> None:
    assert _values(enum) == {name: i for i, name in enumerate(expected)}


@pytest.mark.parametrize(
    ("service", "methods"),
    [
        (
            "ResourceCoordinator",
            {
                "RequestResource": ("ResourceRequest", "ResourceGrant", False, False),
                "ReleaseResource": ("ResourceRelease", "ReleaseResponse", False, False),
                "GetResourceStatus": ("Empty", "ResourceStatus", False, False),
                "SubscribeToResourceEvents": ("Empty", "ResourceEvent", False, True),
            },
        ),
        (
            "EventBus",
            {
                "PublishEvent": ("Event", "PublishResponse", False, False),
                "SubscribeEvents": ("SubscribeRequest", "Event", False, True),
            },
        ),
        (
            "DecisionService",
            {
                "GetDecision": (
                    "LearningDecisionRequest",
                    "LearningDecisionResponse",
                    False,
                    False,
                ),
                "StreamDecisions": (
                    "LearningDecisionRequest",
                    "LearningDecisionResponse",
                    True,
                    True,
                ),
            },
        ),
        (
            "KnowledgeGraph",
            {
                "UpdateKnowledge": ("KnowledgeUpdate", "UpdateResponse", False, False),
                "Query": ("KnowledgeQuery", "KnowledgeQueryResponse", False, False),
            },
        ),
    ],
)
def test_spec_services(service: str, methods: dict[str, tuple[str, str, bool, bool]]) -> None:
    desc = events_pb2.DESCRIPTOR.services_by_name[service]
    found = {
        m.name: (m.input_type.name, m.output_type.name, m.client_streaming, m.server_streaming)
        for m in desc.methods
    }
    assert found == methods
