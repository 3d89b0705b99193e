"""The heuristic policy: plays, discards, shops and picks blinds like a Balatro player."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.policies import InvalidActionError, expand_action
from handlers.policies.balatro import STRATEGY, decide
from schemas.events_pb2 import LearningDecisionRequest, LearningDecisionResponse
from tests.unit.handlers.policies.states import request

FLUSH_DRAW = "2h 6h 9h Kh 4s 8c Jd Ad"  # four hearts, nothing else worth keeping
STRONG = ["The Duo", "The Trio", "Cavendish", "Jolly Joker", "Zany Joker"]


def action(response: LearningDecisionResponse) -> str:
    assert response.strategy_name == STRATEGY
    assert response.used_llm is False
    assert 0.0 <= response.confidence <= 1.0
    assert response.selected_action in response.action_values or response.selected_action == "none"
    return response.selected_action


def test_plays_the_winning_hand_when_it_beats_the_blind() -> None:
    response = decide(request("Ah Ad 5c 9s 3h Kd 7c 2s", blind=50))
    assert action(response) == "play_hand:0,1"
    assert response.confidence >= 0.89
    assert response.request_id == "req-1"


def test_counts_the_rounds_score_against_the_blind() -> None:
    state = request(FLUSH_DRAW, blind=300, chips=290)
    assert action(decide(state)).startswith("play_hand:")


def test_discards_toward_a_flush_when_far_from_the_target() -> None:
    response = decide(request(FLUSH_DRAW, blind=300, discards=3))
    assert action(response) == "discard:4,5,6,7"
    assert len(response.action_values) >= 2
    assert response.action_values["discard:4,5,6,7"] > max(
        v for k, v in response.action_values.items() if k.startswith("play_hand")
    )


def test_plays_the_best_hand_when_no_discards_are_left() -> None:
    assert action(decide(request(FLUSH_DRAW, blind=300, discards=0))) == "play_hand:7"


def test_on_the_last_hand_discards_for_the_only_draw_that_can_win() -> None:
    state = request(
        "As Ad 6h 9h Kh 3h 8c Js", blind=300, hands=1, discards=1, jokers=["Droll Joker"]
    )
    assert action(decide(state)) == "discard:0,1,6,7"


def test_discards_toward_a_straight_with_an_open_ended_draw() -> None:
    response = decide(request("5s 6h 7d 8c Kh 2d Qs 3c", blind=600, discards=2))
    discarded = {int(p) for p in action(response).removeprefix("discard:").split(",")}
    assert response.selected_action.startswith("discard:")
    assert discarded.isdisjoint({0, 1, 2, 3})


def test_buys_the_best_affordable_joker() -> None:
    shop = {
        "joker_1": ("Cavendish", 20.0),
        "joker_2": ("Droll Joker", 4.0),
        "joker_3": ("Joker", 2.0),
    }
    response = decide(request(phase="SHOP", money=10, shop=shop))
    assert action(response) == "buy_joker:3"
    assert set(response.action_values) >= {"buy_joker:2", "buy_joker:3", "skip_shop"}
    assert "buy_joker:1" not in response.action_values  # unaffordable


def test_leaves_the_shop_when_slots_are_full_or_nothing_is_affordable() -> None:
    five = ["Joker", "Jolly Joker", "Zany Joker", "Mad Joker", "Sly Joker"]
    full = request(phase="SHOP", money=50, jokers=five, shop={"joker_1": ("Droll Joker", 4.0)})
    assert action(decide(full)) == "skip_shop"
    poor = request(
        phase="SHOP",
        money=3,
        jokers=["Joker", "Jolly Joker"],
        shop={"joker_1": ("Droll Joker", 6.0)},
    )
    assert action(decide(poor)) == "skip_shop"


def test_keeps_an_interest_reserve_late_in_the_run() -> None:
    shop = {"joker_1": ("Droll Joker", 6.0)}
    held = ["Joker", "Jolly Joker", "Sly Joker"]
    assert (
        action(decide(request(phase="SHOP", ante=5, money=12, jokers=held, shop=shop)))
        == "skip_shop"
    )
    assert (
        action(decide(request(phase="SHOP", ante=5, money=30, jokers=held, shop=shop)))
        == "buy_joker:1"
    )


def test_rerolls_an_empty_handed_shop_when_money_allows() -> None:
    assert action(decide(request(phase="SHOP", money=15))) == "reroll_shop"
    assert action(decide(request(phase="SHOP", money=6))) == "skip_shop"


@pytest.mark.parametrize(("round_", "blind"), [(0, "small"), (1, "big"), (2, "boss"), (3, "small")])
def test_selects_the_blind_on_deck(round_: int, blind: str) -> None:
    response = decide(request(phase="BLIND_SELECT", round=round_))
    assert action(response) == f"select_{blind}_blind"
    assert response.confidence == pytest.approx(0.9)


def test_the_only_offered_blind_wins_over_the_round_counter() -> None:
    state = request(phase="BLIND_SELECT", round=0, available=["select_boss_blind"])
    assert action(decide(state)) == "select_boss_blind"


def test_skips_a_small_blind_only_when_clearly_safe() -> None:
    strong = request(phase="BLIND_SELECT", ante=2, round=3, jokers=STRONG)
    assert action(decide(strong)) == "skip_blind"
    assert (
        action(decide(request(phase="BLIND_SELECT", ante=1, round=0, jokers=STRONG)))
        == "select_small_blind"
    )
    assert (
        action(decide(request(phase="BLIND_SELECT", ante=2, round=5, jokers=STRONG)))
        == "select_boss_blind"
    )
    assert action(decide(request(phase="BLIND_SELECT", ante=2, round=3))) == "select_small_blind"


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (["discard", "sort_hand"], "discard:"),
        (["sort_hand"], "none"),
        (["play_hand:0", "select_card"], "play_hand:0,1"),
    ],
)
def test_only_chooses_among_available_actions(available: list[str], expected: str) -> None:
    response = decide(request("Ah Ad 5c 9s 3h Kd 7c 2s", blind=50, available=available))
    assert response.selected_action.startswith(expected)


def test_shop_without_buying_allowed_leaves() -> None:
    state = request(
        phase="SHOP", money=10, shop={"joker_1": ("Joker", 2.0)}, available=["skip_shop"]
    )
    assert action(decide(state)) == "skip_shop"


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("ROUND_EVAL", "go_to_shop"),
        ("GAME_OVER", "none"),
        ("TAROT_PACK", "none"),
        ("PLAYING", "play_hand:0,1"),
        ("UNKNOWN_STATE_1", "play_hand:0,1"),
        ("UNKNOWN_STATE_7", "select_big_blind"),
        ("UNKNOWN_STATE_99", "none"),
    ],
)
def test_phases_by_any_of_their_names(phase: str, expected: str) -> None:
    assert decide(request("Ah Ad 5c", phase=phase, blind=20)).selected_action == expected


def test_out_of_a_run_nothing_is_done() -> None:
    menu = LearningDecisionRequest()
    menu.game_state.in_game = False
    menu.game_state.phase = "MENU"
    assert action(decide(menu)) == "none"
    assert action(decide(LearningDecisionRequest())) == "none"


@pytest.mark.parametrize(
    ("compact", "lines"),
    [
        ("play_hand:0,2,3", ["select_card:0", "select_card:2", "select_card:3", "play_hand"]),
        ("discard:1,4", ["select_card:1", "select_card:4", "discard"]),
        ("play_hand:7", ["select_card:7", "play_hand"]),
        ("buy_joker:1", ["buy_joker:1"]),
        ("sell_joker:2", ["sell_joker:2"]),
        ("reroll_shop", ["reroll_shop"]),
        ("skip_shop", ["skip_shop"]),
        ("go_to_shop", ["go_to_shop"]),
        ("select_small_blind", ["select_small_blind"]),
        ("select_big_blind", ["select_big_blind"]),
        ("select_boss_blind", ["select_boss_blind"]),
        ("skip_blind", ["skip_blind"]),
        ("none", []),
        ("", []),
    ],
)
def test_expand_action_writes_the_mods_command_lines(compact: str, lines: list[str]) -> None:
    assert expand_action(compact) == lines


@pytest.mark.parametrize(
    "bad",
    ["fly_away", "play_hand", "play_hand:", "play_hand:a", "play_hand:1,1", "play_hand:-1",
     "discard:0,1,2,3,4,5", "buy_joker", "buy_joker:0", "skip_shop:1"],
)  # fmt: skip
def test_expand_action_rejects_what_the_grammar_does_not_allow(bad: str) -> None:
    with pytest.raises(InvalidActionError) as caught:
        expand_action(bad)
    assert repr(bad) in str(caught.value)


RANKS = ["A", "K", "Q", "J", "T", "9", "8", "7", "6", "5", "4", "3", "2"]
specs = st.lists(
    st.builds(lambda r, s, e: f"{r}{s}{e}", st.sampled_from(RANKS), st.sampled_from("shcd"),
              st.sampled_from(["", "", "", "+glass", "+stone", "+wild", "+steel", "+bonus"])),
    max_size=8,
)  # fmt: skip
PHASES = ["SELECTING_HAND", "SHOP", "BLIND_SELECT", "ROUND_EVAL", "GAME_OVER", "UNKNOWN_STATE_3"]
ACTIONS = [
    "play_hand", "discard", "buy_joker", "skip_shop", "reroll_shop", "select_small_blind",
    "select_big_blind", "select_boss_blind", "skip_blind", "go_to_shop", "sort_hand",
]  # fmt: skip
JOKERS = ["Joker", "Greedy Joker", "Droll Joker", "The Duo", "Banner", "Blueprint", "Cavendish"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hand=specs,
    phase=st.sampled_from(PHASES),
    blind=st.one_of(st.none(), st.floats(0, 1e6), st.just(float("inf"))),
    chips=st.floats(0, 1e5),
    hands=st.integers(0, 4),
    discards=st.integers(0, 3),
    jokers=st.lists(st.sampled_from(JOKERS), max_size=5),
    money=st.floats(-5, 100),
    available=st.lists(st.sampled_from(ACTIONS), max_size=4),
    round_=st.integers(0, 30),
)
def test_any_state_gets_a_legal_action_in_the_grammar(
    hand: list[str],
    phase: str,
    blind: float | None,
    chips: float,
    hands: int,
    discards: int,
    jokers: list[str],
    money: float,
    available: list[str],
    round_: int,
) -> None:
    shop = {"joker_1": ("Joker", 4.0), "joker_2": ("Mystery", 6.0), "booster_1": ("Pack", 4.0)}
    state = request(
        " ".join(hand), phase=phase, blind=blind, chips=chips, hands=hands, discards=discards,
        jokers=jokers, money=money, available=available, round=round_, shop=shop,
    )  # fmt: skip
    response = decide(state)
    chosen = action(response)
    lines = expand_action(chosen)
    name = chosen.partition(":")[0]
    assert chosen == "none" or not available or name in available
    if name in ("play_hand", "discard"):
        assert all(int(line.split(":")[1]) < len(hand) for line in lines[:-1])
