"""Compact builders for cards and decision requests: ``"Ah Td 2s"`` reads better than protos."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from handlers.policies import game_phase
from handlers.policies.poker import Card
from schemas.events_pb2 import LearningDecisionRequest

RANK_NAMES = {"A": "Ace", "K": "King", "Q": "Queen", "J": "Jack", "T": "10"}
SUIT_NAMES = {"s": "Spades", "h": "Hearts", "c": "Clubs", "d": "Diamonds"}


def mod_card(spec: str) -> tuple[str, str]:
    """``"Td"`` → ``("10", "Diamonds")``, the strings the mod sends."""
    rank, suit = spec[:-1], spec[-1]
    return RANK_NAMES.get(rank, rank), SUIT_NAMES[suit]


def cards(specs: str) -> list[Card]:
    """``"Ah Kd"`` → cards; a ``+tag`` suffix sets the enhancement (``"Ah+glass"``)."""
    out = []
    for spec in specs.split():
        base, _, enhancement = spec.partition("+")
        out.append(Card.parse(*mod_card(base), enhancement or None))
    return out


def request(
    hand: str = "",
    *,
    phase: str = "SELECTING_HAND",
    blind: float | None = 300.0,
    chips: float = 0.0,
    ante: int = 1,
    round: int = 1,
    money: float = 10.0,
    hands: int = 4,
    discards: int = 3,
    jokers: Iterable[str] = (),
    shop: Mapping[str, tuple[str, float]] | None = None,
    available: Iterable[str] = (),
    time_limit_ms: float = 0.0,
) -> LearningDecisionRequest:
    """A request shaped as the mod's GAME_STATE arrives after conversion."""
    req = LearningDecisionRequest(request_id="req-1", time_limit_ms=time_limit_ms)
    state = req.game_state
    state.in_game = True
    state.game_state = phase
    state.ante, state.round, state.money_exact = ante, round, money
    state.money = int(money)
    state.hands_remaining, state.discards_remaining = hands, discards
    state.chips, state.chips_exact = int(min(chips, 2**31 - 1)), chips
    if blind is not None:
        # The blind being played, or in BLIND_SELECT the one on deck (``round`` counts the
        # blinds played so far).
        kind = (round if game_phase(state) == "BLIND_SELECT" else round - 1) % 3
        state.blind.name = ("Small Blind", "Big Blind", "The Hook")[kind]
        state.blind.boss = kind == 2
        state.blind.chips = blind
    for position, spec in enumerate(hand.split()):
        base, _, enhancement = spec.partition("+")
        rank, suit = mod_card(base)
        state.hand.add(
            rank=rank,
            suit=suit,
            enhancement=enhancement or "none",
            edition="none",
            seal="none",
            position=position,
            id=0.1 + position / 100,
        )
    for position, name in enumerate(jokers):
        joker = state.jokers.add(name=name, position=position)
        joker.properties_exact.update({"mult": 0, "chips": 0, "cost": 5, "edition": "none"})
    for key, (name, cost) in (shop or {}).items():
        item = state.shop_items_exact[key]
        item.name, item.cost = name, cost
        item.rarity.string_value = "common"
        state.shop_items[key] = int(cost)
    req.available_actions.extend(available)
    return req
