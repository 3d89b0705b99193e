"""What the mod reads out of the game: the GAME_STATE payload and the change events.

Mirrors ``game_state_extractor.lua`` and ``BalatroMCP:detect_state_changes``: the full state
with every card of the deck, and one change event per watched field that moved between two
state checks. Events are plain dicts that the mod client stamps and encodes; a change event is
the same dict at the top level and inside the GAME_STATE's ``changes``, so both carry one id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ops.sim.luajson import FrozenArray, FrozenTable
from ops.sim.rules import STATE_NUMBERS

if TYPE_CHECKING:
    from ops.sim.blinds import Blind
    from ops.sim.jokers import Joker, Scored
    from ops.sim.poker import Card
    from ops.sim.rules import Game

__all__ = [
    "DECISION_PHASES",
    "Event",
    "detect_changes",
    "new_event",
    "StateExtractor",
    "scoring_events",
]

Event = dict[str, Any]
"""An event as the mod builds it: a mutable table, stamped with its id when first sent."""

DECISION_PHASES = frozenset({"BLIND_SELECT", "SELECTING_HAND", "ROUND_EVAL", "SHOP"})
"""Phases in which the game waits for a command."""

_NONE = "none"


def new_event(kind: str, payload: dict[str, Any], **extra: Any) -> Event:
    """An event table as the mod's ``add_event({type=…, source=…, payload=…})`` builds it."""
    return {"type": kind, "source": "BalatroMCP", "payload": payload, **extra}


def _card(card: Card, **more: Any) -> FrozenTable:
    return FrozenTable(
        id=card.uid,
        rank=card.rank_name,
        suit=card.suit,
        enhancement=_NONE,
        edition=_NONE,
        seal=_NONE,
        **more,
    )


def _joker(joker: Joker, position: int) -> FrozenTable:
    kind = joker.kind
    properties = {
        "mult": kind.mult or kind.card_mult,
        "chips": kind.chips or kind.card_chips,
        "cost": kind.cost,
        "sell_value": kind.sell_value,
        "edition": _NONE,
    }
    return FrozenTable(id=joker.uid, name=kind.name, position=position, properties=properties)


class StateExtractor:
    """Builds one game's GAME_STATE payloads.

    A card's table never changes during a game (in hand, only its position does), so each is
    built once, frozen and shared by every payload: the encoder then reuses its text. A full
    deck is 52 tables per state otherwise.
    """

    def __init__(self, game: Game) -> None:
        self.game = game
        self._deck = {card.uid: _card(card) for card in game.full_deck}
        self._full = FrozenArray(self._deck[card.uid] for card in game.full_deck)
        self._hand: dict[tuple[float, int], FrozenTable] = {}
        self._jokers: dict[tuple[float, int], FrozenTable] = {}
        self._blinds: dict[Blind, FrozenTable] = {}

    def payload(self, *, frame: int, epoch: int) -> dict[str, Any]:
        """The GAME_STATE payload of a game in a run (``in_game`` true)."""
        game = self.game
        return {
            "in_game": True,
            "game_id": game.game_id,
            "ante": game.ante,
            "round": game.round,
            "hand_number": game.hands_played,
            "chips": game.round_score,
            "mult": game.last_mult,
            "money": game.money,
            "hand_size": game.options.hand_size,
            "hands_remaining": game.hands_left,
            "discards_remaining": game.discards_left,
            "score_history": {ante: list(scores) for ante, scores in game.score_history.items()},
            "jokers": self._owned(),
            "hand": self._in_hand(),
            "deck": {
                "remaining_count": len(game.draw_pile),
                "cards_remaining": [self._deck[card.uid] for card in game.draw_pile[-5:][::-1]],
                "full_deck": self._full,
            },
            "consumables": [],
            "shop_items": game.shop.items(),
            "game_state": game.phase,
            "ui_state": str(STATE_NUMBERS[game.phase]),
            "blind": self._blind(game.blind),
            "timestamp": epoch,
            "frame_count": frame,
        }

    def _blind(self, blind: Blind) -> FrozenTable:
        table = self._blinds.get(blind)
        if table is None:
            table = self._blinds[blind] = FrozenTable(
                name=blind.name,
                chips=blind.chips,
                chip_text=f"{blind.chips:,}",
                mult=blind.mult,
                defeated=blind.defeated,
                boss=blind.boss,
            )
        return table

    def _owned(self) -> list[FrozenTable]:
        tables = []
        for i, joker in enumerate(self.game.jokers):
            table = self._jokers.get((joker.uid, i))
            if table is None:
                table = self._jokers[joker.uid, i] = _joker(joker, i)
            tables.append(table)
        return tables

    def _in_hand(self) -> list[FrozenTable]:
        tables = []
        for i, card in enumerate(self.game.hand):
            table = self._hand.get((card.uid, i))
            if table is None:
                table = self._hand[card.uid, i] = _card(card, position=i)
            tables.append(table)
        return tables


