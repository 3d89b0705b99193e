"""Cards and poker hands: what a played hand is and which of its cards score.

Balatro's rules, kept small: a 52-card deck, the twelve hand types with their base chips and
mult, ace-low straights, flushes and straights only with five cards, and "contains" (a Full
House contains a Pair) for jokers that care about it. Written apart from the decision policy
on purpose: the game and the AI that plays it must not share a bug.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "HAND_ORDER",
    "HAND_TABLE",
    "RANK_NAMES",
    "SUITS",
    "Card",
    "Evaluation",
    "evaluate",
]

SUITS = ("Spades", "Hearts", "Clubs", "Diamonds")
RANK_NAMES = {
    **{r: str(r) for r in range(2, 11)},
    11: "Jack",
    12: "Queen",
    13: "King",
    14: "Ace",
}
"""Rank number → the name the mod sends (``card.base.value``)."""

HAND_TABLE: dict[str, tuple[int, int]] = {
    "High Card": (5, 1),
    "Pair": (10, 2),
    "Two Pair": (20, 2),
    "Three of a Kind": (30, 3),
    "Straight": (30, 4),
    "Flush": (35, 4),
    "Full House": (40, 4),
    "Four of a Kind": (60, 7),
    "Straight Flush": (100, 8),
    "Five of a Kind": (120, 12),
    "Flush House": (140, 14),
    "Flush Five": (160, 16),
}
"""Hand type → (base chips, base mult), level 1."""

HAND_ORDER = tuple(reversed(HAND_TABLE))
"""Hand types from best to worst: a hand is the first type of this order it contains."""

_ALL_SCORE = frozenset(HAND_ORDER[:7]) - {"Four of a Kind"} | {"Straight"}
"""Hand types in which every played card scores."""


@dataclass(frozen=True, slots=True)
class Card:
    """A playing card; ``uid`` is the game's ``unique_val``, the float id the mod sends."""

    rank: int
    suit: str
    uid: float

    @property
    def chips(self) -> int:
        """What the card adds when it scores: 2–10 face value, J/Q/K 10, A 11."""
        if self.rank == 14:
            return 11
        return min(self.rank, 10)

    @property
    def rank_name(self) -> str:
        return RANK_NAMES[self.rank]

    @property
    def is_face(self) -> bool:
        return 11 <= self.rank <= 13


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A played hand: its type, the cards that score, and every type it contains."""

    hand: str
    scoring: tuple[Card, ...]
    contains: frozenset[str]


def _is_straight(ranks: Sequence[int]) -> bool:
    distinct = sorted(set(ranks))
    if len(distinct) != 5:
        return False
    if distinct[-1] - distinct[0] == 4:
        return True
    return distinct == [2, 3, 4, 5, 14]  # A-2-3-4-5: the ace plays low


def evaluate(cards: Sequence[Card]) -> Evaluation:
    """Classify 1–5 played cards and pick the scoring ones.

    Raises:
        ValueError: when no card or more than five are played.
    """
    if not 1 <= len(cards) <= 5:
        raise ValueError(f"a hand is 1 to 5 cards, got {len(cards)}")
    counts = Counter(card.rank for card in cards)
    sizes = sorted(counts.values(), reverse=True)
    five = len(cards) == 5
    flush = five and len({card.suit for card in cards}) == 1
    straight = five and _is_straight([card.rank for card in cards])
    found = {"High Card"}
    if sizes[0] >= 2:
        found.add("Pair")
    if sum(1 for n in sizes if n >= 2) >= 2:
        found.add("Two Pair")
    if sizes[0] >= 3:
        found.add("Three of a Kind")
    if sizes[0] >= 4:
        found.add("Four of a Kind")
    if sizes[0] == 5:
        found.add("Five of a Kind")
    full_house = sizes[:2] == [3, 2]
    if full_house:
        found.add("Full House")
    if straight:
        found.add("Straight")
    if flush:
        found.add("Flush")
    if straight and flush:
        found.add("Straight Flush")
    if flush and full_house:
        found.add("Flush House")
    if flush and sizes[0] == 5:
        found.add("Flush Five")
    hand = next(name for name in HAND_ORDER if name in found)
    return Evaluation(hand, _scoring(hand, cards, counts), frozenset(found))


def _scoring(hand: str, cards: Sequence[Card], counts: Counter[int]) -> tuple[Card, ...]:
    if hand in _ALL_SCORE:
        return tuple(cards)
    if hand == "High Card":
        best = max(card.rank for card in cards)
        return (next(card for card in cards if card.rank == best),)
    need = {"Four of a Kind": 4, "Three of a Kind": 3}.get(hand, 2)
    ranks = {rank for rank, n in counts.items() if n >= need}
    if hand == "Pair":
        ranks = {max(ranks)}
    return tuple(card for card in cards if card.rank in ranks)
