"""Learning joker synergies from how games end.

A game ends with a GAME_STATE whose ``game_state`` is ``GAME_OVER`` (the mod re-sends it with
its heartbeats). It was won when the blind on screen is ``defeated`` (the final boss fell),
lost otherwise: in Balatro a run only reaches GAME_OVER on a lost blind, and the simulator
marks its final boss defeated on a win. The jokers held are the state's ``jokers``.

Rule: for every pair of jokers held at the end, the strength of the SYNERGY edge each way
moves toward 1 on a win and toward 0 on a loss, by an exponential moving average whose rate
starts high and settles (``max(1 / (games + 2), MIN_RATE)``: the first game moves a fresh
edge from 0.5 to 0.75 or 0.25, the twentieth by about a twentieth). Each joker's own games
and wins are counted too. A joker held twice pairs with itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers._knowledge._model import SYNERGY, Edge, Node, remember
from handlers._knowledge._updates import UNCHANGED, Unchanged
from schemas import SchemaDecodeError, unpack_payload
from schemas.events_pb2 import GameStateEvent

if TYPE_CHECKING:
    from schemas.events_pb2 import Event

MIN_RATE = 0.05
"""The learning rate never falls below this, so old edges still follow a changing meta."""
GAME_OVER = "GAME_OVER"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one game ended."""

    game: str
    """``<session>:<game_id>``: what makes a game-over state the same game."""
    won: bool
    jokers: list[str]
    """Joker names held at the end, in slot order, duplicates kept."""

    @property
    def op_id(self) -> str:
        return f"game:{self.game}"

    def partners(self) -> dict[str, list[str]]:
        """Each distinct joker held, and the jokers it was held with."""
        names = list(dict.fromkeys(self.jokers))
        return {
            name: [other for other in names if other != name]
            + ([name] if self.jokers.count(name) > 1 else [])
            for name in names
        }


def game_outcome(event: Event) -> Outcome | None:
    """The outcome a game-over GAME_STATE tells; ``None`` for any other event."""
    try:
        state = unpack_payload(event)
    except SchemaDecodeError:
        return None
    if not isinstance(state, GameStateEvent) or state.game_state != GAME_OVER:
        return None
    jokers = [joker.name.strip() for joker in state.jokers if joker.name.strip()]
    session = event.metadata.get("session") or "default"
    game_id = state.game_id
    if not game_id:
        # No id: what stays the same across the re-sent copies of this game's last state.
        seen = f"{state.ante}:{state.round}:{sorted(jokers)}:{state.score_history_exact}"
        game_id = "anon-" + hashlib.sha256(seen.encode()).hexdigest()[:16]
    won = state.HasField("blind") and state.blind.defeated
    return Outcome(f"{session}:{game_id}", won, jokers)


def rate(games: int) -> float:
    """How far one more game moves an edge that has seen ``games`` games."""
    return max(1.0 / (games + 2), MIN_RATE)


def learn(
    node: Node | None, name: str, partners: list[str], outcome: Outcome, now: float
) -> Node | Unchanged:
    """``node`` after learning from ``outcome`` (applied once per game)."""
    if node is not None and outcome.op_id in node.applied:
        return UNCHANGED
    node = node or Node(name=name)
    node.games += 1
    node.wins += outcome.won
    target = 1.0 if outcome.won else 0.0
    synergies = node.edges.setdefault(SYNERGY, {})
    for partner in partners:
        edge = synergies.get(partner) or Edge(origin="learned")
        edge.strength += rate(edge.games) * (target - edge.strength)
        edge.games += 1
        edge.wins += outcome.won
        edge.updated = now
        synergies[partner] = edge
    if not synergies:
        del node.edges[SYNERGY]
    remember(node, outcome.op_id)
    node.updated = now
    return node
