"""Balatro hand classification, card chips and scoring, and the best-play search."""

from __future__ import annotations

from itertools import combinations, permutations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.policies.poker import (
    SUITS,
    Card,
    HandType,
    Joker,
    best_play,
    classify,
    score_play,
    top_plays,
)
from tests.unit.handlers.policies.states import cards

H = HandType
ALL = (0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    ("specs", "kind", "scoring"),
    [
        ("Ah", H.HIGH_CARD, (0,)),
        ("2h Kd", H.HIGH_CARD, (1,)),
        ("2h 5d 9s Jc Kd", H.HIGH_CARD, (4,)),
        ("2h 2d", H.PAIR, (0, 1)),
        ("Ah Ad Ks Qc 3d", H.PAIR, (0, 1)),
        ("2h 3d 4s 5c 5d", H.PAIR, (3, 4)),
        ("2h 2d 5s 5c", H.TWO_PAIR, (0, 1, 2, 3)),
        ("Ah Ad Ks Kc 3d", H.TWO_PAIR, (0, 1, 2, 3)),
        ("9s 9h 9d", H.THREE_OF_A_KIND, (0, 1, 2)),
        ("Ah Ad As Kc 3d", H.THREE_OF_A_KIND, (0, 1, 2)),
        ("2h 2d 2s 2c", H.FOUR_OF_A_KIND, (0, 1, 2, 3)),
        ("Ah Ad As Ac 3d", H.FOUR_OF_A_KIND, (0, 1, 2, 3)),
        ("7h 7h 7h 7h 2h", H.FOUR_OF_A_KIND, (0, 1, 2, 3)),
        ("Ah Ad As Kc Kd", H.FULL_HOUSE, ALL),
        ("2h 2d Kc Ks Kh", H.FULL_HOUSE, ALL),
        ("2h 3d 4s 5c 6d", H.STRAIGHT, ALL),
        ("6d 2h 5c 3d 4s", H.STRAIGHT, ALL),
        ("Ah 2d 3s 4c 5d", H.STRAIGHT, ALL),
        ("Th Jd Qs Kc Ad", H.STRAIGHT, ALL),
        ("Qh Kd As 2c 3d", H.HIGH_CARD, (2,)),
        ("Kh Ad 2s 3c 4d", H.HIGH_CARD, (1,)),
        ("Jh Qd Ks Ac 2d", H.HIGH_CARD, (3,)),
        ("2h 3d 4s 5c", H.HIGH_CARD, (3,)),
        ("2h 5h 7h 9h Jh", H.FLUSH, ALL),
        ("7h 7h 7h 2h 5h", H.FLUSH, ALL),
        ("7h 7h 2h 2h 5h", H.FLUSH, ALL),
        ("2h 5h 7h 9h", H.HIGH_CARD, (3,)),
        ("2s 3s 4s 5s 6s", H.STRAIGHT_FLUSH, ALL),
        ("Ac 2c 3c 4c 5c", H.STRAIGHT_FLUSH, ALL),
        ("Th Jh Qh Kh Ah", H.ROYAL_FLUSH, ALL),
        ("Ah Ad As Ac Ad", H.FIVE_OF_A_KIND, ALL),
        ("7h 7h 7h 7h 7h", H.FLUSH_FIVE, ALL),
        ("7h 7h 7h 2h 2h", H.FLUSH_HOUSE, ALL),
    ],
)
def test_every_hand_type_is_classified_with_its_scoring_cards(
    specs: str, kind: HandType, scoring: tuple[int, ...]
) -> None:
    hand = classify(cards(specs))
    assert (hand.type, hand.scoring) == (kind, scoring)


@pytest.mark.parametrize(
    ("specs", "kind", "scoring"),
    [
        ("Ah+stone", H.HIGH_CARD, (0,)),
        ("2h 2d 9s+stone", H.PAIR, (0, 1, 2)),
        ("2h 5h 7h 9h Jh+stone", H.HIGH_CARD, (3, 4)),
        ("2h 3d 4s 5c 6d+stone", H.HIGH_CARD, (3, 4)),
        ("2h 5h 7h 9h Js+wild", H.FLUSH, ALL),
        ("2s+wild 3h+wild 4d+wild 5c+wild 9h+wild", H.FLUSH, ALL),
    ],
)
def test_stone_cards_always_score_and_wild_cards_fit_any_suit(
    specs: str, kind: HandType, scoring: tuple[int, ...]
) -> None:
    hand = classify(cards(specs))
    assert (hand.type, hand.scoring) == (kind, scoring)


