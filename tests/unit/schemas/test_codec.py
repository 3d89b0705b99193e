"""JSON events <-> the protobuf envelope, on realistic mod bodies."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from google.protobuf import struct_pb2

from schemas import (
    DecodedEvent,
    ModEvent,
    SchemaDecodeError,
    decode_batch,
    decode_event,
    decode_event_bytes,
    encode_event,
    event_to_json,
    event_to_proto,
    event_type_for,
    events_pb2,
    message_class,
    payload_message_for,
    payload_type_of,
    type_string,
    unpack_payload,
)
from schemas import agent_bridge_pb2 as ab
from tests.unit.schemas.canon import empty_objects_as_lists, same_json

pb = events_pb2
Body = Callable[[str], bytes]
LIST_KEYS = frozenset({"consumables", "cards_remaining", "jokers", "hand", "full_deck", "changes"})


@pytest.mark.parametrize("name", ["game_state_batch", "scoring_batch"])
def test_every_fixture_event_round_trips_through_protobuf(mod_body: Body, name: str) -> None:
    for result in decode_batch(mod_body(name)).events:
        event = event_to_proto(result)
        back = event_to_json(decode_event_bytes(encode_event(event)))
        assert same_json(back, empty_objects_as_lists(result.raw, LIST_KEYS)), result.raw


def test_game_state_lands_in_the_spec_fields_and_the_twins(mod_body: Body) -> None:
    result = decode_batch(mod_body("game_state_batch")).events[0]
    event = event_to_proto(result)
    state = unpack_payload(event)

    assert isinstance(state, pb.GameStateEvent)
    assert event.type == pb.GAME_STATE
    assert event.type_name == ""
    assert event.event_id == "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f809a1b"
    assert event.source_timestamp_ms == 45231.7734
    assert event.initial is True
    assert [c.type for c in event.changes] == [pb.MONEY_CHANGED, pb.CARDS_DISCARDED]
    assert (state.ante, state.round, state.hand_number, state.game_id) == (2, 5, 1, "7LB2WVPK")
    assert state.chips == 2**31 - 1 and state.chips_exact == 1e15  # int32 saturates
    assert state.mult == 2**31 - 1 and state.mult_exact == math.inf
    assert state.money == 23 and state.money_exact == 23
    assert [j.name for j in state.jokers] == ["Joker", "Greedy Joker"]
    assert state.jokers[0].id == 0.91234
    assert not state.jokers[1].HasField("id")  # the string id is kept in extra
    assert state.jokers[1].extra.fields["id"].string_value == "joker_2"
    assert dict(state.jokers[0].properties) == {
        "sell_value": "1",
        "edition": "none",
        "cost": "2",
        "mult": "4",
        "chips": "0",
    }
    assert state.jokers[0].properties_exact.fields["mult"].number_value == 4
    assert [(c.rank, c.suit, c.position) for c in state.hand] == [
        ("Ace", "Spades", 0),
        ("10", "Hearts", 1),
    ]
    assert len(state.deck) == 4 and state.deck[1].enhancement == "bonus"  # full_deck
    assert state.deck_info.remaining_count == 44
    assert len(state.deck_info.cards_remaining) == 2
    assert dict(state.shop_items) == {"joker_1": 4, "booster_1": 4, "voucher_1": 10}
    assert state.shop_items_exact["joker_1"].rarity.number_value == 1
    assert state.blind.name == "Big Blind" and state.blind.mult == 1.5
    assert state.in_game and state.game_state == "SELECTING_HAND" and state.ui_state == "1"
    assert state.timestamp == 1700000123 and state.frame_count == 48213
    assert state.extra.fields["consumables"].list_value.values == []  # sent, empty


def test_stamps_batch_and_receive_times(mod_body: Body) -> None:
    batch = decode_batch(mod_body("scoring_batch"))
    event = event_to_proto(
        batch.events[0],
        batch_id=batch.batch_id,
        batch_timestamp_ms=batch.timestamp,
        received_at=1700000999.25,
    )
    assert event.batch_id == "e2b9f0d4-1c3a-4b5e-9f7d-2a4c6e8b0d1f"
    assert event.timestamp.ToJsonString() == "2023-11-14T22:29:59Z"
    assert event.received_at.ToJsonString() == "2023-11-14T22:29:59.250Z"
    assert event.source_timestamp_ms == 98001.5  # the mod's own clock, untouched
    back = event_to_json(event)
    assert back["event_time"] == "2023-11-14T22:29:59Z"
    assert back["received_at"] == "2023-11-14T22:29:59.250Z"
    assert back["batch_id"] == batch.batch_id
    assert event_to_proto(back) == event


def test_receive_time_is_the_event_time_without_a_batch() -> None:
    event = event_to_proto({"type": "HEARTBEAT", "payload": {}}, received_at=10.5)
    assert event.timestamp == event.received_at
    assert event.timestamp.seconds == 10 and event.timestamp.nanos == 500_000_000


def test_scoring_subtypes_pick_their_payload_message(mod_body: Body) -> None:
    events = [event_to_proto(r) for r in decode_batch(mod_body("scoring_batch")).events]
    kinds = [
        (pb.EventType.Name(e.type), e.subtype, e.payload.type_url.rpartition(".")[2])
        for e in events
    ]
    assert kinds == [
        ("SCORING", "HAND_EVAL_START", "ScoringHandEvalStart"),
        ("SCORING", "SCORE_UPDATE", "ScoringScoreUpdate"),
        ("SCORING", "JOKER_TRIGGER", "ScoringJokerTrigger"),
        ("JOKER_TRIGGER", "", "JokerTriggerEvent"),
        ("JOKER_TRIGGER", "", "JokerTriggerEvent"),
        ("SCORING", "HAND_EVAL_COMPLETE", "ScoringHandEvalComplete"),
        ("SCORING", "MULT_UPDATE", "ScoringMultUpdate"),
        ("HEARTBEAT", "", "HeartbeatEvent"),
        ("JOKERS_CHANGED", "", "JokersChangedEvent"),
        ("ROUND_COMPLETE", "", "RoundCompleteEvent"),
        ("SCORING", "SOMETHING_NEW", "Struct"),
        ("CUSTOM", "", "Struct"),
    ]
    trigger = unpack_payload(events[2])
    assert isinstance(trigger, pb.ScoringJokerTrigger)
    assert trigger.joker.name == "Blueprint" and trigger.current_total == math.inf
    assert math.isnan(trigger.score_contribution)
    assert unpack_payload(events[3]).context_type.bool_value is True  # type: ignore[union-attr]
    assert unpack_payload(events[4]).context_type.string_value == "unknown"  # type: ignore[union-attr]


def test_unknown_type_is_custom_with_the_string_and_a_struct_payload(mod_body: Body) -> None:
    result = decode_batch(mod_body("scoring_batch")).events[11]
    event = event_to_proto(result)

    assert event.type == pb.CUSTOM
    assert event.type_name == "BLIND_SKIPPED"
    assert type_string(event) == "BLIND_SKIPPED"
    payload = unpack_payload(event)
    assert isinstance(payload, struct_pb2.Struct)
    assert payload.fields["tag"].string_value == "Double Tag"
    assert event_to_json(event)["type"] == "BLIND_SKIPPED"


def test_connection_test_keeps_data_and_its_lowercase_type(mod_body: Body) -> None:
    decoded = decode_event(mod_body("connection_test"))
    event = event_to_proto(decoded)

    assert event.type == pb.CONNECTION_TEST
    assert event.type_name == "connection_test"
    assert event.event_id == ""
    assert event.source_timestamp_ms == 1700000000000
    payload = unpack_payload(event)
    assert isinstance(payload, pb.ConnectionTestEvent)
    assert payload.message == "Testing event bus connection"
    assert event_to_json(event) == decoded.raw


def test_model_and_mapping_inputs_convert_alike() -> None:
    raw = {"type": "HAND_PLAYED", "payload": {"hands_remaining": 2}, "event_id": "e"}
    assert event_to_proto(ModEvent(**raw)) == event_to_proto(raw)  # type: ignore[arg-type]
    decoded = DecodedEvent(index=0, event=ModEvent(type="X"), payload=None, raw=raw)
    assert event_to_proto(decoded) == event_to_proto(raw)


def test_unmodelled_keys_anywhere_are_kept() -> None:
    raw = {
        "type": "ROUND_CHANGED",
        "payload": {"ante": 2, "round": 3, "seed_hint": {"a": [1, None, "x"]}},
        "source": "BalatroMCP",
        "trace": "abc",
        "version": 0,
    }
    event = event_to_proto(raw)
    assert event.extra.fields["trace"].string_value == "abc"
    assert event.extra.fields["version"].number_value == 0
    assert event_to_json(event) == raw


def test_values_of_the_wrong_type_are_kept_verbatim() -> None:
    raw = {"type": "HAND_PLAYED", "payload": {"hands_remaining": "3", "hand_number": 2.5}}
    payload = unpack_payload(event_to_proto(raw))
    assert isinstance(payload, pb.HandPlayedEvent)
    assert not payload.HasField("hands_remaining") and not payload.HasField("hand_number")
    assert event_to_json(event_to_proto(raw)) == raw


def test_float32_spec_fields_keep_the_exact_value() -> None:
    raw = {"type": "LEARNING_DECISION", "payload": {"time_limit_ms": 0.1, "request_id": "r"}}
    payload = unpack_payload(event_to_proto(raw))
    assert isinstance(payload, pb.LearningDecisionRequest)
    assert payload.time_limit_ms == pytest.approx(0.1)  # the spec's float32
    assert event_to_json(event_to_proto(raw)) == raw  # the exact double from extra


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e308, -0.0, 2**53])
def test_non_finite_and_extreme_numbers_survive(value: float) -> None:
    raw = {"type": "SCORE_CHANGED", "payload": {"new_chips": value}, "timestamp": value}
    back = event_to_json(decode_event_bytes(encode_event(event_to_proto(raw))))
    assert same_json(back, raw)
    assert math.copysign(1, back["payload"]["new_chips"]) == math.copysign(1, value)


def test_event_without_a_type_is_refused() -> None:
    with pytest.raises(SchemaDecodeError, match="`type` must be a non-empty string"):
        event_to_proto({"payload": {}})


def test_unknown_any_payload_is_shown_and_restored() -> None:
    event = pb.Event(type=pb.CUSTOM, type_name="X")
    event.payload.type_url = "type.googleapis.com/other.Thing"
    event.payload.value = b"\x08\x01"
    shown = event_to_json(event)
    assert shown["payload"] == {"@type": "type.googleapis.com/other.Thing", "@value": "CAE="}
    assert event_to_proto(shown) == event
    assert unpack_payload(event) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GAME_STATE", pb.GAME_STATE),
        ("game_state", pb.GAME_STATE),
        ("connection_test", pb.CONNECTION_TEST),
        (" SCORING ", pb.SCORING),
        ("HEARTBEAT", pb.HEARTBEAT),
        ("BRAND_NEW", pb.CUSTOM),
    ],
)
def test_event_type_for(text: str, expected: int) -> None:
    assert event_type_for(text) == expected


def test_payload_registry_both_ways() -> None:
    assert payload_message_for(pb.SCORING, "score_update") is pb.ScoringScoreUpdate
    assert payload_message_for(pb.SCORING, "NEW") is None
    assert payload_message_for(pb.LEARNING_DECISION) is pb.LearningDecisionRequest
    assert payload_message_for(pb.LEARNING_DECISION, "RESPONSE") is pb.LearningDecisionResponse
    assert payload_message_for(pb.CUSTOM) is None
    assert payload_type_of(pb.ScoringScoreUpdate()) == (pb.SCORING, "SCORE_UPDATE")
    assert payload_type_of(pb.HandPlayedEvent()) == (pb.HAND_PLAYED, "")
    assert payload_type_of(pb.Empty()) is None
    assert message_class("type.googleapis.com/jimbot.events.v1.Blind") is pb.Blind
    assert message_class("jimbot.events.v1.GameStateEvent.Joker") is pb.GameStateEvent.Joker
    assert message_class("agentbridge.Ack") is ab.Ack


def test_lone_surrogates_are_refused_with_a_schema_error() -> None:
    with pytest.raises(SchemaDecodeError, match="not valid Unicode"):
        event_to_proto({"type": "X", "payload": {"name": "\ud800"}})
    with pytest.raises(SchemaDecodeError):
        event_to_proto({"type": "X", "source": "\ud800"})
