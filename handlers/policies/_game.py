"""What a policy needs out of a ``LearningDecisionRequest``, read tolerantly.

The mod leaves out whatever it could not read, names phases in more than one way and sends
numbers that may be infinite, so every reader here has a default and never raises on a
well-typed message: the fallback answer is built from these too.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf import struct_pb2

from handlers.policies._hands import SUITS, Card, tag
from handlers.policies._scoring import Joker
from schemas import events_pb2

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Request = events_pb2.LearningDecisionRequest
State = events_pb2.GameStateEvent

# Balatro's G.STATES numbers, for a phase the mod reports as UNKNOWN_STATE_<n> or only in
# ui_state (the mod's own names cover just some of them).
_STATES = (
    "", "SELECTING_HAND", "HAND_PLAYED", "DRAW_TO_HAND", "GAME_OVER", "SHOP", "PLAY_TAROT",
    "BLIND_SELECT", "ROUND_EVAL", "TAROT_PACK", "PLANET_PACK", "MENU", "TUTORIAL", "SPLASH",
    "SANDBOX", "SPECTRAL_PACK", "DEMO_CTA", "STANDARD_PACK", "BUFFOON_PACK", "NEW_ROUND",
)  # fmt: skip
_ALIASES = {"PLAYING": "SELECTING_HAND"}
BLINDS = ("small", "big", "boss")
_ANTE_CHIPS = (100, 300, 800, 2000, 5000, 11000, 20000, 35000, 50000, 110000, 560000, 7_200_000)
_BLIND_FACTOR = {"small": 1.0, "big": 1.5, "boss": 2.0}
_RARITIES = ("", "common", "uncommon", "rare", "legendary")


def _state_name(number: str) -> str:
    try:
        return _STATES[int(number.strip())]
    except (ValueError, IndexError):
        return ""


def phase(state: State) -> str:
    """The phase name: ``SELECTING_HAND``, ``SHOP``, ``BLIND_SELECT``, ``ROUND_EVAL``,
    ``GAME_OVER``, ``MENU``… or ``UNKNOWN``."""
    if state.HasField("in_game") and not state.in_game:
        return state.phase.strip().upper() or "MENU"
    name = state.game_state.strip().upper()
    if name.startswith("UNKNOWN_STATE_"):
        name = _state_name(name.removeprefix("UNKNOWN_STATE_")) or name
    if not name:
        name = _state_name(state.ui_state) or state.phase.strip().upper()
    return _ALIASES.get(name, name) or "UNKNOWN"


def finite(value: float, default: float = 0.0) -> float:
    return value if math.isfinite(value) else default


def money(state: State) -> float:
    return finite(state.money_exact if state.HasField("money_exact") else float(state.money))


def allowed_names(request: Request) -> frozenset[str]:
    """Action names the caller allows (the part before ``:``); empty means any."""
    return frozenset(n for a in request.available_actions if (n := a.partition(":")[0].strip()))


def permits(allowed: frozenset[str], action: str) -> bool:
    return not allowed or action == "none" or action.partition(":")[0] in allowed


def hand_cards(state: State) -> tuple[list[Card], list[int]]:
    """The cards in hand and each one's 0-based position (what ``select_card`` takes)."""
    cards = [Card.parse(c.rank, c.suit, c.enhancement, c.edition, c.seal) for c in state.hand]
    positions = [c.position if c.HasField("position") else i for i, c in enumerate(state.hand)]
    if sorted(positions) != list(range(len(cards))):
        positions = list(range(len(cards)))  # positions that cannot be right: trust the order
    return cards, positions


def _number(struct: struct_pb2.Struct, plain: Mapping[str, str], key: str, default: float) -> float:
    """A numeric property: the typed value when the mod sent a number, else its text."""
    value = struct.fields.get(key)
    kind = value.WhichOneof("kind") if value is not None else None
    if value is not None and kind == "number_value":
        return finite(value.number_value, default)
    text = value.string_value if value is not None and kind == "string_value" else plain.get(key)
    try:
        return finite(float(text), default) if text is not None else default
    except ValueError:
        return default


def jokers(state: State) -> list[Joker]:
    """The jokers held, left to right (they score in that order)."""
    held = sorted(enumerate(state.jokers), key=lambda ij: (ij[1].position, ij[0]))
    out = []
    for _, j in held:
        exact, plain = j.properties_exact, j.properties
        edition = exact.fields["edition"].string_value if "edition" in exact.fields else ""
        out.append(
            Joker(
                name=j.name,
                mult=_number(exact, plain, "mult", 0.0),
                chips=_number(exact, plain, "chips", 0.0),
                x_mult=_number(exact, plain, "x_mult", 1.0),
                edition=tag(edition or plain.get("edition", "")),
            )
        )
    return out


