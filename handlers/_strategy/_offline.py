"""The offline strategist, ``offline-v1``: real advice from the game state, with no network.

It answers the questions a player weighs between moves (play now or dig for a better hand,
spend or save for interest, which joker to buy or sell, take or skip the blind) with the
scoring the decision policy plays by, so the two never disagree: the recommended action *is*
the heuristic's move (``handlers.policies.balatro``), and the reasoning puts numbers on why.

Rules on top of the heuristic's move:

- **Round outlook** (any phase with a blind): the best play now (or a typical play with these
  jokers) against the chips still needed. Winning now → ``finish``; enough over the hands
  left → ``steady``; short with discards left → ``dig`` (discard toward a stronger hand);
  short without → ``all_in`` (play the best hand each time).
- **Economy**: $1 interest per $5 held at the end of a round, at most $5 (at $25). In the shop
  a purchase that drops money below a multiple of $5 is called out with the interest it costs.
- **Jokers**: the held joker that adds least to a typical hand is named; with all five slots
  full and a shop joker adding clearly more, selling it is advised.
- **Shop plan**: ``build`` (a joker worth buying), ``reroll`` (fewer than two jokers and $10
  to spare), else ``save``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.policies._game import (
    allowed_names,
    chips_needed,
    finite,
    hand_cards,
    jokers,
    money,
    on_deck_blind,
    permits,
    phase,
    shop_jokers,
)
from handlers.policies._jokers import KNOWN, RARITY_GAIN, normalise_name
from handlers.policies.balatro import decide, reference_score
from handlers.policies.poker import Joker, top_plays
from schemas import events_pb2

STRATEGY = "offline-v1"
MODEL = "offline:rules"
JOKER_SLOTS = 5
HANDS_PER_ROUND = 4
MAX_INTEREST = 5
SELL_MARGIN = 0.05
"""A shop joker must add this much more (relative score) than the weakest held one."""


@dataclass(frozen=True, slots=True)
class _Outlook:
    needed: float
    per_hand: float
    hands: int
    discards: int
    best_hand: str
    plan: str


def interest(cash: float) -> int:
    """Balatro's end-of-round interest: $1 per $5 held, at most $5."""
    return max(0, min(MAX_INTEREST, int(cash // 5)))


def _money(amount: float) -> str:
    return f"${amount:,.0f}"


def _chips(amount: float) -> str:
    return f"{amount:,.0f}"


def _decision_request(request: events_pb2.StrategyRequest) -> events_pb2.LearningDecisionRequest:
    out = events_pb2.LearningDecisionRequest(
        game_state=request.game_state, available_actions=request.available_actions
    )
    out.context.CopyFrom(request.context)
    if request.HasField("request_id"):
        out.request_id = request.request_id
    return out


def _outlook(dreq: events_pb2.LearningDecisionRequest, held: list[Joker]) -> _Outlook:
    state = dreq.game_state
    cards, _ = hand_cards(state)
    discards = max(state.discards_remaining, 0)
    plays = top_plays(cards, held, discards_left=discards, count=1) if cards else []
    per_hand = plays[0].score if plays else reference_score(held)
    best_hand = plays[0].hand.value if plays else "a typical hand"
    hands = state.hands_remaining if state.HasField("hands_remaining") else HANDS_PER_ROUND
    hands = max(hands, 0)
    needed = chips_needed(dreq)
    if per_hand >= needed:
        plan = "finish"
    elif per_hand * hands >= needed:
        plan = "steady"
    else:
        plan = "dig" if discards > 0 else "all_in"
    return _Outlook(needed, finite(per_hand), hands, discards, best_hand, plan)


def _contributions(held: list[Joker]) -> list[tuple[float, str, int]]:
    """``(share, name, n)`` of each held joker, weakest first: its share of a typical hand's
    score, and ``n`` its 1-based place (what ``sell_joker:n`` takes)."""
    full = reference_score(held)
    if full <= 0:
        return []
    out = []
    for i, joker in enumerate(held):
        without = reference_score([*held[:i], *held[i + 1 :]])
        out.append((1.0 - without / full, joker.name or f"joker {i + 1}", i + 1))
    return sorted(out)


def _shop_gains(
    state: events_pb2.GameStateEvent, held: list[Joker]
) -> list[tuple[float, str, float]]:
    """``(gain, name, cost)`` of each joker for sale, best first; gain is relative score."""
    base = reference_score(held)
    out = []
    for _, name, cost, rarity in shop_jokers(state):
        if normalise_name(name) in KNOWN and base > 0:
            gain = reference_score([*held, Joker(name)]) / base - 1.0
        else:
            gain = RARITY_GAIN.get(rarity, RARITY_GAIN["common"])
        out.append((gain, name or "a joker", cost))
    return sorted(out, key=lambda g: (-g[0], g[2]))


def advise(request: events_pb2.StrategyRequest) -> events_pb2.StrategyResponse:
    """The offline strategist's answer to ``request``."""
    dreq = _decision_request(request)
    decision = decide(dreq)
    state = request.game_state
    current = phase(state)
    held = jokers(state)
    cash = money(state)
    notes: list[str] = []
    facts: dict[str, Any] = {
        "phase": current,
        "ante": state.ante,
        "money": cash,
        "interest": interest(cash),
        "jokers": len(held),
    }
    plan = "wait"
    if current in ("SELECTING_HAND", "BLIND_SELECT"):
        plan = _round_notes(dreq, held, current, notes, facts)
    if current == "SHOP":
        plan = _shop_notes(state, held, cash, decision.selected_action, notes, facts)
    elif current == "BLIND_SELECT":
        blind = on_deck_blind(dreq)
        plan = "skip" if decision.selected_action == "skip_blind" else "play"
        notes.append(
            f"Skip the {blind} blind for its tag: typical hands with these jokers clear it "
            "with room to spare."
            if plan == "skip"
            else f"Play the {blind} blind: skipping costs its money and the jokers do not yet "
            "outscore the antes ahead."
        )
    elif current in ("GAME_OVER", "MENU"):
        notes.append("No run in progress: nothing to decide.")
    _economy_note(cash, current, notes)
    weakest = _contributions(held)
    if weakest:
        share, name, _ = weakest[0]
        facts["weakest_joker"] = name
        facts["weakest_share"] = round(share, 3)
    facts["plan"] = plan
    action = decision.selected_action or "none"
    confidence = decision.confidence
    values = dict(decision.action_values)
    sell, net = facts.get("sell_joker"), facts.pop("sell_net_gain", 0.0)
    if plan == "sell_and_buy" and isinstance(sell, str) and permits(allowed_names(dreq), sell):
        # Selling first is the move; the buy follows as the next shop action.
        confidence, action = min(0.9, 0.5 + net), sell
        values[sell] = net
    reasoning = f"Recommended: {action}. " + " ".join(notes)
    response = events_pb2.StrategyResponse(
        strategy_name=STRATEGY,
        recommended_action=action,
        reasoning=reasoning.strip(),
        confidence=confidence,
        cached=False,
        model=MODEL,
    )
    if request.HasField("request_id"):
        response.request_id = request.request_id
    for name, value in values.items():
        response.action_values[name] = value
    response.extra.update(facts)
    return response


def _round_notes(
    dreq: events_pb2.LearningDecisionRequest,
    held: list[Joker],
    current: str,
    notes: list[str],
    facts: dict[str, Any],
) -> str:
    look = _outlook(dreq, held)
    facts.update(
        chips_needed=look.needed,
        expected_per_hand=round(look.per_hand, 1),
        hands_remaining=look.hands,
        discards_remaining=look.discards,
    )
    if current != "SELECTING_HAND":
        return look.plan
    needed, per = _chips(look.needed), _chips(look.per_hand)
    if look.plan == "finish":
        notes.append(
            f"Play now: the best {look.best_hand} scores about {per} of the {needed} chips "
            "still needed."
        )
    elif look.plan == "steady":
        notes.append(
            f"On pace: about {per} per hand over {look.hands} hands covers the {needed} "
            "chips still needed; play solid hands and keep discards for bad draws."
        )
    elif look.plan == "dig":
        notes.append(
            f"Behind: {look.hands} hands of about {per} fall short of {needed}; discard "
            f"aggressively ({look.discards} left) to dig for a flush, a straight or more of a kind."
        )
    else:
        notes.append(
            f"Behind with no discards left: play the best hand every time and hope the draws "
            f"lift it (needed {needed}, about {per} per hand)."
        )
    return look.plan


def _shop_notes(
    state: events_pb2.GameStateEvent,
    held: list[Joker],
    cash: float,
    action: str,
    notes: list[str],
    facts: dict[str, Any],
) -> str:
    free = JOKER_SLOTS - len(held)
    gains = _shop_gains(state, held)
    affordable = [g for g in gains if g[2] <= cash]
    plan = "save"
    if action.startswith("buy_joker"):
        gain, name, cost = affordable[0] if affordable else (0.0, "the joker", 0.0)
        plan = "build"
        notes.append(f"Buy {name} ({_money(cost)}): about +{gain:.0%} on a typical hand.")
        after = cash - cost
        if interest(after) < interest(cash):
            notes.append(
                f"It leaves {_money(after)}, so interest drops from {_money(interest(cash))} to "
                f"{_money(interest(after))} this round; still worth it for the score."
            )
    elif action == "reroll_shop":
        plan = "reroll"
        notes.append(
            f"Reroll: with {len(held)} joker(s) the run needs scoring more than interest, and "
            f"{_money(cash)} leaves room for a reroll."
        )
    elif free <= 0:
        notes.append(f"All {JOKER_SLOTS} joker slots are full.")
    else:
        notes.append("Nothing here is worth its price: leave the shop and keep the money.")
    contributions = _contributions(held)
    if free <= 0 and contributions and affordable:
        share, weakest, place = contributions[0]
        gain, name, cost = affordable[0]
        if gain > share + SELL_MARGIN:
            plan = "sell_and_buy"
            notes.append(
                f"Sell {weakest} (about {share:.0%} of a typical hand) to make room for "
                f"{name} (+{gain:.0%}, {_money(cost)})."
            )
            facts["sell"] = weakest
            facts["sell_joker"] = f"sell_joker:{place}"
            facts["sell_net_gain"] = round(gain - share, 3)
    if gains:
        facts["best_shop_joker"] = gains[0][1]
        facts["best_shop_gain"] = round(gains[0][0], 3)
    facts["free_slots"] = max(free, 0)
    return plan


def _economy_note(cash: float, current: str, notes: list[str]) -> None:
    now = interest(cash)
    if current not in ("SHOP", "BLIND_SELECT", "ROUND_EVAL", "SELECTING_HAND"):
        return
    if now >= MAX_INTEREST:
        notes.append(f"{_money(cash)} earns the maximum {_money(MAX_INTEREST)} interest.")
        return
    short = (now + 1) * 5 - cash
    notes.append(
        f"{_money(cash)} earns {_money(now)} interest; {_money(short)} more would earn "
        f"{_money(now + 1)} (the most is {_money(MAX_INTEREST)} at $25)."
    )
