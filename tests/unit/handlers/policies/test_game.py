"""Reading the game state tolerantly, and the draw odds behind discards."""

from __future__ import annotations

import math

import pytest

from handlers.policies._discard import chance_at_least
from handlers.policies._game import (
    chips_needed,
    draw_pile,
    hand_cards,
    jokers,
    on_deck_blind,
    phase,
    shop_jokers,
)
from handlers.policies.poker import Card
from schemas.events_pb2 import GameStateEvent, LearningDecisionRequest
from tests.unit.handlers.policies.states import request


@pytest.mark.parametrize(
    ("game_state", "ui_state", "expected"),
    [
        ("SELECTING_HAND", "", "SELECTING_HAND"),
        ("PLAYING", "", "SELECTING_HAND"),
        ("UNKNOWN_STATE_5", "", "SHOP"),
        ("", "7", "BLIND_SELECT"),
        ("", "", "UNKNOWN"),
        ("UNKNOWN_STATE_x", "", "UNKNOWN_STATE_X"),
    ],
)
def test_the_phase_has_one_name_whatever_the_mod_called_it(
    game_state: str, ui_state: str, expected: str
) -> None:
    assert phase(GameStateEvent(game_state=game_state, ui_state=ui_state)) == expected


def test_out_of_a_run_the_phase_is_the_menus() -> None:
    assert phase(GameStateEvent(in_game=False, phase="MENU", game_state="SHOP")) == "MENU"


def test_the_blind_still_needs_its_chips_minus_the_rounds_score() -> None:
    assert chips_needed(request(blind=300, chips=120)) == 180
    assert chips_needed(request(blind=300, chips=400)) == 0
    assert chips_needed(request(blind=300, chips=math.inf)) == 0
    context = request(blind=300, chips=0)
    context.context.target_score, context.context.current_score = 1000.0, 250.0
    assert chips_needed(context) == 750
    guessed = request(blind=None, ante=2, round=2)  # the big blind of ante 2: 800 × 1.5
    assert chips_needed(guessed) == 1200


def test_cards_keep_their_positions_and_bad_positions_fall_back_to_the_order() -> None:
    state = request("Ah Kd").game_state
    state.hand[0].position, state.hand[1].position = 1, 0
    assert hand_cards(state) == ([Card(14, "Hearts"), Card(13, "Diamonds")], [1, 0])
    state.hand[0].position = 7
    assert hand_cards(state)[1] == [0, 1]


def test_joker_properties_are_read_as_numbers_whatever_their_json_type() -> None:
    state = GameStateEvent()
    first = state.jokers.add(name="Ride the Bus", position=1)
    first.properties_exact.update({"mult": "6", "edition": "polychrome"})
    second = state.jokers.add(name="Odd", position=0)
    second.properties_exact.update({"mult": math.inf, "chips": "lots"})
    second.properties["chips"] = "12"
    [odd, bus] = jokers(state)
    assert (odd.name, odd.mult, odd.chips) == ("Odd", 0.0, 0.0)
    assert (bus.mult, bus.edition) == (6.0, "polychrome")


def test_shop_jokers_come_from_either_shop_map() -> None:
    state = GameStateEvent()
    state.shop_items["joker_2"] = 5
    state.shop_items["booster_1"] = 4
    item = state.shop_items_exact["joker_1"]
    item.name, item.cost = "Joker", 2
    item.rarity.number_value = 2
    assert shop_jokers(state) == [(1, "Joker", 2.0, "uncommon"), (2, "", 5.0, "")]


def test_the_blind_on_deck_follows_the_round_unless_only_one_is_offered() -> None:
    select = [request(round=r, phase="BLIND_SELECT") for r in range(4)]
    assert [on_deck_blind(r) for r in select] == ["small", "big", "boss", "small"]
    # Without a blind in the state, the round counter decides.
    bare = [request(round=r, phase="BLIND_SELECT", blind=None) for r in range(4)]
    assert [on_deck_blind(r) for r in bare] == ["small", "big", "boss", "small"]
    # The state's blind on deck wins over the counter (which a skip throws off).
    skipped = request(round=0, phase="BLIND_SELECT")
    skipped.game_state.blind.name = "Big Blind"
    assert on_deck_blind(skipped) == "big"
    only = LearningDecisionRequest(available_actions=["select_big_blind", "skip_blind"])
    assert on_deck_blind(only) == "big"


def test_the_draw_pile_is_the_deck_minus_the_hand_scaled_to_what_is_left() -> None:
    state = request("Ah Kh Qh Jh").game_state
    pile = draw_pile(state, [Card(14, "Hearts"), Card(13, "Hearts"), Card(12, "Hearts")])
    assert pile.size == 49 and pile.suits["Hearts"] == 10 and pile.ranks[14] == 3
    state.deck_info.remaining_count = 24
    half = draw_pile(state, [Card(14, "Hearts")] * 4)
    assert half.size == 24 and half.suits["Spades"] == 6


@pytest.mark.parametrize(
    ("need", "successes", "pile", "draws", "expected"),
    [
        (1, 9, 44, 4, 1 - math.comb(35, 4) / math.comb(44, 4)),
        (2, 9, 44, 5, 1 - (math.comb(35, 5) + 9 * math.comb(35, 4)) / math.comb(44, 5)),
        (1, 0, 44, 5, 0.0),
        (0, 0, 44, 5, 1.0),
        (3, 5, 4, 9, 1.0),
        (3, 2, 40, 9, 0.0),
        (1, 4, 4, 9, 1.0),
    ],
)
def test_draw_odds_are_hypergeometric(
    need: int, successes: int, pile: int, draws: int, expected: float
) -> None:
    assert chance_at_least(need, successes, pile, draws) == pytest.approx(expected)