def shop_jokers(state: State) -> list[tuple[int, str, float, str]]:
    """``(index, name, cost, rarity)`` of each joker for sale (``joker_1`` → index 1)."""
    items: dict[str, tuple[str, float, str]] = {
        k: ("", float(v), "") for k, v in state.shop_items.items()
    }
    for key, item in state.shop_items_exact.items():
        kind = item.rarity.WhichOneof("kind")
        rarity = item.rarity.string_value.lower() if kind == "string_value" else ""
        if kind == "number_value" and 0 < item.rarity.number_value < len(_RARITIES):
            rarity = _RARITIES[int(item.rarity.number_value)]
        items[key] = (item.name, finite(item.cost, math.inf), rarity)
    out = []
    for key, (name, cost, rarity) in items.items():
        prefix, _, number = key.partition("_")
        if prefix == "joker" and number.isdigit():
            out.append((int(number), name, cost, rarity))
    return sorted(out)


def blind_target(ante: int, blind: str) -> float:
    """Balatro's white-stake chip target of a blind, for when the state does not say."""
    base = _ANTE_CHIPS[max(0, min(ante, len(_ANTE_CHIPS) - 1))]
    return base * _BLIND_FACTOR.get(blind, 1.0)


def on_deck_blind(request: Request) -> str:
    """The blind to select next: the only ``select_*_blind`` allowed, else from the round
    counter, which counts blinds played (skips are not counted, so this is a best guess)."""
    allowed = allowed_names(request)
    offered = [b for b in BLINDS if f"select_{b}_blind" in allowed]
    if len(offered) == 1:
        return offered[0]
    blind = request.game_state.blind
    if request.game_state.HasField("blind") and not blind.defeated:
        # In BLIND_SELECT the state's blind is the one on deck, when the mod sends it.
        if blind.boss:
            return "boss"
        for name in ("small", "big"):
            if name in blind.name.lower():
                return name
    return BLINDS[max(request.game_state.round, 0) % 3]


def chips_needed(request: Request) -> float:
    """Chips still needed to beat the current blind: its target minus the round's score."""
    ctx, state = request.context, request.game_state
    target = 0.0
    if ctx.HasField("target_score_exact") or ctx.HasField("target_score"):
        target = ctx.target_score_exact if ctx.HasField("target_score_exact") else ctx.target_score
    if not target > 0 and state.blind.HasField("chips"):
        target = state.blind.chips
    if not target > 0:
        current = "boss" if state.blind.boss else BLINDS[max(state.round - 1, 0) % 3]
        target = blind_target(state.ante, current)
    if ctx.HasField("current_score_exact") or ctx.HasField("current_score"):
        score = (
            ctx.current_score_exact if ctx.HasField("current_score_exact") else ctx.current_score
        )
    else:
        score = state.chips_exact if state.HasField("chips_exact") else float(state.chips)
    needed = target - score  # an infinite score has beaten any blind
    return max(needed, 0.0) if not math.isnan(needed) else 0.0


@dataclass(frozen=True, slots=True)
class Pile:
    """What is left to draw, estimated: counts per suit (Wild cards in every suit) and rank,
    scaled from the cards not in hand to the pile's real size."""

    suits: Counter[str]
    ranks: Counter[int]
    size: int


_STANDARD = [Card(rank, suit) for rank in range(2, 15) for suit in SUITS]


def draw_pile(state: State, hand: Sequence[Card]) -> Pile:
    """The draw pile as the player's full deck (else a standard one) minus the hand, in
    proportion to ``deck_info.remaining_count`` (cards already played are not known)."""
    if state.deck:
        pool = [Card.parse(c.rank, c.suit, c.enhancement) for c in state.deck]
    else:
        pool = _STANDARD
    suits, ranks = Counter[str](), Counter[int]()
    for cards, sign in ((pool, 1), (hand, -1)):
        for card in cards:
            for suit in SUITS if card.wild else (card.suit,):
                suits[suit] += sign
            ranks[card.rank] += sign
    total = len(pool) - len(hand)
    info = state.deck_info
    size = max(info.remaining_count if info.HasField("remaining_count") else total, 0)
    scale = size / total if total > 0 else 0.0
    return Pile(
        Counter({s: min(size, round(n * scale)) for s, n in suits.items() if n > 0}),
        Counter({r: min(size, round(n * scale)) for r, n in ranks.items() if n > 0}),
        size,
    )
