"""Hypothesis strategies for realistic mod events (canonical JSON: lists are lists)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Json = Any

text = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
words = st.sampled_from(["none", "foil", "holographic", "polychrome", "negative", "unknown"])
small = st.integers(0, 60)
int32 = st.integers(-(2**31), 2**31 - 1)
# Doubles: any float (inf, nan, -0.0 included) and ints a double holds exactly.
score = st.one_of(st.floats(), st.integers(-(2**53), 2**53))
card_id = st.one_of(st.floats(0, 1, exclude_max=True), st.sampled_from(["joker_1", "card_3"]))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(), text)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


def _obj(
    fields: dict[str, st.SearchStrategy[Json]], *, odd: bool = True
) -> st.SearchStrategy[Json]:
    """Objects with any subset of ``fields``, plus (when ``odd``) a key nobody modelled."""
    optional = dict(fields)
    if odd:
        optional["zz_unmodelled"] = json_value
    return st.fixed_dictionaries({}, optional=optional)


def _or_odd(strategy: st.SearchStrategy[Json]) -> st.SearchStrategy[Json]:
    """Mostly the right type, sometimes any JSON value (kept verbatim in extra)."""
    return st.one_of(strategy, strategy, strategy, json_scalar)


joker = _obj(
    {
        "id": card_id,
        "name": text,
        "position": small,
        "properties": _obj(
            {"mult": score, "chips": score, "cost": small, "sell_value": small, "edition": words}
        ),
    }
)
card = _obj(
    {
        "id": card_id,
        "rank": st.sampled_from(["Ace", "King", "Queen", "Jack", "10", "2"]),
        "suit": st.sampled_from(["Spades", "Hearts", "Clubs", "Diamonds"]),
        "enhancement": words,
        "edition": words,
        "seal": st.sampled_from(["none", "Gold", "Red", "Blue", "Purple"]),
        "position": small,
    }
)
deck = _obj(
    {
        "remaining_count": small,
        "cards_remaining": st.lists(card, max_size=5),
        "full_deck": st.lists(card, max_size=8),
    }
)
shop_item = _obj(
    {
        "name": text,
        "cost": small,
        "rarity": st.one_of(st.sampled_from(["common", "rare"]), st.integers(1, 4)),
    }
)
blind = _obj(
    {
        "name": text,
        "chips": score,
        "chip_text": text,
        "mult": score,
        "defeated": st.booleans(),
        "boss": st.booleans(),
    }
)
phase = st.sampled_from(["BLIND_SELECT", "SHOP", "SELECTING_HAND", "ROUND_EVAL", "GAME_OVER"])
game_state = _obj(
    {
        "in_game": st.booleans(),
        "game_id": text,
        "ante": _or_odd(int32),
        "round": int32,
        "hand_number": small,
        "chips": _or_odd(score),
        "mult": score,
        "money": score,
        "hand_size": small,
        "hands_remaining": small,
        "discards_remaining": small,
        "score_history": st.dictionaries(
            st.sampled_from(["1", "2", "3"]),
            st.one_of(score, _obj({"label": text, "amt": score}, odd=False)),
            max_size=3,
        ),
        "jokers": st.lists(joker, max_size=3),
        "hand": st.lists(card, max_size=4),
        "deck": st.one_of(deck, st.lists(card, max_size=3)),
        "consumables": st.lists(
            _obj({"id": card_id, "name": text, "card_type": text, "position": small}), max_size=2
        ),
        "shop_items": st.dictionaries(
            st.sampled_from(["joker_1", "joker_2", "booster_1", "voucher_1"]), shop_item
        ),
        "game_state": st.one_of(phase, st.just("UNKNOWN_STATE_17")),
        "ui_state": st.integers(0, 20).map(str),
        "blind": blind,
        "timestamp": st.integers(1_600_000_000, 1_800_000_000),
        "frame_count": st.integers(0, 2**40),
        "phase": st.just("MENU"),
    }
)

# (type, subtype) -> payload strategy, for every type the mod sends or defines.
PAYLOADS: dict[tuple[str, str | None], st.SearchStrategy[Json]] = {
    ("GAME_STATE", None): game_state,
    ("HEARTBEAT", None): _obj(
        {
            "version": text,
            "uptime": score,
            "headless": st.booleans(),
            "game_state": st.one_of(st.integers(0, 20).map(str), st.just("unknown")),
        }
    ),
    ("MONEY_CHANGED", None): _obj({"old_value": score, "new_value": score, "difference": score}),
    ("SCORE_CHANGED", None): _obj(
        {"old_chips": score, "new_chips": score, "old_mult": score, "new_mult": score}
    ),
    ("HAND_PLAYED", None): _obj({"hands_remaining": _or_odd(small), "hand_number": small}),
    ("CARDS_DISCARDED", None): _obj({"discards_remaining": small}),
    ("JOKERS_CHANGED", None): _obj(
        {"old_count": small, "new_count": small, "jokers": st.lists(joker, max_size=3)}
    ),
    ("ROUND_CHANGED", None): _obj({"ante": int32, "round": int32}),
    ("PHASE_CHANGED", None): _obj({"old_phase": phase, "new_phase": phase}),
    ("ROUND_COMPLETE", None): _obj({"ante": small, "round": small, "score": score, "money": score}),
    ("JOKER_TRIGGER", None): _obj(
        {
            "joker_name": text,
            "context_type": st.one_of(st.just(True), st.just("unknown")),
            "timestamp": score,
        }
    ),
    ("SCORING", "HAND_EVAL_START"): _obj(
        {"starting_score": score, "ante": small, "round": small, "hand_number": small}
    ),
    ("SCORING", "SCORE_UPDATE"): _obj(
        {
            "previous_score": score,
            "new_score": score,
            "delta": score,
            "total_hand_delta": score,
            "context": text,
            "timestamp": score,
        }
    ),
    ("SCORING", "JOKER_TRIGGER"): _obj(
        {
            "joker": _obj({"name": text, "id": card_id, "position": small}),
            "score_contribution": score,
            "current_total": score,
            "timestamp": score,
        }
    ),
    ("SCORING", "HAND_EVAL_COMPLETE"): _obj(
        {
            "starting_score": score,
            "final_score": score,
            "total_delta": score,
            "joker_triggers": small,
            "ante": small,
            "round": small,
            "hand_number": small,
        }
    ),
    ("SCORING", "MULT_UPDATE"): _obj(
        {"mult_before": score, "mult_after": score, "delta": score, "source": text}
    ),
    ("SCORING", "CHIPS_UPDATE"): _obj(
        {"chips_before": score, "chips_after": score, "delta": score, "source": text}
    ),
    ("LEARNING_DECISION", "REQUEST"): _obj(
        {
            "request_id": text,
            "game_state": game_state,
            "available_actions": st.lists(st.sampled_from(["play_hand", "discard"]), max_size=3),
            "time_limit_ms": score,
        }
    ),
    ("ERROR", None): _obj(
        {
            "message": text,
            "context": st.one_of(text, st.dictionaries(text, text, max_size=2)),
            "stack_trace": text,
        }
    ),
    ("DIAGNOSTIC", None): _obj({"message": text, "level": text}),
    ("FUTURE_EVENT", None): st.dictionaries(text, json_value, max_size=4),
}


def mod_event(
    event_type: str, subtype: str | None, payload: st.SearchStrategy[Json]
) -> st.SearchStrategy[Json]:
    """A whole event as the mod sends it (``changes`` only on GAME_STATE)."""
    required: dict[str, st.SearchStrategy[Json]] = {
        "type": st.just(event_type),
        "payload": payload,
    }
    if subtype is not None:
        required["subtype"] = st.just(subtype)
    optional: dict[str, st.SearchStrategy[Json]] = {
        "source": st.just("BalatroMCP"),
        "event_id": st.uuids().map(str),
        "version": st.just(1),
        "timestamp": score,
        "priority": st.sampled_from(["low", "high"]),
    }
    if event_type == "GAME_STATE":
        optional["initial"] = st.booleans()
        optional["debug"] = st.booleans()
        optional["changes"] = st.lists(
            mod_event("MONEY_CHANGED", None, PAYLOADS[("MONEY_CHANGED", None)]), max_size=2
        )
    return st.fixed_dictionaries(required, optional=optional)


connection_test = st.fixed_dictionaries(
    {
        "type": st.just("connection_test"),
        "timestamp": st.integers(1_600_000_000_000, 1_800_000_000_000),
        "source": st.just("BalatroMCP"),
        "data": _obj({"message": text}),
    }
)
