"""Discard planning: which cards to throw away to draw toward a better hand, and what it is
worth.

Three kinds of draw are weighed, each as "keep these, discard up to five of the rest":
toward a flush (3–4 cards of a suit), toward a straight (3–4 ranks of a five-rank window, the
likeliest two windows) and toward more of a kind (keep pairs and trips, or the best card).
The odds are hypergeometric over the estimated draw pile; a plan is worth
``chance × score if it hits + (1 − chance) × best score of the cards kept``, scored by the
same scorer as every play, so jokers count (a Droll Joker makes flushes worth chasing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import TYPE_CHECKING

from handlers.policies._hands import SUITS, Card
from handlers.policies._scoring import WINDOWS, Joker, all_plays, best_play, score_play

if TYPE_CHECKING:
    from handlers.policies._game import Pile

_FILLER_RANKS = (7, 8, 6, 9, 5, 10)


@dataclass(frozen=True, slots=True)
class DiscardPlan:
    """Discard ``positions`` (hand indices) drawing toward ``goal``."""

    positions: tuple[int, ...]
    goal: str
    chance: float
    """Probability that the draw completes the goal."""
    hit_score: float
    """Expected score of the best play when it does."""
    value: float
    """``chance × hit_score + (1 − chance) × best score of the cards kept``."""


def chance_at_least(need: int, successes: int, pile: int, draws: int) -> float:
    """P(at least ``need`` of ``successes`` special cards in ``draws`` from ``pile``)."""
    draws, successes = min(draws, pile), min(successes, pile)
    if need <= 0:
        return 1.0
    if successes < need or draws < need:
        return 0.0
    miss = sum(comb(successes, x) * comb(pile - successes, draws - x) for x in range(need))
    return max(0.0, 1.0 - miss / comb(pile, draws))


def _keep_value(card: Card) -> float:
    """How much a card is worth keeping when no draw decides: enhanced cards and high ranks
    stay, plain low cards go first."""
    bonus = 40.0 if card.enhancement in ("stone", "steel", "glass", "mult", "lucky") else 0.0
    return card.chips + bonus + (30.0 if card.edition else 0.0)


class _Planner:
    def __init__(
        self, hand: Sequence[Card], jokers: Sequence[Joker], pile: Pile, discards_left: int
    ) -> None:
        self.hand, self.jokers, self.pile = hand, jokers, pile
        self.after = max(discards_left - 1, 0)  # the discard uses one up
        # The plays still possible after a discard are among the hand's own candidates.
        self.plays = all_plays(hand, jokers, discards_left=self.after)
        self.by_value = sorted(range(len(hand)), key=lambda i: (_keep_value(hand[i]), i))

    def draws(self, keep: Sequence[int]) -> int:
        return min(5, len(self.hand) - len(keep))

    def plan(
        self, keep: Sequence[int], goal: str, chance: float, made: Sequence[Card]
    ) -> DiscardPlan | None:
        """Throw away up to five cards outside ``keep``, the least valuable first. ``made`` is
        the hand the draw completes: five exact cards, or cards to add to those kept."""
        kept = set(keep)
        thrown = tuple(sorted([i for i in self.by_value if i not in kept][:5]))
        if not thrown:
            return None
        miss = max((p.score for p in self.plays if not set(p.positions) & set(thrown)), default=0)
        if len(made) == 5:
            hit = score_play(made, range(5), self.jokers, discards_left=self.after).score
        else:
            held = [c for i, c in enumerate(self.hand) if i not in thrown]
            play = best_play([*held, *made], self.jokers, discards_left=self.after)
            hit = play.score if play else 0.0
        hit = max(hit, miss)
        return DiscardPlan(thrown, goal, chance, hit, chance * hit + (1.0 - chance) * miss)

    def flushes(self) -> list[DiscardPlan | None]:
        plans = []
        for suit in SUITS:
            keep = [i for i, c in enumerate(self.hand) if c.rank and (c.suit == suit or c.wild)]
            if 3 <= len(keep) <= 4:
                need = 5 - len(keep)
                odds = chance_at_least(
                    need, self.pile.suits[suit], self.pile.size, self.draws(keep)
                )
                have = {self.hand[i].rank for i in keep}
                fill = [Card(r, suit) for r in _FILLER_RANKS if r not in have][:need]
                plans.append(self.plan(keep, "flush", odds, [self.hand[i] for i in keep] + fill))
        return plans

    def straights(self) -> list[DiscardPlan | None]:
        first: dict[int, int] = {}
        for i in reversed(self.by_value):  # the most valuable card of each rank
            if self.hand[i].rank:
                first.setdefault(self.hand[i].rank, i)
        draws: list[tuple[float, tuple[int, ...], list[int], list[int]]] = []
        for window in WINDOWS:
            keep = [first[r] for r in window if r in first]
            missing = [r for r in window if r not in first]
            if 1 <= len(missing) <= 2:
                odds = 1.0
                for rank in missing:  # taken as independent: a little optimistic for two
                    odds *= chance_at_least(
                        1, self.pile.ranks[rank], self.pile.size, self.draws(keep)
                    )
                if odds > 0:
                    draws.append((odds, window, keep, missing))
        # Straights score about alike whatever the window: plan only the likeliest two.
        draws.sort(reverse=True)
        return [
            self.plan(keep, "straight", odds, [self.hand[i] for i in keep] + [Card(r) for r in gap])
            for odds, _, keep, gap in draws[:2]
        ]

    def kinds(self) -> list[DiscardPlan | None]:
        by_rank = Counter(c.rank for c in self.hand if c.rank)
        keep = [i for i, c in enumerate(self.hand) if c.rank and by_rank[c.rank] >= 2]
        if not keep:
            ranked = [i for i in self.by_value if self.hand[i].rank]
            if not ranked:
                return []
            keep = ranked[-1:]
        ranks = {self.hand[i].rank for i in keep}
        outs = sum(self.pile.ranks[r] for r in ranks)
        odds = chance_at_least(1, outs, self.pile.size, self.draws(keep))
        top = max(ranks, key=lambda r: (by_rank[r], r))
        return [self.plan(keep, "kind", odds, [Card(top)])]


def plan_discards(
    hand: Sequence[Card], jokers: Sequence[Joker], *, pile: Pile, discards_left: int
) -> list[DiscardPlan]:
    """Discard plans, the most valuable first (none when there is nothing to throw away)."""
    planner = _Planner(hand, jokers, pile, discards_left)
    plans = [*planner.flushes(), *planner.straights(), *planner.kinds()]
    return sorted((p for p in plans if p is not None), key=lambda p: (-p.value, p.positions))