def detect_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Event]:
    """The change events between two state payloads, in the mod's order."""
    changes: list[Event] = []
    if old["money"] != new["money"]:
        changes.append(
            new_event(
                "MONEY_CHANGED",
                {
                    "old_value": old["money"],
                    "new_value": new["money"],
                    "difference": new["money"] - old["money"],
                },
            )
        )
    if old["chips"] != new["chips"] or old["mult"] != new["mult"]:
        scores = ("old_chips", "new_chips", "old_mult", "new_mult")
        values = (old["chips"], new["chips"], old["mult"], new["mult"])
        changes.append(new_event("SCORE_CHANGED", dict(zip(scores, values, strict=True))))
    if old["hands_remaining"] != new["hands_remaining"]:
        hands = {"hands_remaining": new["hands_remaining"], "hand_number": new["hand_number"]}
        changes.append(new_event("HAND_PLAYED", hands))
    if old["discards_remaining"] != new["discards_remaining"]:
        discards = {"discards_remaining": new["discards_remaining"]}
        changes.append(new_event("CARDS_DISCARDED", discards))
    if len(old["jokers"]) != len(new["jokers"]):
        jokers = {"old_count": len(old["jokers"]), "new_count": len(new["jokers"])}
        changes.append(new_event("JOKERS_CHANGED", {**jokers, "jokers": new["jokers"]}))
    if old["ante"] != new["ante"] or old["round"] != new["round"]:
        changes.append(new_event("ROUND_CHANGED", {"ante": new["ante"], "round": new["round"]}))
    if old["game_state"] != new["game_state"]:
        phases = {"old_phase": old["game_state"], "new_phase": new["game_state"]}
        changes.append(new_event("PHASE_CHANGED", phases))
    return changes


def scoring_events(
    game: Game, scored: Scored, *, start: float, hand_number: int, now_ms: float, context: bool
) -> list[Event]:
    """What ``modules/scoring.lua`` and the joker hook emit for one played hand."""
    where = {"ante": game.ante, "round": game.round}
    events = [
        new_event(
            "SCORING",
            {"starting_score": start, **where, "hand_number": hand_number},
            subtype="HAND_EVAL_START",
        )
    ]
    total = start
    for trigger in scored.triggers:
        name = trigger.joker.kind.name
        low = {"joker_name": name, "context_type": True if context else "unknown"}
        events.append(new_event("JOKER_TRIGGER", {**low, "timestamp": now_ms}, priority="low"))
        joker = {"name": name, "id": trigger.joker.uid, "position": trigger.position}
        contribution = {"score_contribution": trigger.contribution, "current_total": total}
        payload = {"joker": joker, **contribution, "timestamp": now_ms}
        events.append(new_event("SCORING", payload, subtype="JOKER_TRIGGER"))
    final = game.round_score
    delta = final - start
    if delta > 0:  # the mod reports only increases (and inf - inf is nan, never > 0)
        update = {"previous_score": start, "new_score": final, "delta": delta}
        payload = {**update, "total_hand_delta": delta, "context": "score_update"}
        events.append(
            new_event("SCORING", {**payload, "timestamp": now_ms}, subtype="SCORE_UPDATE")
        )
    complete = {"starting_score": start, "final_score": final, "total_delta": delta}
    payload = {**complete, "joker_triggers": len(scored.triggers), **where}
    events.append(
        new_event(
            "SCORING",
            {**payload, "hand_number": game.hands_played},
            subtype="HAND_EVAL_COMPLETE",
            priority="high",
        )
    )
    return events
