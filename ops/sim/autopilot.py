"""A trivial local player, so the game and the mod client can run without a server.

It is deliberately simple and shares nothing with ``handlers.policies``: its job is to drive
games to an end in tests and in offline speed runs, not to play well. Rules: take every blind;
play a flush or straight if one is in hand, else the largest group of equal ranks; discard the
loose cards of a weak hand while discards remain; cash out to the shop, buy the first joker it
can afford, leave.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.sim.poker import Card
    from ops.sim.rules import Game

__all__ = ["decide"]


def decide(game: Game) -> list[str]:
    """The commands for the game's current decision, in the mod's text format."""
    if game.phase == "BLIND_SELECT":
        return [f"select_{game.upcoming.kind}_blind"]
    if game.phase == "SELECTING_HAND":
        return _play(game)
    if game.phase == "ROUND_EVAL":
        return ["go_to_shop"]
    if game.phase == "SHOP":
        return _shop(game)
    return []


def _select(game: Game, cards: list[Card]) -> list[str]:
    # Deselect whatever is highlighted first: a selection toggles.
    positions = {card: i for i, card in enumerate(game.hand)}
    out = [f"select_card:{positions[card]}" for card in game.highlighted]
    return out + [f"select_card:{positions[card]}" for card in cards]


def _play(game: Game) -> list[str]:
    hand = sorted(game.hand, key=lambda card: -card.rank)
    by_suit: dict[str, list[Card]] = defaultdict(list)
    by_rank: dict[int, list[Card]] = defaultdict(list)
    for card in hand:
        by_suit[card.suit].append(card)
        by_rank[card.rank].append(card)
    flush = next((cards[:5] for cards in by_suit.values() if len(cards) >= 5), None)
    if flush:
        return [*_select(game, flush), "play_hand"]
    straight = _straight(by_rank)
    if straight:
        return [*_select(game, straight), "play_hand"]
    groups = sorted(by_rank.values(), key=lambda cards: (len(cards), cards[0].rank), reverse=True)
    best: list[Card] = []
    for cards in groups:
        if len(cards) >= 2 and len(best) + len(cards) <= 5:
            best += cards
    if len(best) < 4 and game.discards_left > 0 and game.hands_left > 1:
        loose = [card for card in reversed(hand) if card not in best][:5]
        if loose:
            return [*_select(game, loose), "discard"]
    if not best:
        best = hand[:1]
    return [*_select(game, best), "play_hand"]


def _straight(by_rank: dict[int, list[Card]]) -> list[Card] | None:
    ranks = set(by_rank)
    if 14 in ranks:
        ranks.add(1)
    for top in range(14, 4, -1):
        run = range(top, top - 5, -1)
        if all(r in ranks for r in run):
            return [by_rank[14 if r == 1 else r][0] for r in run]
    return None


def _shop(game: Game) -> list[str]:
    for i, joker in enumerate(game.shop.jokers, 1):
        room = len(game.jokers) < game.options.max_jokers
        if room and joker.kind.cost <= game.money:
            return [f"buy_joker:{i}"]
    return ["skip_shop"]
