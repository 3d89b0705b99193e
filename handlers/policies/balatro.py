"""The default decision policy, ``heuristic-v1``: a real Balatro heuristic, fast enough
(a fraction of a millisecond) to run on the event loop.

Rules, per phase:

- ``SELECTING_HAND``: score the best play (hand table, card chips, enhancements, jokers). If it
  beats what the blind still needs (its chips minus the round's score) play it. Otherwise,
  with discards left, weigh discarding toward a flush, a straight or more of a kind (keep the
  best partial, discard up to five) and discard when its expected next play beats the best
  play now by 15 %, or, on the last hand, when it is the only way to reach the target.
- ``SHOP``: with a free joker slot (of 5), buy the affordable joker that raises the expected
  score of typical hands most (an unknown joker is valued by rarity), keeping a money
  reserve for interest once two jokers are held (0 in ante 1, +$5 per ante, at most $25).
  With fewer than two jokers and nothing worth buying, reroll while $10 remain; else leave.
- ``BLIND_SELECT``: select the blind on deck. Skip only a small blind, from ante 2, with all
  five joker slots full and typical hands worth three times the big blind over four hands.
- ``ROUND_EVAL``: ``go_to_shop`` (cash out: the only way on). Any other phase: ``none``.

``selected_action`` uses the compact grammar below (``expand_action`` turns it into the mod's
command lines); when ``available_actions`` is non-empty only actions whose name (before ``:``)
it lists are chosen, else ``none``::

    play_hand:0,2,3   discard:1,4   (0-based hand positions, 1 to 5 distinct)
    buy_joker:1       (shop key joker_1)   buy_booster:n  buy_voucher:n  sell_joker:n
    reroll_shop  skip_shop  go_to_shop  select_small_blind  select_big_blind
    select_boss_blind  skip_blind  sort_hand  none

``action_values`` holds the candidates weighed: expected score of the next play for hand
actions, relative score gain for shop actions, expected round score over the blind's target
for blind actions. ``confidence`` is 0.9+ for a play that wins the blind, else the margin of
the chosen candidate over the runner-up (0.5 = a toss-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from handlers.policies import runs_inline
from handlers.policies._actions import NONE, discard, expand_action, play_hand
from handlers.policies._discard import plan_discards
from handlers.policies._game import (
    allowed_names,
    blind_target,
    chips_needed,
    draw_pile,
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
from handlers.policies.poker import Card, Joker, score_play, top_plays
from schemas.events_pb2 import LearningDecisionRequest, LearningDecisionResponse

__all__ = ["STRATEGY", "decide", "expand_action", "reference_score"]

STRATEGY = "heuristic-v1"
JOKER_SLOTS = 5
DISCARD_MARGIN = 1.15
MIN_GAIN = 0.05
HANDS_PER_ROUND = 4

_REFERENCE: list[tuple[float, list[Card]]] = [
    (weight, [Card.parse(*spec.split()) for spec in specs.split(",")])
    for weight, specs in (
        (0.15, "Ace Spades"),
        (0.35, "King Hearts,King Clubs"),
        (0.20, "Queen Diamonds,Queen Spades,9 Hearts,9 Clubs"),
        (0.10, "8 Spades,8 Diamonds,8 Hearts"),
        (0.10, "5 Clubs,6 Diamonds,7 Hearts,8 Spades,9 Diamonds"),
        (0.10, "2 Hearts,6 Hearts,9 Hearts,Jack Hearts,Ace Hearts"),
    )
]


@dataclass(frozen=True, slots=True)
class _Option:
    action: str
    value: float
    confidence: float


def reference_score(held: Sequence[Joker]) -> float:
    """Expected score of a typical play (high card … flush, weighted) with these jokers."""
    return _reference(tuple(held))


@lru_cache(maxsize=1024)  # a run holds few joker line-ups; each shop asks for several
def _reference(held: tuple[Joker, ...]) -> float:
    return sum(
        w * score_play(cards, range(len(cards)), held, discards_left=1).score
        for w, cards in _REFERENCE
    )


def _margin(best: float, runner_up: float) -> float:
    return 0.5 if best <= 0 else 0.5 + 0.5 * max(0.0, min(1.0, (best - runner_up) / best))


@runs_inline
def decide(request: LearningDecisionRequest) -> LearningDecisionResponse:
    """The heuristic's move for the phase the request's game state is in."""
    current = phase(request.game_state)
    if current == "SELECTING_HAND":
        options = _hand(request)
    elif current == "SHOP":
        options = _shop(request)
    elif current == "BLIND_SELECT":
        options = _blind(request)
    elif current == "ROUND_EVAL":
        options = [_Option("go_to_shop", 1.0, 1.0)]
    else:  # nothing to decide (GAME_OVER, MENU) or a phase we do not know (packs, transitions)
        options = [_Option(NONE, 0.0, 1.0 if current in ("GAME_OVER", "MENU") else 0.2)]
    return _respond(request, options)


def _respond(request: LearningDecisionRequest, options: list[_Option]) -> LearningDecisionResponse:
    allowed = allowed_names(request)
    chosen = next((o for o in options if permits(allowed, o.action)), _Option(NONE, 0.0, 0.0))
    confidence = chosen.confidence
    if options and chosen is not options[0]:
        # Forced off our first choice by available_actions: at most a toss-up.
        top = options[0].value
        confidence = 0.5 * max(0.0, min(1.0, chosen.value / top)) if top > 0 else 0.0
    response = LearningDecisionResponse(
        selected_action=chosen.action,
        confidence=confidence,
        used_llm=False,
        strategy_name=STRATEGY,
    )
    if request.HasField("request_id"):
        response.request_id = request.request_id
    for option in options[:6]:
        response.action_values[option.action] = finite(option.value)
    return response


def _hand(request: LearningDecisionRequest) -> list[_Option]:
    state = request.game_state
    cards, positions = hand_cards(state)
    if not cards:
        return [_Option(NONE, 0.0, 0.5)]
    held = jokers(state)
    discards = max(state.discards_remaining, 0)

    def where(indices: Sequence[int]) -> list[int]:
        return sorted(positions[i] for i in indices)

    plays = top_plays(cards, held, discards_left=discards, count=3)
    best, needed = plays[0], chips_needed(request)
    play_options = [_Option(play_hand(where(p.positions)), p.score, 0.0) for p in plays]
    wins = best.score >= needed
    plans = []
    if discards > 0 and (not wins or not permits(allowed_names(request), "play_hand")):
        pile = draw_pile(state, cards)
        plans = plan_discards(cards, held, pile=pile, discards_left=discards)
    discard_options = [_Option(discard(where(p.positions)), p.value, 0.0) for p in plans[:3]]
    if wins:
        surplus = best.score / needed - 1.0 if needed > 0 else 1.0
        winner = _Option(play_options[0].action, best.score, 0.9 + 0.09 * min(1.0, surplus))
        return [winner, *play_options[1:], *discard_options]
    last_hand = state.HasField("hands_remaining") and state.hands_remaining <= 1
    reaching = [p for p in plans if p.hit_score >= needed and p.chance > 0]
    if last_hand and reaching:
        # Playing cannot win; only a draw can.
        pick = max(reaching, key=lambda p: (p.chance, p.value))
        first = _Option(discard(where(pick.positions)), pick.value, 0.5 + 0.5 * pick.chance)
        return [first, *discard_options, *play_options]
    if plans and plans[0].value > best.score * DISCARD_MARGIN:
        confidence = _margin(plans[0].value, best.score)
        return [_Option(discard_options[0].action, plans[0].value, confidence), *play_options]
    runner_up = max([o.value for o in discard_options[:1] + play_options[1:2]], default=0.0)
    chosen = _Option(play_options[0].action, best.score, _margin(best.score, runner_up))
    return [chosen, *discard_options, *play_options[1:]]


def _reserve(ante: int, held: int) -> float:
    """Money kept for interest ($1 per $5 held, up to $5) once the first jokers are bought."""
    return 0.0 if held < 2 else float(min(25, 5 * max(ante - 1, 0)))


def _gain(held: list[Joker], name: str, rarity: str, base: float) -> float:
    if normalise_name(name) in KNOWN and base > 0:
        return reference_score([*held, Joker(name)]) / base - 1.0
    return RARITY_GAIN.get(rarity, RARITY_GAIN["common"])


def _shop(request: LearningDecisionRequest) -> list[_Option]:
    state = request.game_state
    held, cash = jokers(state), money(state)
    budget = cash - _reserve(state.ante, len(held))
    buys: list[tuple[float, float, int]] = []
    if len(held) < JOKER_SLOTS:
        base = reference_score(held)
        for index, name, cost, rarity in shop_jokers(state):
            if cost <= budget:
                buys.append((_gain(held, name, rarity, base), -cost, index))
    buys.sort(reverse=True)
    options = [_Option(f"buy_joker:{i}", gain, min(0.95, 0.5 + gain)) for gain, _, i in buys]
    if buys and buys[0][0] >= MIN_GAIN:
        return [options[0], _Option("skip_shop", 0.0, 0.5), *options[1:]]
    leave = _Option("skip_shop", 0.0, 0.9)
    if len(held) < 2 and budget >= 10:  # no jokers to speak of yet: look for one
        return [_Option("reroll_shop", MIN_GAIN, 0.4), leave, *options]
    return [leave, *options]


def _blind(request: LearningDecisionRequest) -> list[_Option]:
    state = request.game_state
    on_deck, ante = on_deck_blind(request), max(state.ante, 1)
    held = jokers(state)
    strength = reference_score(held) * HANDS_PER_ROUND
    select = _Option(f"select_{on_deck}_blind", strength / blind_target(ante, on_deck), 0.9)
    if on_deck == "boss":  # the boss blind cannot be skipped
        return [select]
    big = blind_target(ante, "big")
    safe = on_deck == "small" and ante >= 2 and len(held) >= JOKER_SLOTS and strength >= 3 * big
    skip = _Option("skip_blind", strength / big if on_deck == "small" else 0.0, 0.6)
    return [skip, select] if safe else [select, skip]
