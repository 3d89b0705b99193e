"""The jokers on sale and how a played hand scores with them.

A hand scores ``(base chips + chips of the scoring cards + joker chips) × (base mult + joker
mult) × joker xmult``. Per-card jokers (Greedy Joker: +3 mult per scored Diamond) apply while
the cards score; the others apply after, left to right, so an xmult joker multiplies what the
jokers to its left added, as in Balatro.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ops.sim.poker import HAND_TABLE, Card, evaluate

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CATALOGUE", "Joker", "JokerKind", "Scored", "Trigger", "score_hand"]

Condition = Literal["always", "no_discards", "small_hand"]


@dataclass(frozen=True, slots=True)
class JokerKind:
    """One joker's rule. Per-card fields apply to each scoring card that matches."""

    name: str
    cost: int
    rarity: int = 1
    chips: int = 0
    mult: int = 0
    xmult: float = 1.0
    needs: str | None = None
    """Hand type the played hand must contain for ``chips``/``mult``/``xmult`` to apply."""
    condition: Condition = "always"
    chips_per_discard: int = 0
    card_suit: str | None = None
    card_ranks: frozenset[int] | None = None
    card_chips: int = 0
    card_mult: int = 0

    @property
    def sell_value(self) -> int:
        return max(1, self.cost // 2)


def _ranks(*ranks: int) -> frozenset[int]:
    return frozenset(ranks)


CATALOGUE: tuple[JokerKind, ...] = (
    JokerKind("Joker", 2, mult=4),
    JokerKind("Greedy Joker", 5, card_suit="Diamonds", card_mult=3),
    JokerKind("Lusty Joker", 5, card_suit="Hearts", card_mult=3),
    JokerKind("Wrathful Joker", 5, card_suit="Spades", card_mult=3),
    JokerKind("Gluttonous Joker", 5, card_suit="Clubs", card_mult=3),
    JokerKind("Jolly Joker", 3, mult=8, needs="Pair"),
    JokerKind("Zany Joker", 4, mult=12, needs="Three of a Kind"),
    JokerKind("Mad Joker", 4, mult=10, needs="Two Pair"),
    JokerKind("Crazy Joker", 4, mult=12, needs="Straight"),
    JokerKind("Droll Joker", 4, mult=10, needs="Flush"),
    JokerKind("Sly Joker", 3, chips=50, needs="Pair"),
    JokerKind("Wily Joker", 4, chips=100, needs="Three of a Kind"),
    JokerKind("Clever Joker", 4, chips=80, needs="Two Pair"),
    JokerKind("Devious Joker", 4, chips=100, needs="Straight"),
    JokerKind("Crafty Joker", 4, chips=80, needs="Flush"),
    JokerKind("Banner", 5, chips_per_discard=30),
    JokerKind("Mystic Summit", 5, mult=15, condition="no_discards"),
    JokerKind("Half Joker", 5, mult=20, condition="small_hand"),
    JokerKind("Scary Face", 4, card_ranks=_ranks(11, 12, 13), card_chips=30),
    JokerKind("Even Steven", 4, card_ranks=_ranks(2, 4, 6, 8, 10), card_mult=4),
    JokerKind("Odd Todd", 4, card_ranks=_ranks(3, 5, 7, 9, 14), card_chips=31),
    JokerKind("Fibonacci", 8, rarity=2, card_ranks=_ranks(2, 3, 5, 8, 14), card_mult=8),
    JokerKind("Scholar", 4, card_ranks=_ranks(14), card_chips=20, card_mult=4),
    JokerKind("Cavendish", 4, xmult=3.0),
)
"""Every joker the shop can offer (Balatro's names, costs and values)."""


@dataclass(frozen=True, slots=True)
class Joker:
    """A joker owned or on sale; ``uid`` is its ``unique_val`` float id."""

    kind: JokerKind
    uid: float


@dataclass(frozen=True, slots=True)
class Trigger:
    """A joker that changed the score of a hand, and by how much."""

    position: int
    joker: Joker
    chips: float
    mult: float
    contribution: float
    """Score added by this joker: the product after it minus the product before it."""


@dataclass(frozen=True, slots=True)
class Scored:
    """The result of one played hand."""

    hand: str
    scoring: tuple[Card, ...]
    chips: float
    mult: float
    score: float
    triggers: tuple[Trigger, ...]


def _card_match(kind: JokerKind, card: Card) -> bool:
    if kind.card_suit is not None and card.suit != kind.card_suit:
        return False
    if kind.card_ranks is not None and card.rank not in kind.card_ranks:
        return False
    return kind.card_suit is not None or kind.card_ranks is not None


def _applies(kind: JokerKind, contains: frozenset[str], played: int, discards: int) -> bool:
    if kind.needs is not None and kind.needs not in contains:
        return False
    if kind.condition == "no_discards":
        return discards == 0
    if kind.condition == "small_hand":
        return played <= 3
    return True


def score_hand(
    played: Sequence[Card],
    jokers: Sequence[Joker],
    *,
    discards_left: int,
    score_multiplier: float = 1.0,
) -> Scored:
    """Score ``played`` with ``jokers``; ``score_multiplier`` scales the final product."""
    ev = evaluate(played)
    base_chips, base_mult = HAND_TABLE[ev.hand]
    chips = float(base_chips + sum(card.chips for card in ev.scoring))
    mult = float(base_mult)
    triggers: list[Trigger] = []
    per_card = {i: (0, 0) for i in range(len(jokers))}
    for card in ev.scoring:
        for i, joker in enumerate(jokers):
            if _card_match(joker.kind, card):
                c, m = per_card[i]
                per_card[i] = (c + joker.kind.card_chips, m + joker.kind.card_mult)
    for i, joker in enumerate(jokers):
        kind = joker.kind
        before = chips * mult
        add_chips, add_mult = per_card[i]
        xmult = 1.0
        if _applies(kind, ev.contains, len(played), discards_left):
            add_chips += kind.chips + kind.chips_per_discard * discards_left
            add_mult += kind.mult
            xmult = kind.xmult
        if add_chips == 0 and add_mult == 0 and xmult == 1.0:
            continue
        chips += add_chips
        mult = (mult + add_mult) * xmult
        triggers.append(Trigger(i, joker, add_chips, add_mult, chips * mult - before))
    score = chips * mult * score_multiplier
    return Scored(ev.hand, ev.scoring, chips, mult, score, tuple(triggers))
