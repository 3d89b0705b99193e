"""Expected score of a play, and the search for the best one.

Each card's and each hand type's effect is folded once into affine steps
(``chips += a``, ``mult = (mult + b) × x + c``), so scoring one more selection costs a handful
of multiplications; and only selections that can be best are scored (see ``_candidates``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations, product

from handlers.policies._hands import SUITS, Card, Hand, HandType, classify
from handlers.policies._jokers import Effect, effect_for

WINDOWS = [(14, 2, 3, 4, 5)] + [tuple(range(low, low + 5)) for low in range(2, 11)]
_CARD_MULT = {"mult": 4.0, "lucky": 4.0}  # Lucky: 1 in 5 for +20 mult, as an expectation


@dataclass(frozen=True, slots=True)
class Joker:
    """A joker as the scorer needs it; a name nobody modelled scores its ``mult`` /
    ``chips`` / ``x_mult`` (what the mod reports for it) unconditionally."""

    name: str
    mult: float = 0.0
    chips: float = 0.0
    x_mult: float = 1.0
    edition: str = ""


@dataclass(frozen=True, slots=True)
class Play:
    """A scored play: ``positions`` and ``scoring`` index the hand; ``score = chips × mult``."""

    positions: tuple[int, ...]
    hand: HandType
    scoring: tuple[int, ...]
    chips: float
    mult: float

    @property
    def score(self) -> float:
        return self.chips * self.mult


class Scorer:
    """Scores selections of one hand, with one set of jokers, at one discard count."""

    def __init__(self, hand: Sequence[Card], jokers: Sequence[Joker], discards_left: int) -> None:
        self.hand = hand
        self.jokers = [
            (effect_for(j.name, mult=j.mult, chips=j.chips, x_mult=j.x_mult), j) for j in jokers
        ]
        self.discards_left = discards_left
        self.steps = [self._card_step(c) for c in hand]
        self.steel = frozenset(i for i, c in enumerate(hand) if c.enhancement == "steel")
        self.memo: dict[tuple[HandType, int], tuple[float, float, float]] = {}

    def _card_step(self, card: Card) -> tuple[float, float, float, float, int]:
        """One scored card, in the game's order: chips and mult, Glass, edition, then the
        per-card jokers; a red seal scores it twice."""
        a, b, c = float(card.chips), _CARD_MULT.get(card.enhancement, 0.0), 0.0
        x = 2.0 if card.enhancement == "glass" else 1.0
        a += 50.0 if card.edition == "foil" else 0.0
        c += 10.0 if card.edition == "holographic" else 0.0
        x *= 1.5 if card.edition == "polychrome" else 1.0
        for effect, _ in self.jokers:
            if (
                effect.card is not None
                and card.rank
                and effect.card(card.rank, card.suit, card.wild)
            ):
                a += effect.chips
                c += effect.mult
        return a, b, x, c, 2 if card.seal == "red" else 1

    def _joker_steps(self, kind: HandType, played: int) -> tuple[float, float, float]:
        """``(chips, x, c)`` of all jokers in order for this hand: ``mult = mult × x + c``."""
        key = (kind, played)
        if key not in self.memo:
            chips, x_total, c_total = 0.0, 1.0, 0.0
            for effect, joker in self.jokers:
                c, m, x = self._joker_effect(effect, kind, played)
                c += 50.0 if joker.edition == "foil" else 0.0
                m += 10.0 if joker.edition == "holographic" else 0.0
                x *= 1.5 if joker.edition == "polychrome" else 1.0
                chips += c
                x_total, c_total = x_total * x, (c_total + m) * x
            self.memo[key] = (chips, x_total, c_total)
        return self.memo[key]

    def _joker_effect(self, e: Effect, kind: HandType, played: int) -> tuple[float, float, float]:
        c = e.per_discard_chips * self.discards_left
        m = e.per_joker_mult * len(self.jokers)
        m += e.no_discards_mult if self.discards_left == 0 else 0.0
        if e.card is None and (not e.hand or e.hand in kind.contains) and played <= e.max_cards:
            return c + e.chips, m + e.mult, e.x_mult
        return c, m, 1.0

    def score(self, positions: tuple[int, ...], hand: Hand | None = None) -> Play:
        """Score ``positions`` (ascending); ``hand`` is its classification when known."""
        if hand is None:
            hand = classify([self.hand[i] for i in positions])
        chips, mult = float(hand.type.chips), float(hand.type.mult)
        for j in hand.scoring:
            a, b, x, c, times = self.steps[positions[j]]
            for _ in range(times):
                chips, mult = chips + a, (mult + b) * x + c
        if self.steel:
            mult *= 1.5 ** len(self.steel.difference(positions))
        j_chips, j_x, j_c = self._joker_steps(hand.type, len(positions))
        scoring = tuple(positions[j] for j in hand.scoring)
        return Play(positions, hand.type, scoring, chips + j_chips, mult * j_x + j_c)


_CORE_TYPES = {1: HandType.HIGH_CARD, 2: HandType.PAIR, 3: HandType.THREE_OF_A_KIND}
_CORE_TYPES[4] = HandType.FOUR_OF_A_KIND


def _candidates(hand: Sequence[Card], limit: int) -> Iterator[tuple[tuple[int, ...], Hand | None]]:
    """The selections that can be the best play, with their hand when known in advance.

    A selection scores exactly what its scoring cards score, and leaving its kickers in hand
    can only help (held Steel, Half Joker); so besides the 5-card hands (flushes, straights,
    full houses, five of a kind) only "cores" are tried: each single card, same-rank group
    and two pair, topped up with Stone cards, which always score. Eight random cards give
    about a dozen candidates instead of 218 subsets.
    """
    groups: dict[int, list[int]] = {}
    stones = [i for i, c in enumerate(hand) if c.stone]
    for i, card in enumerate(hand):
        if card.rank:
            groups.setdefault(card.rank, []).append(i)
    cores: list[tuple[tuple[int, ...], HandType]] = []
    for g in groups.values():
        for size in range(1, min(len(g), 4) + 1):
            cores.extend((core, _CORE_TYPES[size]) for core in combinations(g, size))
    multi = [g for g in groups.values() if len(g) >= 2]
    for g1, g2 in combinations(multi, 2):
        cores.extend(
            (p1 + p2, HandType.TWO_PAIR) for p1 in combinations(g1, 2) for p2 in combinations(g2, 2)
        )
    if stones:
        cores.append(((), HandType.HIGH_CARD))
    for core, kind in cores:
        room = limit - len(core)
        # Every number of Stone cards, not only the most: a joker such as Half Joker pays
        # for playing fewer cards.
        for count in range(1 if not core else 0, max(min(room, len(stones)), -1) + 1):
            for extra in combinations(stones, count):
                chosen = core + extra
                yield tuple(sorted(chosen)), Hand(kind, tuple(range(len(chosen))))
    if limit == 5:
        for five in _five_card_hands(hand, groups):
            yield five, None


def _five_card_hands(
    hand: Sequence[Card], groups: dict[int, list[int]]
) -> Iterator[tuple[int, ...]]:
    """Every selection that may be a 5-card hand type (it is classified when scored)."""
    if len(hand) < 5:
        return
    for g in groups.values():
        if len(g) >= 5:
            yield from combinations(g, 5)
        if len(g) >= 3:
            for pair in groups.values():
                if pair is not g and len(pair) >= 2:
                    for t, p in product(combinations(g, 3), combinations(pair, 2)):
                        yield tuple(sorted(t + p))
    for window in WINDOWS:
        if all(r in groups for r in window):
            yield from (tuple(sorted(pick)) for pick in product(*(groups[r] for r in window)))
    for suit in SUITS:
        members = [i for i, c in enumerate(hand) if c.rank and (c.suit == suit or c.wild)]
        if len(members) >= 5:
            yield from combinations(members, 5)


def score_play(
    hand: Sequence[Card],
    positions: Sequence[int],
    jokers: Sequence[Joker] = (),
    *,
    discards_left: int = 0,
) -> Play:
    """The expected score of playing ``hand[positions]``; the rest of ``hand`` is held."""
    return Scorer(hand, jokers, discards_left).score(tuple(sorted(positions)))


def all_plays(
    hand: Sequence[Card],
    jokers: Sequence[Joker] = (),
    *,
    discards_left: int = 0,
    max_cards: int = 5,
) -> list[Play]:
    """Every candidate play of ``hand`` scored (see ``_candidates``); empty for no cards."""
    if not hand:
        return []
    scorer = Scorer(hand, jokers, discards_left)
    plays = [scorer.score(p, known) for p, known in _candidates(hand, max(1, min(max_cards, 5)))]
    # A hand of unreadable cards has no candidate; playing one card is still legal.
    return plays or [scorer.score((0,))]


def top_plays(
    hand: Sequence[Card],
    jokers: Sequence[Joker] = (),
    *,
    discards_left: int = 0,
    max_cards: int = 5,
    count: int = 3,
) -> list[Play]:
    """The best play of each hand type, the highest-scoring first (fewest cards on a tie),
    at most ``count`` of them; empty for an empty hand."""
    best: dict[HandType, Play] = {}
    for play in all_plays(hand, jokers, discards_left=discards_left, max_cards=max_cards):
        held = best.get(play.hand)
        if held is None or (play.score, -len(play.positions)) > (
            held.score,
            -len(held.positions),
        ):
            best[play.hand] = play
    plays = sorted(best.values(), key=lambda p: (-p.score, len(p.positions), p.positions))
    return plays[:count]


def best_play(
    hand: Sequence[Card],
    jokers: Sequence[Joker] = (),
    *,
    discards_left: int = 0,
    max_cards: int = 5,
) -> Play | None:
    """The highest-scoring play of at most ``max_cards`` cards, fewest cards on a tie;
    ``None`` for an empty hand."""
    plays = top_plays(hand, jokers, discards_left=discards_left, max_cards=max_cards, count=1)
    return plays[0] if plays else None
