"""Cards and Balatro's hand table, and the classification of a played selection."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

SUITS = ("Spades", "Hearts", "Clubs", "Diamonds")
_RANKS = {"ace": 14, "a": 14, "king": 13, "k": 13, "queen": 12, "q": 12, "jack": 11, "j": 11}
_RANKS.update({str(n): n for n in range(2, 11)}, t=10)
_SUIT_NAMES = {name.lower(): name for name in SUITS}
_SUIT_NAMES.update({name[0].lower(): name for name in SUITS})
_SUIT_NAMES.update({name[:-1].lower(): name for name in SUITS})
_TAGS = {"holo": "holographic", "none": "", "base": "", "unknown": ""}
ACE_LOW = frozenset({14, 2, 3, 4, 5})


class HandType(enum.Enum):
    """A Balatro poker hand; the value is the name the game shows."""

    HIGH_CARD = "High Card"
    PAIR = "Pair"
    TWO_PAIR = "Two Pair"
    THREE_OF_A_KIND = "Three of a Kind"
    STRAIGHT = "Straight"
    FLUSH = "Flush"
    FULL_HOUSE = "Full House"
    FOUR_OF_A_KIND = "Four of a Kind"
    STRAIGHT_FLUSH = "Straight Flush"
    ROYAL_FLUSH = "Royal Flush"
    """An ace-high straight flush: the game's Straight Flush under its showier name."""
    FIVE_OF_A_KIND = "Five of a Kind"
    FLUSH_HOUSE = "Flush House"
    FLUSH_FIVE = "Flush Five"

    # Members are singletons, so identity hashing is exact; Enum's own __hash__ is Python
    # code, and the scorer keys dicts by hand type dozens of times per decision.
    __hash__ = object.__hash__

    @property
    def chips(self) -> int:
        """Base chips at level 1."""
        return _BASE[self][0]

    @property
    def mult(self) -> int:
        """Base mult at level 1."""
        return _BASE[self][1]

    @property
    def contains(self) -> frozenset[str]:
        """Member names of the hands this one contains ("if played hand contains a Pair")."""
        return _CONTAINS[self]


H = HandType
_BASE = {
    H.HIGH_CARD: (5, 1), H.PAIR: (10, 2), H.TWO_PAIR: (20, 2), H.THREE_OF_A_KIND: (30, 3),
    H.STRAIGHT: (30, 4), H.FLUSH: (35, 4), H.FULL_HOUSE: (40, 4), H.FOUR_OF_A_KIND: (60, 7),
    H.STRAIGHT_FLUSH: (100, 8), H.ROYAL_FLUSH: (100, 8), H.FIVE_OF_A_KIND: (120, 12),
    H.FLUSH_HOUSE: (140, 14), H.FLUSH_FIVE: (160, 16),
}  # fmt: skip
_PARTS = {
    H.HIGH_CARD: (), H.PAIR: ("PAIR",), H.TWO_PAIR: ("TWO_PAIR", "PAIR"),
    H.THREE_OF_A_KIND: ("THREE_OF_A_KIND", "PAIR"), H.STRAIGHT: ("STRAIGHT",), H.FLUSH: ("FLUSH",),
    H.FULL_HOUSE: ("FULL_HOUSE", "THREE_OF_A_KIND", "TWO_PAIR", "PAIR"),
    H.FOUR_OF_A_KIND: ("FOUR_OF_A_KIND", "THREE_OF_A_KIND", "PAIR"),
    H.STRAIGHT_FLUSH: ("STRAIGHT_FLUSH", "STRAIGHT", "FLUSH"),
    H.FIVE_OF_A_KIND: ("FIVE_OF_A_KIND", "FOUR_OF_A_KIND", "THREE_OF_A_KIND", "PAIR"),
    H.FLUSH_HOUSE: ("FLUSH_HOUSE", "FULL_HOUSE", "FLUSH", "THREE_OF_A_KIND", "TWO_PAIR", "PAIR"),
    H.FLUSH_FIVE: ("FLUSH_FIVE", "FIVE_OF_A_KIND", "FOUR_OF_A_KIND", "FLUSH", "THREE_OF_A_KIND",
                   "PAIR"),
}  # fmt: skip
_PARTS[H.ROYAL_FLUSH] = _PARTS[H.STRAIGHT_FLUSH]
_CONTAINS = {t: frozenset({"HIGH_CARD", *parts}) for t, parts in _PARTS.items()}


def tag(value: str | None) -> str:
    """``"m_bonus"`` / ``"Bonus Card"`` / ``"none"`` → ``"bonus"`` / ``"bonus"`` / ``""``."""
    text = (value or "").strip().lower().removeprefix("m_").removeprefix("e_")
    text = text.removesuffix(" card").removesuffix(" seal")
    return _TAGS.get(text, text)


