"""The safe answer given when the policy is late or fails: always a legal move for the phase,
so the game keeps going, marked with confidence 0 so nobody mistakes it for a decision."""

from __future__ import annotations

from handlers.policies._actions import NONE, play_hand
from handlers.policies._game import allowed_names, on_deck_blind, permits, phase
from schemas import events_pb2

_MOVES = {"SHOP": "skip_shop", "ROUND_EVAL": "go_to_shop"}


def fallback_action(request: events_pb2.LearningDecisionRequest) -> str:
    """Play the leftmost 1–5 cards, leave the shop, select the blind on deck, cash out; or
    ``none``. Never raises."""
    try:
        state = request.game_state
        current = phase(state)
        if current == "SELECTING_HAND":
            count = min(5, len(state.hand))
            action = play_hand(range(count)) if count else NONE
        elif current == "BLIND_SELECT":
            action = f"select_{on_deck_blind(request)}_blind"
        else:
            action = _MOVES.get(current, NONE)
        return action if permits(allowed_names(request), action) else NONE
    except Exception:  # the last line of defence must not fail on a strange message
        return NONE


def fallback(
    request: events_pb2.LearningDecisionRequest, *, reason: str, detail: str = ""
) -> events_pb2.LearningDecisionResponse:
    """A fallback response: ``strategy_name="fallback:<reason>"``, ``fallback=True``,
    ``error_detail`` = ``detail`` (default ``policy_<reason>``), confidence 0."""
    response = events_pb2.LearningDecisionResponse(
        selected_action=fallback_action(request),
        confidence=0.0,
        used_llm=False,
        strategy_name=f"fallback:{reason}",
        fallback=True,
        error_detail=detail or f"policy_{reason}",
    )
    if request.HasField("request_id"):
        response.request_id = request.request_id
    return response