@pytest.mark.parametrize(
    ("rank", "chips"),
    [("Ace", 11), ("King", 10), ("Queen", 10), ("Jack", 10), ("10", 10), ("9", 9), ("2", 2)],
)
def test_card_chips_follow_the_game(rank: str, chips: int) -> None:
    assert Card.parse(rank, "Spades").chips == chips


@pytest.mark.parametrize(
    ("rank", "suit", "enhancement", "expected"),
    [
        ("Ace", "Spades", "none", Card(14, "Spades")),
        ("10", "Hearts", None, Card(10, "Hearts")),
        ("king", "clubs", "m_glass", Card(13, "Clubs", "glass")),
        ("Queen", "Diamonds", "Bonus Card", Card(12, "Diamonds", "bonus")),
        ("Ace", "Spades", "Stone Card", Card(0, "", "stone")),
        ("unknown", "Spades", None, Card(0, "Spades")),
        ("Ace", "Stars", None, Card(14, "")),
        (None, None, None, Card()),
    ],
)
def test_mod_strings_parse_and_unknowns_do_not_crash(
    rank: str | None, suit: str | None, enhancement: str | None, expected: Card
) -> None:
    assert Card.parse(rank, suit, enhancement) == expected


def test_unreadable_cards_classify_without_crashing() -> None:
    hand = classify([Card.parse("??", "??"), Card.parse("Ace", "??")])
    assert (hand.type, hand.scoring) == (H.HIGH_CARD, (1,))
    assert classify([Card()]).scoring == ()


@pytest.mark.parametrize("count", [0, 6])
def test_a_selection_has_one_to_five_cards(count: int) -> None:
    with pytest.raises(ValueError, match="1 to 5 cards"):
        classify(cards("Ah Kh Qh Jh Th 9h")[:count])


@pytest.mark.parametrize(
    ("specs", "jokers", "score"),
    [
        ("Ah", [], (5 + 11) * 1),
        ("Ah Ad", [], (10 + 22) * 2),
        ("Ah Ad Kc", [], (10 + 22) * 2),
        ("2h 5h 7h 9h Jh", [], (35 + 33) * 4),
        ("Th Jh Qh Kh Ah", [], (100 + 51) * 8),
        ("7h 7h 7h 7h 7h", [], (160 + 35) * 16),
        ("Ah Ad", ["Joker"], 32 * (2 + 4)),
        ("Ad Ad", ["Greedy Joker"], 32 * (2 + 3 + 3)),
        ("Ah Ah", ["Greedy Joker"], 32 * 2),
        ("Ah Ad Kc Kd", ["Jolly Joker", "Mad Joker"], 62 * (2 + 8 + 10)),
        ("Ah Ad", ["Sly Joker"], (32 + 50) * 2),
        ("2h 3d 4s 5c 6d", ["Crazy Joker", "Devious Joker"], (30 + 20 + 100) * (4 + 12)),
        ("2h 5h 7h 9h Jh", ["Droll Joker", "Crafty Joker"], (35 + 33 + 80) * (4 + 10)),
        ("Ah Ad As", ["Zany Joker", "Wily Joker"], (30 + 33 + 100) * (3 + 12)),
        ("Ah Ad", ["The Duo", "Joker"], 32 * (2 * 2 + 4)),
        ("Ah Ad", ["Joker", "The Duo"], 32 * ((2 + 4) * 2)),
    ],
)
def test_scores_are_base_plus_cards_times_mult_with_jokers(
    specs: str, jokers: list[str], score: float
) -> None:
    hand = cards(specs)
    play = score_play(hand, range(len(hand)), [Joker(name) for name in jokers])
    assert play.score == pytest.approx(score)


@pytest.mark.parametrize(
    ("specs", "score"),
    [
        ("Ah+glass Ad", 32 * 4),
        ("Ah+mult Ad", 32 * 6),
        ("Ah+bonus Ad", 62 * 2),
        ("Ah Ad Ks+steel", 32 * 3),
        ("Ah Ad 9c+stone", 82 * 2),
    ],
)
def test_enhancements_change_the_score(specs: str, score: float) -> None:
    hand = cards(specs)
    positions = [i for i, c in enumerate(hand) if c.enhancement != "steel"]
    assert score_play(hand, positions).score == pytest.approx(score)


def test_a_red_seal_scores_its_card_twice_and_editions_apply() -> None:
    red = [Card(14, "Hearts", seal="red"), Card(14, "Spades")]
    assert score_play(red, [0, 1]).score == pytest.approx((10 + 33) * 2)
    holo = [Card(14, "Hearts", edition="holographic"), Card(14, "Spades", edition="foil")]
    assert score_play(holo, [0, 1]).score == pytest.approx((32 + 50) * 12)


