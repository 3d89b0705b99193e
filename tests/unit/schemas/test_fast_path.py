"""The converter's fast path (``schemas._plan``) gives the general path's bytes, always."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import DecodedEvent, _plan, _twins, decode_batch, event_to_proto, events_pb2
from schemas._errors import SchemaDecodeError
from schemas._types import event_type_for
from schemas._values import from_value, to_value
from tests.unit.schemas import strategies as s

SETTINGS = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
CARD_KEYS = ["id", "rank", "suit", "enhancement", "edition", "seal", "position", "odd"]
# Values that sit on the fast path's edges: the wrong type, past int32 / 2^53, integral floats,
# non-finite floats.
_EDGE = st.sampled_from([2**31, -(2**31) - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**64, 3.0, -0.0])
EDGES = st.one_of(_EDGE, _EDGE, s.json_scalar)
odd_card = st.dictionaries(st.sampled_from(CARD_KEYS), EDGES, max_size=8)
odd_game_state = st.fixed_dictionaries(
    {"type": st.just("GAME_STATE")},
    optional={
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "hand": st.lists(odd_card, max_size=4),
                "deck": st.one_of(
                    st.lists(odd_card, max_size=3),
                    st.fixed_dictionaries({"full_deck": st.lists(odd_card, max_size=3)}),
                ),
                "money": EDGES,
                "round": EDGES,
                "game_id": EDGES,
                "in_game": EDGES,
                "jokers": st.lists(
                    st.dictionaries(
                        st.sampled_from(["id", "name", "position", "properties"]),
                        st.one_of(EDGES, st.dictionaries(s.text, EDGES, max_size=3)),
                        max_size=4,
                    ),
                    max_size=2,
                ),
            },
        ),
        "version": EDGES,
        "timestamp": EDGES,
    },
)


def _outcome(event: Mapping[str, Any] | DecodedEvent, *, fast: bool) -> bytes | str:
    """The serialized envelope (or the error) with the fast path on or off."""
    saved = _plan.FAST_PATH
    _plan.FAST_PATH = fast
    try:
        proto = event_to_proto(event, batch_id="b", batch_timestamp_ms=1.7e12, received_at=1.7e9)
    except SchemaDecodeError as exc:
        return f"error: {exc}"
    finally:
        _plan.FAST_PATH = saved
    return proto.SerializeToString(deterministic=True)


def _assert_same(event: Mapping[str, Any] | DecodedEvent) -> None:
    assert _outcome(event, fast=True) == _outcome(event, fast=False)


def _fixture_events(read: Callable[[str], bytes]) -> Iterator[DecodedEvent]:
    for name in ("game_state_batch", "scoring_batch"):
        for result in decode_batch(read(name)).results:
            assert isinstance(result, DecodedEvent)
            yield result


def test_fixtures_convert_the_same_on_both_paths(mod_body: Callable[[str], bytes]) -> None:
    events = list(_fixture_events(mod_body))
    assert any(e.raw["type"] == "GAME_STATE" for e in events)
    for event in events:
        _assert_same(event)
    _assert_same(json.loads(mod_body("connection_test")))


def test_the_fast_path_is_taken_for_cards() -> None:
    plan = _plan.plan_of(events_pb2.GameStateEvent.Card.DESCRIPTOR, {})
    card = {"id": 0.5, "rank": "2", "suit": "Hearts", "seal": "none", "position": 0}
    assert _plan.all_plain(plan, card)
    assert not _plan.all_plain(plan, {**card, "position": 3.0})  # int field, float value
    assert not _plan.all_plain(plan, {**card, "odd": 1})  # a key for extra


@pytest.mark.parametrize(("event_type", "subtype"), list(s.PAYLOADS), ids=str)
def test_generated_events_convert_the_same(event_type: str, subtype: str | None) -> None:
    @SETTINGS
    @given(s.mod_event(event_type, subtype, s.PAYLOADS[(event_type, subtype)]))
    def check(event: dict[str, Any]) -> None:
        _assert_same(event)

    check()


@settings(SETTINGS, max_examples=300)
@given(odd_game_state)
def test_edge_values_convert_the_same(event: dict[str, Any]) -> None:
    _assert_same(event)


@pytest.mark.parametrize("where", ["hand", "payload"])
def test_a_lone_surrogate_fails_the_same(where: str) -> None:
    """protobuf refuses the string: the fast path must fail exactly as the general one."""
    card = {"id": 0.5, "suit": "\ud800"}
    payload = {"hand": [card]} if where == "hand" else {"game_id": "\ud800"}
    outcome = _outcome({"type": "GAME_STATE", "payload": payload}, fast=True)
    assert isinstance(outcome, str)
    assert outcome == _outcome({"type": "GAME_STATE", "payload": payload}, fast=False)


@given(st.one_of(EDGES, st.floats(), st.integers()))
def test_quick_property_text_is_json_dumps(value: Any) -> None:
    quick = _twins._quick_text(value)
    if quick is not None:
        expected = json.dumps(
            from_value(to_value(value)), separators=(",", ":"), allow_nan=True, sort_keys=True
        )
        assert quick == expected


@given(st.one_of(st.sampled_from(events_pb2.EventType.keys()), s.text))
def test_event_type_for_matches_the_enum(text: str) -> None:
    name = text.strip().upper()
    expected = (
        events_pb2.EventType.Value(name)
        if name in events_pb2.EventType.keys()
        else events_pb2.CUSTOM
    )
    assert event_type_for(text) == expected
    assert event_type_for(f" {text.lower()} ") == event_type_for(text.lower())
