"""Tolerant decoding of realistic mod bodies into typed models, one result per event."""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec
import pytest

from schemas import (
    Deck,
    DecodedEvent,
    EventError,
    GameState,
    HandEvalComplete,
    Heartbeat,
    JokersChanged,
    JokerTrigger,
    LearningDecision,
    Model,
    ModEvent,
    MoneyChanged,
    MultUpdate,
    RoundChanged,
    SchemaDecodeError,
    ScoreUpdate,
    ScoringJokerTrigger,
    convert,
    decode_batch,
    decode_event,
    decode_json,
    parse_payload,
)

Body = Callable[[str], bytes]


def _ok(result: DecodedEvent | EventError) -> DecodedEvent:
    assert isinstance(result, DecodedEvent), result
    return result


def test_game_state_batch_decodes_every_event(mod_body: Body) -> None:
    batch = decode_batch(mod_body("game_state_batch"))

    assert batch.batch_id == "5b8e0c1a-9f3d-4e2b-a1c7-0d9e8f7a6b5c"
    assert batch.source == "BalatroMCP"
    assert batch.timestamp == 1700000123456.0
    assert batch.errors == ()
    assert [r.event.type for r in batch.events] == [
        "GAME_STATE",
        "MONEY_CHANGED",
        "GAME_STATE",
        "LEARNING_DECISION",
    ]


def test_game_state_payload_is_typed(mod_body: Body) -> None:
    decoded = _ok(decode_batch(mod_body("game_state_batch")).results[0])
    state = decoded.payload

    assert isinstance(state, GameState)
    assert decoded.event.timestamp == 45231.7734  # ms since game start, kept as sent
    assert decoded.event.initial is True
    assert state.chips == 1e15
    assert state.mult == math.inf
    assert state.consumables == []  # sent as {}
    assert [j.id for j in state.jokers] == [0.91234, "joker_2"]  # float ids, string fallback
    assert state.jokers[1].properties["edition"] == "holographic"
    assert state.hand[0].rank == "Ace"
    assert state.hand[0].id == 0.5123
    assert isinstance(state.deck, Deck)
    assert state.deck.remaining_count == 44
    assert len(state.deck.full_deck) == 4
    assert state.shop_items["joker_1"].rarity == 1
    assert state.shop_items["voucher_1"].cost == 10
    assert state.blind is not None and state.blind.name == "Big Blind"
    assert state.game_state == "SELECTING_HAND"
    assert state.timestamp == 1700000123  # epoch seconds inside the payload
    assert [c.type for c in decoded.event.changes] == ["MONEY_CHANGED", "CARDS_DISCARDED"]


def test_menu_state_has_only_what_was_sent(mod_body: Body) -> None:
    decoded = _ok(decode_batch(mod_body("game_state_batch")).results[2])
    assert decoded.payload == GameState(in_game=False, timestamp=1700000200, phase="MENU")
    assert decoded.event.debug is True


def test_learning_decision_nested_empties_become_lists(mod_body: Body) -> None:
    decoded = _ok(decode_batch(mod_body("game_state_batch")).results[3])
    request = decoded.payload

    assert isinstance(request, LearningDecision)
    assert request.available_actions == ["play_hand", "discard", "sort_hand"]
    assert request.game_state is not None
    assert request.game_state.jokers == []
    assert request.game_state.hand == []
    assert request.game_state.shop_items == {}


def test_scoring_batch_with_non_finite_numbers(mod_body: Body) -> None:
    batch = decode_batch(mod_body("scoring_batch"))
    payloads = [r.payload for r in batch.events]

    assert batch.errors == ()
    assert len(payloads) == 12
    update = payloads[1]
    assert isinstance(update, ScoreUpdate)
    assert update.new_score == math.inf
    assert update.total_hand_delta == 1e308
    trigger = payloads[2]
    assert isinstance(trigger, ScoringJokerTrigger)
    assert trigger.joker is not None and trigger.joker.id == 0.61803
    assert trigger.score_contribution is not None and math.isnan(trigger.score_contribution)
    assert isinstance(payloads[3], JokerTrigger) and payloads[3].context_type is True
    assert isinstance(payloads[4], JokerTrigger) and payloads[4].context_type == "unknown"
    complete = payloads[5]
    assert isinstance(complete, HandEvalComplete)
    assert complete.final_score == math.inf
    assert batch.events[5].event.priority == "high"
    mult = payloads[6]
    assert isinstance(mult, MultUpdate) and mult.mult_after == -math.inf
    assert isinstance(payloads[7], Heartbeat) and payloads[7].game_state == "5"
    assert isinstance(payloads[8], JokersChanged) and payloads[8].jokers == []


def test_types_and_subtypes_nobody_modelled_are_kept_untyped(mod_body: Body) -> None:
    batch = decode_batch(mod_body("scoring_batch"))
    unknown_subtype, unknown_type = batch.events[10], batch.events[11]

    assert unknown_subtype.payload is None
    assert unknown_subtype.raw["payload"] == {"whatever": ["1", "2"]}
    assert unknown_type.payload is None
    assert unknown_type.event.type == "BLIND_SKIPPED"
    assert unknown_type.event.payload == {"tag": "Double Tag", "ante": 3}


def test_connection_test_decodes_with_data_as_payload(mod_body: Body) -> None:
    decoded = decode_event(mod_body("connection_test"))

    assert decoded.event.type == "connection_test"
    assert decoded.event.event_id is None
    assert decoded.event.timestamp == 1700000000000
    assert decoded.payload is not None
    assert msgspec.to_builtins(decoded.payload) == {"message": "Testing event bus connection"}
    assert "data" in decoded.raw