def test_unknown_jokers_score_what_the_mod_reports() -> None:
    hand = cards("Ah Ad")
    play = score_play(hand, [0, 1], [Joker("Ride the Bus", mult=6), Joker("Nobody", chips=20)])
    assert play.score == pytest.approx((32 + 20) * 8)


def test_best_play_prefers_the_flush_and_drops_kickers() -> None:
    hand = cards("2h 5h 7h 9h Jh Jd 3c 4s")
    best = best_play(hand)
    assert best is not None
    assert (best.hand, best.positions) == (H.FLUSH, (0, 1, 2, 3, 4))
    quads = best_play(cards("9s 9h 9d 9c Kd 2c"))
    assert quads is not None and quads.positions == (0, 1, 2, 3)


def test_best_play_keeps_steel_cards_in_hand() -> None:
    # Two pair (with the Steel king) 62 × 2 beats the pair of aces held over Steel, 32 × 3.
    best = best_play(cards("Ah Ad Ks+steel Kd"))
    assert best is not None and best.positions == (0, 1, 2, 3)
    pair = best_play(cards("Ah Ad 3s+steel"))
    assert pair is not None and pair.positions == (0, 1)


def test_best_play_of_nothing_and_of_unreadable_cards() -> None:
    assert best_play([]) is None
    fallback = best_play([Card(), Card()])
    assert fallback is not None and fallback.positions == (0,)


def test_top_plays_lists_one_play_per_hand_type_best_first() -> None:
    plays = top_plays(cards("2h 5h 7h 9h Jh Jd 3c 4s"), count=3)
    assert [p.hand for p in plays] == [H.FLUSH, H.PAIR, H.HIGH_CARD]
    assert plays[0].score >= plays[1].score >= plays[2].score


# --- properties -----------------------------------------------------------------------------

RANK_STRINGS = ["Ace", "King", "Queen", "Jack", "10", "9", "8", "7", "6", "5", "4", "3", "2"]
card_strategy = st.builds(
    Card.parse,
    st.sampled_from([*RANK_STRINGS, *RANK_STRINGS, "??", ""]),
    st.sampled_from([*SUITS, *SUITS, "Stars"]),
    st.sampled_from(["none"] * 8 + ["stone", "wild", "glass", "bonus", "mult", "steel", "lucky"]),
    st.sampled_from(["none"] * 6 + ["foil", "holographic", "polychrome"]),
    st.sampled_from(["none"] * 6 + ["Red"]),
)
JOKER_NAMES = [
    "Joker", "Greedy Joker", "Lusty Joker", "Wrathful Joker", "Gluttonous Joker",
    "Jolly Joker", "Zany Joker", "Mad Joker", "Crazy Joker", "Droll Joker", "Sly Joker",
    "Wily Joker", "Clever Joker", "Devious Joker", "Crafty Joker", "The Duo", "The Tribe",
    "Half Joker", "Scary Face", "Fibonacci", "Banner", "Mystic Summit", "Abstract Joker",
]  # fmt: skip
joker_strategy = st.builds(
    Joker,
    st.sampled_from([*JOKER_NAMES, "Unknown Thing"]),
    mult=st.sampled_from([0.0, 3.0]),
    chips=st.sampled_from([0.0, 20.0]),
    edition=st.sampled_from(["", "", "foil", "holographic", "polychrome"]),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(card_strategy, min_size=1, max_size=5))
def test_classification_never_crashes_and_is_order_free(selection: list[Card]) -> None:
    hand = classify(selection)
    assert set(hand.scoring) <= set(range(len(selection)))
    assert {i for i, c in enumerate(selection) if c.stone} <= set(hand.scoring)
    if hand.type in (H.STRAIGHT, H.FLUSH, H.FULL_HOUSE, H.STRAIGHT_FLUSH, H.FLUSH_HOUSE):
        assert hand.scoring == ALL
    for order in list(permutations(range(len(selection))))[:6]:
        assert classify([selection[i] for i in order]).type == hand.type


@SETTINGS
@given(
    st.lists(card_strategy, min_size=1, max_size=8),
    st.lists(joker_strategy, max_size=4),
    st.integers(0, 3),
)
def test_best_play_beats_every_subset_by_brute_force(
    hand: list[Card], jokers: list[Joker], discards: int
) -> None:
    best = best_play(hand, jokers, discards_left=discards)
    assert best is not None
    for size in range(1, min(5, len(hand)) + 1):
        for subset in combinations(range(len(hand)), size):
            other = score_play(hand, subset, jokers, discards_left=discards)
            assert best.score >= other.score * (1 - 1e-9), (subset, other, best)
