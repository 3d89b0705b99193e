"""Our extensions are wire contracts too, once published: pin their numbers, and check the
rules every payload message follows (``extra`` = 100, presence on scalars)."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor

from schemas import events_pb2, payload_message_for

MESSAGES = events_pb2.DESCRIPTOR.message_types_by_name


def _message(name: str) -> Descriptor:
    outer, _, inner = name.partition(".")
    desc = MESSAGES[outer]
    return desc.nested_types_by_name[inner] if inner else desc


EXTENSIONS: list[tuple[str, str, int]] = [
    ("Event", "subtype", 9),
    ("Event", "priority", 10),
    ("Event", "source_timestamp_ms", 11),
    ("Event", "received_at", 12),
    ("Event", "batch_id", 13),
    ("Event", "type_name", 14),
    ("Event", "changes", 15),
    ("Event", "initial", 16),
    ("Event", "debug", 17),
    ("Event", "extra", 100),
    ("GameStateEvent", "in_game", 16),
    ("GameStateEvent", "game_state", 17),
    ("GameStateEvent", "phase", 18),
    ("GameStateEvent", "ui_state", 19),
    ("GameStateEvent", "blind", 20),
    ("GameStateEvent", "timestamp", 21),
    ("GameStateEvent", "frame_count", 22),
    ("GameStateEvent", "consumables", 23),
    ("GameStateEvent", "deck_info", 24),
    ("GameStateEvent", "shop_items_exact", 25),
    ("GameStateEvent", "chips_exact", 26),
    ("GameStateEvent", "mult_exact", 27),
    ("GameStateEvent", "money_exact", 28),
    ("GameStateEvent", "score_history_exact", 29),
    ("GameStateEvent.Joker", "id", 5),
    ("GameStateEvent.Joker", "properties_exact", 6),
    ("GameStateEvent.Card", "id", 6),
    ("GameStateEvent.Card", "position", 7),
    ("DecisionContext", "current_score_exact", 5),
    ("DecisionContext", "target_score_exact", 6),
    ("LearningDecisionResponse", "fallback", 7),
    ("LearningDecisionResponse", "error_detail", 8),
    ("ResourceRequest", "request_id", 6),
]


@pytest.mark.parametrize(("message", "field", "number"), EXTENSIONS)
def test_extension_numbers(message: str, field: str, number: int) -> None:
    assert _message(message).fields_by_name[field].number == number


SUBTYPES = ["", "REQUEST", "RESPONSE", "HAND_EVAL_START", "SCORE_UPDATE", "JOKER_TRIGGER"]
SUBTYPES += ["HAND_EVAL_COMPLETE", "MULT_UPDATE", "CHIPS_UPDATE"]


def test_every_payload_message_keeps_unmodelled_keys_in_extra() -> None:
    classes = {
        cls
        for value in events_pb2.EventType.values()
        for subtype in SUBTYPES
        if (cls := payload_message_for(value, subtype)) is not None
    }
    assert len(classes) == 30
    for cls in classes:
        extra = cls.DESCRIPTOR.fields_by_name.get("extra")
        assert extra is not None, cls.DESCRIPTOR.full_name
        assert extra.number == 100
        assert extra.message_type is not None
        assert extra.message_type.full_name == "google.protobuf.Struct"


def test_payload_scalars_have_presence() -> None:
    for field in MESSAGES["GameStateEvent"].fields:
        if not field.is_repeated and field.message_type is None:
            assert field.has_presence, field.name