@dataclass(frozen=True, slots=True)
class Card:
    """A playing card. ``rank`` is 2–14 (Ace 14) or 0 for none (Stone, unreadable);
    ``suit`` is one of ``SUITS`` or ``""``; the tags are lower-case (``"glass"``, ``"foil"``,
    ``"red"``) or ``""``."""

    rank: int = 0
    suit: str = ""
    enhancement: str = ""
    edition: str = ""
    seal: str = ""

    @classmethod
    def parse(
        cls,
        rank: str | None,
        suit: str | None,
        enhancement: str | None = None,
        edition: str | None = None,
        seal: str | None = None,
    ) -> Card:
        """A card from the mod's strings (``"Ace"``, ``"10"``, ``"Spades"``, ``"m_glass"``);
        anything unreadable becomes "no rank" / "no suit" rather than an error."""
        return _parse(rank, suit, enhancement, edition, seal)

    @property
    def chips(self) -> int:
        """Chips this card adds when it scores (2–10 face value, J/Q/K 10, Ace 11, Stone 50,
        Bonus +30)."""
        if self.enhancement == "stone":
            return 50
        base = 11 if self.rank == 14 else min(self.rank, 10)
        return base + (30 if self.enhancement == "bonus" else 0)

    @property
    def stone(self) -> bool:
        return self.enhancement == "stone"

    @property
    def wild(self) -> bool:
        """A Wild card counts as every suit."""
        return self.enhancement == "wild"


@lru_cache(maxsize=4096)  # a full deck arrives with every state; a run has few distinct cards
def _parse(
    rank: str | None,
    suit: str | None,
    enhancement: str | None,
    edition: str | None,
    seal: str | None,
) -> Card:
    enh = tag(enhancement)
    if enh == "stone":  # a Stone card keeps its base in the game but has no rank or suit
        return Card(0, "", enh, tag(edition), tag(seal))
    return Card(
        _RANKS.get((rank or "").strip().lower(), 0),
        _SUIT_NAMES.get((suit or "").strip().lower(), ""),
        enh,
        tag(edition),
        tag(seal),
    )


@dataclass(frozen=True, slots=True)
class Hand:
    """A classified selection: its type and the indices of the cards that score."""

    type: HandType
    scoring: tuple[int, ...]


def is_flush(cards: Sequence[Card]) -> bool:
    """Five cards of one suit (Wild cards fit any suit; Stone cards have none)."""
    if len(cards) != 5:
        return False
    suits = {c.suit for c in cards if not c.wild}
    return len(suits) <= 1 and "" not in suits and not any(c.stone for c in cards)


def classify(cards: Sequence[Card]) -> Hand:
    """The Balatro hand a selection of 1–5 cards makes, and which of its cards score.

    Raises:
        ValueError: for an empty selection or one of more than five cards.
    """
    n = len(cards)
    if not 1 <= n <= 5:
        raise ValueError(f"a played hand has 1 to 5 cards, got {n}")
    groups: dict[int, list[int]] = {}
    stones: list[int] = []
    for i, card in enumerate(cards):
        if card.rank:
            groups.setdefault(card.rank, []).append(i)
        elif card.stone:
            stones.append(i)
    # Largest group first, the higher rank on a tie.
    ordered = sorted(((len(g), r, g) for r, g in groups.items()), reverse=True)
    everything = tuple(range(n))
    if n == 5 and not stones and sum(len(g) for g in groups.values()) == 5:
        flush = is_flush(cards)
        top_size = ordered[0][0]
        if top_size == 5:
            return Hand(H.FLUSH_FIVE if flush else H.FIVE_OF_A_KIND, everything)
        if top_size == 3 and ordered[1][0] == 2:
            return Hand(H.FLUSH_HOUSE if flush else H.FULL_HOUSE, everything)
        straight = len(groups) == 5 and (
            ordered[0][1] - ordered[4][1] == 4 or set(groups) == ACE_LOW
        )
        if straight and flush:
            return Hand(H.ROYAL_FLUSH if ordered[4][1] == 10 else H.STRAIGHT_FLUSH, everything)
        if top_size < 4 and (flush or straight):
            return Hand(H.FLUSH if flush else H.STRAIGHT, everything)
    if not ordered:
        return Hand(H.HIGH_CARD, tuple(stones))
    size, _, top = ordered[0]
    if size >= 4:
        kind, used = H.FOUR_OF_A_KIND, top[:4]
    elif size == 3:
        kind, used = H.THREE_OF_A_KIND, top
    elif size == 2 and len(ordered) > 1 and ordered[1][0] == 2:
        kind, used = H.TWO_PAIR, top + ordered[1][2]
    elif size == 2:
        kind, used = H.PAIR, top
    else:
        kind, used = H.HIGH_CARD, top[:1]
    return Hand(kind, tuple(sorted(used + stones)))
