"""Balatro's poker hands: classify a played selection, score it, and find the best play.

Every hand decision of the default policy rests on this, so it follows the game's rules, not
poker's:

- a hand is 1–5 cards; only the cards forming the hand score (the pair of a Pair, the highest
  card of a High Card), all five for straights, flushes and full houses, and Stone cards
  (no rank, no suit, +50 chips) always;
- Five of a Kind, Flush House and Flush Five exist; a flush needs five cards (Wild cards fit
  any suit); A-2-3-4-5 is a straight, Q-K-A-2-3 is not; a Royal Flush is a Straight Flush;
- card chips are the face value, J/Q/K 10, Ace 11; ranks and suits are read as the mod sends
  them (``"Ace"``, ``"10"``, ``"Spades"``), anything unreadable is "no rank" / "no suit".

Scores are expected values at hand level 1: (base chips + card chips …) × (base mult + …),
with Bonus/Mult/Glass/Lucky/Steel/Stone, editions, red seals and the simple jokers.
"""

from __future__ import annotations

from handlers.policies._hands import SUITS, Card, Hand, HandType, classify, is_flush
from handlers.policies._scoring import Joker, Play, Scorer, best_play, score_play, top_plays

__all__ = [
    "SUITS",
    "Card",
    "Hand",
    "HandType",
    "Joker",
    "Play",
    "Scorer",
    "best_play",
    "classify",
    "is_flush",
    "score_play",
    "top_plays",
]
