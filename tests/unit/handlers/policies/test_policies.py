"""Loading a policy by import path, and the fallback answer."""

from __future__ import annotations

import pytest

from handlers.policies import (
    DEFAULT_POLICY,
    POLICY_ENV,
    PolicyLoadError,
    balatro,
    expand_action,
    fallback,
    is_inline,
    load_policy,
)
from schemas import JimbotError
from schemas.events_pb2 import LearningDecisionRequest, LearningDecisionResponse
from tests.unit.handlers.policies.states import request


def constant_policy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    return LearningDecisionResponse(selected_action="skip_shop", strategy_name="constant")


class Holder:
    policy = staticmethod(constant_policy)


NOT_CALLABLE = 42


def test_the_default_is_the_heuristic_and_runs_inline() -> None:
    assert DEFAULT_POLICY == "handlers.policies.balatro:decide"
    assert load_policy() is balatro.decide
    assert is_inline(balatro.decide)
    assert not is_inline(constant_policy)


def test_the_variable_names_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    here = "tests.unit.handlers.policies.test_policies"
    monkeypatch.setenv(POLICY_ENV, f"{here}:constant_policy")
    assert load_policy() is constant_policy
    assert load_policy(f"{here}:Holder.policy") is constant_policy
    assert load_policy(DEFAULT_POLICY) is balatro.decide


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("handlers.policies.balatro", "not of the form 'module:attribute'"),
        (":decide", "not of the form"),
        ("no_such_module_here:decide", "cannot import 'no_such_module_here'"),
        ("handlers.policies.balatro:nope", "has no attribute 'nope'"),
        ("tests.unit.handlers.policies.test_policies:NOT_CALLABLE", "is not callable"),
    ],
)
def test_a_wrong_path_is_a_clear_error_naming_the_variable(path: str, reason: str) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(path)
    assert isinstance(caught.value, JimbotError)
    assert POLICY_ENV in str(caught.value)
    assert reason in str(caught.value)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("phase", "round_", "expected"),
    [
        ("SELECTING_HAND", 1, "play_hand:0,1,2,3,4"),
        ("SHOP", 1, "skip_shop"),
        ("BLIND_SELECT", 1, "select_big_blind"),
        ("ROUND_EVAL", 1, "go_to_shop"),
        ("GAME_OVER", 1, "none"),
    ],
)
def test_the_fallback_is_a_legal_move_for_the_phase(phase: str, round_: int, expected: str) -> None:
    response = fallback(
        request("2h 5d 9s Jc Kd 3c 8h", phase=phase, round=round_), reason="timeout"
    )
    assert response.selected_action == expected
    assert expand_action(response.selected_action) is not None
    assert response.confidence == 0.0
    assert response.strategy_name == "fallback:timeout"
    assert response.fallback is True
    assert response.error_detail == "policy_timeout"
    assert response.request_id == "req-1"
    assert response.used_llm is False


def test_the_fallback_plays_what_a_short_hand_holds_and_respects_available_actions() -> None:
    assert fallback(request("Ah Kd"), reason="error").selected_action == "play_hand:0,1"
    assert fallback(request(""), reason="error").selected_action == "none"
    state = request("Ah Kd", available=["discard"])
    assert fallback(state, reason="error", detail="boom").selected_action == "none"
    assert fallback(state, reason="error", detail="boom").error_detail == "boom"


def test_the_fallback_never_fails_on_an_empty_request() -> None:
    response = fallback(LearningDecisionRequest(), reason="error")
    assert response.selected_action == "none"
    assert not response.HasField("request_id")


def test_the_public_names_are_pinned() -> None:
    import handlers.policies as policies
    import handlers.policies.poker as poker

    assert set(policies.__all__) == {
        "DEFAULT_POLICY", "POLICY_ENV", "InvalidActionError", "Policy", "PolicyLoadError",
        "expand_action", "fallback", "fallback_action", "game_phase", "is_inline", "load_policy",
        "runs_inline",
    }  # fmt: skip
    assert set(poker.__all__) == {
        "SUITS", "Card", "Hand", "HandType", "Joker", "Play", "Scorer", "best_play", "classify",
        "is_flush", "score_play", "top_plays",
    }  # fmt: skip
    assert set(balatro.__all__) == {"STRATEGY", "decide", "expand_action", "reference_score"}