def test_one_bad_event_does_not_sink_the_batch() -> None:
    body = (
        b'{"batch_id":"b","events":['
        b'{"type":"HAND_PLAYED","payload":{"hands_remaining":3,"hand_number":1},"event_id":"a"},'
        b'{"type":"HAND_PLAYED","payload":{"hands_remaining":"three"},"event_id":"bad"},'
        b'{"payload":{}},'
        b'"garbage",'
        b'{"type":"MONEY_CHANGED","payload":{"old_value":1,"new_value":2,"difference":1}}]}'
    )
    batch = decode_batch(body)

    assert [type(r).__name__ for r in batch.results] == [
        "DecodedEvent",
        "EventError",
        "EventError",
        "EventError",
        "DecodedEvent",
    ]
    assert isinstance(batch.events[1].payload, MoneyChanged)
    bad, missing_type, not_object = batch.errors
    assert bad.index == 1
    assert bad.event_id == "bad"
    assert bad.type == "HAND_PLAYED"
    assert bad.reason == (
        "cannot decode payload of HAND_PLAYED at $.events[1].payload.hands_remaining: "
        "Expected `int | null`, got `str`"
    )
    assert isinstance(bad.error.__cause__, msgspec.ValidationError)
    assert decode_json(bad.raw_json()) == bad.raw
    assert missing_type.reason == (
        "cannot decode event at $.events[2]: `type` must be a non-empty string, got missing"
    )
    assert not_object.reason == "cannot decode event at $.events[3]: expected an object, got string"
    assert not_object.event_id is None and not_object.type is None


def test_non_finite_event_survives_dead_lettering() -> None:
    batch = decode_batch(
        b'{"events":[{"type":"SCORING","subtype":"SCORE_UPDATE","payload":[inf]}]}'
    )
    (error,) = batch.errors
    assert "Expected `object`, got `array`" in error.reason
    assert decode_json(error.raw_json()) == {
        "type": "SCORING",
        "subtype": "SCORE_UPDATE",
        "payload": [math.inf],
    }


def test_missing_optional_fields_and_any_key_order() -> None:
    decoded = decode_event(b'{"payload":{"new_count":1},"type":"JOKERS_CHANGED"}')
    assert decoded.payload == JokersChanged(new_count=1)
    assert decoded.event == ModEvent(type="JOKERS_CHANGED", payload={"new_count": 1})


def test_integral_floats_fill_int_fields() -> None:
    decoded = decode_event(b'{"type":"ROUND_CHANGED","payload":{"ante":3.0,"round":1e+1}}')
    assert msgspec.to_builtins(decoded.payload) == {"ante": 3, "round": 10}


def test_strings_inside_arrays_are_read_as_the_item_type() -> None:
    class Probe(Model):
        counts: list[int] = []
        flags: list[bool] = []
        scores: list[float] = []

    probe = convert(
        decode_json(b'{"counts":["1","2"],"flags":["true","false"],"scores":["1e+15","inf"]}'),
        Probe,
    )
    assert probe == Probe(counts=[1, 2], flags=[True, False], scores=[1e15, math.inf])


def test_convert_names_the_path_of_a_bad_value() -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        convert({"hand": [{"rank": "Ace"}, {"rank": ["x"]}]}, GameState, what="state")
    assert str(caught.value) == (
        "cannot decode state at $.hand[1].rank: Expected `int | str | null`, got `array`"
    )


def test_parse_payload_of_a_typed_envelope() -> None:
    event = ModEvent(type="scoring", subtype="hand_eval_complete", payload={"final_score": 5})
    assert parse_payload(event) == HandEvalComplete(final_score=5)
    assert parse_payload(ModEvent(type="NEW_THING", payload={"a": 1})) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "cannot decode batch body: the body is empty"),
        (b" \n", "cannot decode batch body: the body is empty"),
        (b"GET / HTTP/1.1", "cannot decode batch body: not valid JSON"),
        (b"[1, 2]", "cannot decode batch body at $: expected an object, got array"),
        (b'{"batch_id": "x"}', "cannot decode batch body at $.events: `events` must be an "),
        (b'{"events": "x"}', "cannot decode batch body at $.events: `events` must be an "),
    ],
)
def test_bodies_that_are_not_a_batch_raise(body: bytes, message: str) -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        decode_batch(body)
    assert str(caught.value).startswith(message)


def test_empty_batch_sent_as_empty_object() -> None:
    batch = decode_batch(b'{"batch_id":"b","events":{},"timestamp":1}')
    assert batch.results == ()
    assert batch.timestamp == 1.0


def test_single_event_that_is_not_json_raises() -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        decode_event(b"type=GAME_STATE")
    assert str(caught.value).startswith("cannot decode event body: not valid JSON")
    assert isinstance(caught.value.__cause__, msgspec.DecodeError)


def test_empty_changes_and_nested_empties_become_lists() -> None:
    body = (
        b'{"type":"GAME_STATE","changes":{},"payload":{"deck":{"full_deck":{},'
        b'"cards_remaining":{}},"jokers":{},"score_history":{},"shop_items":{}}}'
    )
    decoded = decode_event(body)
    assert decoded.event.changes == []
    state = decoded.payload
    assert isinstance(state, GameState)
    assert state.deck == Deck(full_deck=[], cards_remaining=[])
    assert (state.jokers, state.score_history, state.shop_items) == ([], {}, {})
    assert decoded.raw["changes"] == {}  # the event as sent is never rewritten


def test_nested_changes_are_typed_envelopes() -> None:
    body = (
        b'{"type":"GAME_STATE","payload":{},"changes":[{"type":"ROUND_CHANGED",'
        b'"payload":{"ante":2},"changes":{}}]}'
    )
    (change,) = decode_event(body).event.changes
    assert change == ModEvent(type="ROUND_CHANGED", payload={"ante": 2})
    assert parse_payload(change) == RoundChanged(ante=2)
