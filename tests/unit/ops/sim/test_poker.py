"""The poker hand table, hand classification and scoring cards."""

from __future__ import annotations

import pytest

from ops.sim.jokers import CATALOGUE, Joker, score_hand
from ops.sim.poker import HAND_TABLE, Card, evaluate

_RANKS = {"J": 11, "Q": 12, "K": 13, "A": 14}


def cards(text: str) -> list[Card]:
    """``"AS KH 10D"`` → cards (rank then suit initial)."""
    suits = {"S": "Spades", "H": "Hearts", "C": "Clubs", "D": "Diamonds"}
    out = []
    for i, word in enumerate(text.split()):
        rank = _RANKS.get(word[:-1]) or int(word[:-1])
        out.append(Card(rank, suits[word[-1]], i / 100))
    return out


def joker(name: str) -> Joker:
    return Joker(next(kind for kind in CATALOGUE if kind.name == name), 0.5)


@pytest.mark.parametrize(
    ("hand", "kind", "scoring"),
    [
        ("AS", "High Card", 1),
        ("2S 9H KD", "High Card", 1),
        ("KS KH", "Pair", 2),
        ("KS KH 2D 7C 9S", "Pair", 2),
        ("KS KH 2D 2C 9S", "Two Pair", 4),
        ("5S 5H 5D", "Three of a Kind", 3),
        ("5S 5H 5D 9C", "Three of a Kind", 3),
        ("AS 2H 3D 4C 5S", "Straight", 5),
        ("10S JH QD KC AS", "Straight", 5),
        ("2S 3S 4S 5S 9S", "Flush", 5),
        ("5S 5H 5D 9C 9S", "Full House", 5),
        ("7S 7H 7D 7C", "Four of a Kind", 4),
        ("7S 7H 7D 7C 2S", "Four of a Kind", 4),
        ("AH 2H 3H 4H 5H", "Straight Flush", 5),
        ("9D 9D 9D 9D 9C", "Five of a Kind", 5),
        ("9D 9D 9D 4D 4D", "Flush House", 5),
        ("9D 9D 9D 9D 9D", "Flush Five", 5),
    ],
)
def test_hand_types(hand: str, kind: str, scoring: int) -> None:
    ev = evaluate(cards(hand))
    assert ev.hand == kind
    assert len(ev.scoring) == scoring


@pytest.mark.parametrize(
    "hand",
    ["QS KH AD 2C 3S", "JS QH KD AC 2S", "AS 2H 3D 4C", "2S 3S 4S 5S", "AS 3H 4D 5C 6S"],
)
def test_no_wraparound_and_no_short_straights_or_flushes(hand: str) -> None:
    assert evaluate(cards(hand)).hand == "High Card"


def test_high_card_scores_only_the_highest_card() -> None:
    ev = evaluate(cards("2S QH 9D"))
    assert [c.rank for c in ev.scoring] == [12]


def test_contains_lets_a_full_house_count_as_a_pair() -> None:
    ev = evaluate(cards("5S 5H 5D 9C 9S"))
    assert {"Pair", "Two Pair", "Three of a Kind", "Full House"} <= ev.contains


@pytest.mark.parametrize("size", [0, 6])
def test_a_hand_is_one_to_five_cards(size: int) -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        evaluate(cards("2S 3S 4S 5S 6S 7S")[:size])


def test_hand_table_matches_balatro() -> None:
    assert HAND_TABLE["High Card"] == (5, 1)
    assert HAND_TABLE["Straight Flush"] == (100, 8)
    assert HAND_TABLE["Flush Five"] == (160, 16)
    assert len(HAND_TABLE) == 12


def test_score_is_base_plus_card_chips_times_mult() -> None:
    # Pair of kings: (10 + 10 + 10) x 2; the 2 does not score.
    assert score_hand(cards("KS KH 2D"), [], discards_left=3).score == 60
    # Ace-low straight: (30 + 11 + 2 + 3 + 4 + 5) x 4.
    assert score_hand(cards("AS 2H 3D 4C 5S"), [], discards_left=3).score == 220


def test_jokers_add_chips_and_mult_left_to_right() -> None:
    played = cards("KH KD 4C")  # pair: 30 chips x 2
    owned = [joker("Joker"), joker("Lusty Joker"), joker("Sly Joker"), joker("Banner")]
    scored = score_hand(played, owned, discards_left=2)
    # chips 30 + 50 (Sly) + 60 (Banner: 2 discards); mult 2 + 4 (Joker) + 3 (one Heart).
    assert (scored.chips, scored.mult, scored.score) == (140, 9, 1260)
    assert [t.joker.kind.name for t in scored.triggers] == [
        "Joker",
        "Lusty Joker",
        "Sly Joker",
        "Banner",
    ]
    assert sum(t.contribution for t in scored.triggers) == 1260 - 60


def test_conditions_needs_and_xmult() -> None:
    flush = cards("2S 4S 6S 8S 10S")
    owned = [joker("Jolly Joker"), joker("Droll Joker"), joker("Cavendish")]
    scored = score_hand(flush, owned, discards_left=0)
    # Flush 35 + 30 chips; mult (4 + 10) x 3; the Jolly Joker needs a pair.
    assert (scored.chips, scored.mult) == (65, 42)
    assert [t.joker.kind.name for t in scored.triggers] == ["Droll Joker", "Cavendish"]


def test_score_multiplier_overflows_to_inf() -> None:
    scored = score_hand(cards("AS"), [], discards_left=0, score_multiplier=1e308)
    assert scored.score == float("inf")
