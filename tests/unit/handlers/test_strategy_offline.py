"""The offline strategist: real advice from the game state, agreeing with the heuristic."""

from __future__ import annotations

import pytest

from handlers._strategy import offline_advise
from handlers.policies.balatro import decide
from schemas import events_pb2
from tests.unit.handlers.policies.states import request as decision_request


def ask(hand: str = "", *, question: str = "", **state: object) -> events_pb2.StrategyResponse:
    base = decision_request(hand, **state)  # type: ignore[arg-type]
    req = events_pb2.StrategyRequest(request_id="q-1", question=question)
    req.game_state.CopyFrom(base.game_state)
    req.available_actions.extend(base.available_actions)
    return offline_advise(req)


def test_a_hand_that_wins_the_blind_is_played_now() -> None:
    answer = ask("Ah Ad Kc 7s 2h 9d Qs 4c", blind=50, money=3)
    assert answer.recommended_action.startswith("play_hand:")
    assert answer.extra["plan"] == "finish"
    assert "Play now: the best Pair" in answer.reasoning
    assert answer.strategy_name == "offline-v1" and answer.model == "offline:rules"
    assert answer.request_id == "q-1"


def test_a_blind_out_of_reach_means_digging_with_the_discards() -> None:
    answer = ask("2h 5d 9c Js 3h 8d Kc 4s", blind=3000, chips=100, hands=2, discards=2, ante=3)
    assert answer.extra["plan"] == "dig"
    assert answer.recommended_action.startswith("discard:")
    assert "2,900" in answer.reasoning and "2 left" in answer.reasoning


def test_without_discards_the_advice_is_to_play_the_best_hand_each_time() -> None:
    answer = ask("2h 5d 9c Js 3h 8d Kc 4s", blind=3000, hands=2, discards=0, ante=3)
    assert answer.extra["plan"] == "all_in"
    assert answer.recommended_action.startswith("play_hand:")
    assert "no discards left" in answer.reasoning


def test_on_pace_means_steady_play() -> None:
    answer = ask("Ah Ad Kc Ks 2h 9d Qs 4c", blind=250, hands=4, discards=0)
    assert answer.extra["plan"] == "steady"
    assert "On pace" in answer.reasoning


@pytest.mark.parametrize(
    "hand",
    ["Ah Ad Kc 7s 2h 9d Qs 4c", "2h 5d 9c Js 3h 8d Kc 4s", "Th Jh Qh 2h 9c 3d 5s 8h"],
)
def test_the_recommended_move_is_the_decision_heuristics(hand: str) -> None:
    for blind in (50.0, 300.0, 3000.0):
        expected = decide(decision_request(hand, blind=blind))
        answer = ask(hand, blind=blind)
        assert answer.recommended_action == expected.selected_action
        assert dict(answer.action_values) == pytest.approx(dict(expected.action_values))


def test_a_joker_worth_buying_is_bought_and_the_interest_it_costs_is_said() -> None:
    answer = ask(phase="SHOP", money=14, jokers=["Joker", "Greedy Joker"],
                 shop={"joker_1": ("Jolly Joker", 5)})  # fmt: skip
    assert answer.recommended_action == "buy_joker:1"
    assert answer.extra["plan"] == "build"
    assert "Buy Jolly Joker ($5)" in answer.reasoning
    assert "interest drops from $2 to $1" in answer.reasoning


def test_with_every_slot_full_the_weakest_joker_is_sold_for_a_much_better_one() -> None:
    held = ["Joker", "Greedy Joker", "Jolly Joker", "Banner", "Odd Todd"]
    answer = ask(phase="SHOP", money=30, ante=4, jokers=held, shop={"joker_1": ("The Duo", 8)})
    assert answer.extra["plan"] == "sell_and_buy"
    assert answer.recommended_action == "sell_joker:2"  # Greedy Joker, second from the left
    assert "Sell Greedy Joker" in answer.reasoning and "The Duo" in answer.reasoning
    assert answer.action_values["sell_joker:2"] > 0


def test_advice_stays_within_the_actions_offered() -> None:
    held = ["Joker", "Greedy Joker", "Jolly Joker", "Banner", "Odd Todd"]
    answer = ask(phase="SHOP", money=30, ante=4, jokers=held, shop={"joker_1": ("The Duo", 8)},
                 available=["skip_shop", "buy_joker"])  # fmt: skip
    assert answer.recommended_action == "skip_shop"
    assert "Sell Greedy Joker" in answer.reasoning  # the advice is still given in words


def test_with_few_jokers_and_money_to_spare_the_shop_is_rerolled() -> None:
    answer = ask(phase="SHOP", money=20, jokers=["Joker"], shop={})
    assert answer.recommended_action == "reroll_shop"
    assert answer.extra["plan"] == "reroll"


def test_the_interest_threshold_is_named() -> None:
    answer = ask(phase="SHOP", money=23, ante=3, jokers=["Joker", "Jolly Joker"], shop={})
    assert answer.recommended_action == "skip_shop"
    assert "$23 earns $4 interest; $2 more would earn $5" in answer.reasoning
    assert ask(phase="SHOP", money=40, shop={}).extra["interest"] == 5


def test_the_blind_on_deck_is_played() -> None:
    answer = ask(phase="BLIND_SELECT", round=0, money=4)
    assert answer.recommended_action == "select_small_blind"
    assert answer.extra["plan"] == "play"


def test_outside_a_run_there_is_nothing_to_decide() -> None:
    req = events_pb2.StrategyRequest()
    req.game_state.in_game = False
    req.game_state.phase = "MENU"
    answer = offline_advise(req)
    assert answer.recommended_action == "none"
    assert "No run in progress" in answer.reasoning
