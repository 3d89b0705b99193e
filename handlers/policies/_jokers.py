"""The simple jokers' effects, as data, so the scorer can fold them into cheap affine steps.

Only effects that depend on the played hand, the scored cards and a few round counters are
modelled; anything else falls back to the joker's reported ``mult`` / ``chips`` / ``x_mult``
(the mod sends ``ability.mult`` and ``ability.t_chips``, which is where scaling jokers keep
their current value). Values are Balatro's at level 1, white stake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CardTest = Callable[[int, str, bool], bool]
"""``(rank, suit, wild) -> bool``: whether a scored card triggers a per-card joker."""


def _suit(suit: str) -> CardTest:
    return lambda rank, card_suit, wild: wild or card_suit == suit


def _ranks(*ranks: int) -> CardTest:
    wanted = frozenset(ranks)
    return lambda rank, suit, wild: rank in wanted


@dataclass(frozen=True, slots=True)
class Effect:
    """What one joker adds: ``+chips``, ``+mult``, then ``×x_mult``, when its condition holds."""

    chips: float = 0.0
    mult: float = 0.0
    x_mult: float = 1.0
    hand: str = ""
    """The played hand must contain this hand type (a ``HandType`` member name)."""
    card: CardTest | None = None
    """Per scored card: the effect applies once for each scored card passing this test."""
    max_cards: int = 5
    """Only when at most this many cards are played (Half Joker)."""
    per_discard_chips: float = 0.0
    """``+chips`` per discard left (Banner)."""
    no_discards_mult: float = 0.0
    """``+mult`` when no discards are left (Mystic Summit)."""
    per_joker_mult: float = 0.0
    """``+mult`` per joker held, itself included (Abstract Joker)."""


FACE = _ranks(11, 12, 13)

KNOWN: dict[str, Effect] = {
    "joker": Effect(mult=4),
    "greedy joker": Effect(mult=3, card=_suit("Diamonds")),
    "lusty joker": Effect(mult=3, card=_suit("Hearts")),
    "wrathful joker": Effect(mult=3, card=_suit("Spades")),
    "gluttonous joker": Effect(mult=3, card=_suit("Clubs")),
    "jolly joker": Effect(mult=8, hand="PAIR"),
    "zany joker": Effect(mult=12, hand="THREE_OF_A_KIND"),
    "mad joker": Effect(mult=10, hand="TWO_PAIR"),
    "crazy joker": Effect(mult=12, hand="STRAIGHT"),
    "droll joker": Effect(mult=10, hand="FLUSH"),
    "sly joker": Effect(chips=50, hand="PAIR"),
    "wily joker": Effect(chips=100, hand="THREE_OF_A_KIND"),
    "clever joker": Effect(chips=80, hand="TWO_PAIR"),
    "devious joker": Effect(chips=100, hand="STRAIGHT"),
    "crafty joker": Effect(chips=80, hand="FLUSH"),
    "the duo": Effect(x_mult=2, hand="PAIR"),
    "the trio": Effect(x_mult=3, hand="THREE_OF_A_KIND"),
    "the family": Effect(x_mult=4, hand="FOUR_OF_A_KIND"),
    "the order": Effect(x_mult=3, hand="STRAIGHT"),
    "the tribe": Effect(x_mult=2, hand="FLUSH"),
    "half joker": Effect(mult=20, max_cards=3),
    "gros michel": Effect(mult=15),
    "cavendish": Effect(x_mult=3),
    "scary face": Effect(chips=30, card=FACE),
    "smiley face": Effect(mult=5, card=FACE),
    "even steven": Effect(mult=4, card=_ranks(2, 4, 6, 8, 10)),
    "odd todd": Effect(chips=31, card=_ranks(3, 5, 7, 9, 14)),
    "scholar": Effect(chips=20, mult=4, card=_ranks(14)),
    "fibonacci": Effect(mult=8, card=_ranks(2, 3, 5, 8, 14)),
    "walkie talkie": Effect(chips=10, mult=4, card=_ranks(4, 10)),
    "banner": Effect(per_discard_chips=30),
    "mystic summit": Effect(no_discards_mult=15),
    "abstract joker": Effect(per_joker_mult=3),
}

RARITY_GAIN = {"common": 0.15, "uncommon": 0.25, "rare": 0.4, "legendary": 0.8}
"""Relative score gain assumed for a shop joker nobody modelled, by rarity."""


def normalise_name(name: str) -> str:
    """``"j_greedy_joker"`` / ``"Greedy Joker"`` → ``"greedy joker"``."""
    key = " ".join(name.replace("_", " ").lower().split())
    return key[2:] if key.startswith("j ") else key


def effect_for(name: str, *, mult: float = 0.0, chips: float = 0.0, x_mult: float = 1.0) -> Effect:
    """The known effect of ``name``, else a flat effect from the joker's reported values."""
    known = KNOWN.get(normalise_name(name))
    if known is not None:
        return known
    return Effect(chips=max(chips, 0.0), mult=max(mult, 0.0), x_mult=max(x_mult, 1.0))
