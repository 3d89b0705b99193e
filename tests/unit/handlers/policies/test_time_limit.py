"""The decision service's time rules, without a broker: ``decide_in_time`` on its own."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from handlers import decision
from handlers.decision import decide_in_time
from handlers.policies import Policy, balatro, runs_inline
from schemas.events_pb2 import LearningDecisionRequest, LearningDecisionResponse
from tests.unit.handlers.policies.states import request

HAND = "Ah Ad 5c 9s 3h Kd 7c 2s"


def sleepy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    time.sleep(2)
    return balatro.decide(request)


async def async_sleepy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    await anyio.sleep(2)
    return balatro.decide(request)


def broken(request: LearningDecisionRequest) -> LearningDecisionResponse:
    raise RuntimeError("the model file is missing")


def wrong_type(request: LearningDecisionRequest) -> LearningDecisionResponse:
    return "play_hand:0"  # type: ignore[return-value]


def bad_action(request: LearningDecisionRequest) -> LearningDecisionResponse:
    return LearningDecisionResponse(selected_action="juggle:3")


@runs_inline
def slow_inline(request: LearningDecisionRequest) -> LearningDecisionResponse:
    time.sleep(0.05)
    return balatro.decide(request)


class AsyncPolicy:
    async def __call__(self, request: LearningDecisionRequest) -> LearningDecisionResponse:
        return balatro.decide(request)


def in_a_thread(request: LearningDecisionRequest) -> LearningDecisionResponse:
    return balatro.decide(request)


@pytest.mark.parametrize("policy", [balatro.decide, AsyncPolicy(), in_a_thread])
async def test_a_policy_in_time_answers_itself(policy: Policy) -> None:
    response = await decide_in_time(policy, request(HAND, blind=50, time_limit_ms=5000))
    assert response.selected_action == "play_hand:0,1"
    assert response.strategy_name == "heuristic-v1"
    assert not response.fallback


@pytest.mark.parametrize("policy", [sleepy, async_sleepy, slow_inline])
async def test_a_late_policy_yields_the_fallback_at_the_time_limit(
    policy: Policy,
) -> None:
    started = anyio.current_time()
    response = await decide_in_time(policy, request(HAND, blind=50, time_limit_ms=20))
    elapsed = anyio.current_time() - started
    assert response.strategy_name == "fallback:timeout"
    assert response.confidence == 0.0
    assert response.fallback and response.error_detail == "policy_timeout"
    assert response.selected_action == "play_hand:0,1,2,3,4"
    assert elapsed < 0.5


async def test_the_callers_deadline_bounds_a_policy_without_a_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 50 ms margin (not 10 ms) so a loaded machine's scheduling delay between the policy's
    # cut and this check stays inside it; the policy still sleeps far past the deadline.
    monkeypatch.setattr(decision, "REPLY_MARGIN", 0.05)
    deadline = anyio.current_time() + 0.5
    response = await decide_in_time(async_sleepy, request(HAND), deadline=deadline)
    assert response.strategy_name == "fallback:timeout"
    assert anyio.current_time() < deadline


@pytest.mark.parametrize(
    ("policy", "detail"),
    [
        (broken, "policy_error: RuntimeError"),
        (wrong_type, "policy_error: the policy returned str, not a response"),
        (bad_action, "policy_error: invalid action 'juggle:3': unknown action name"),
    ],
)
async def test_a_failing_policy_yields_the_fallback_and_is_logged(
    policy: Policy, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await decide_in_time(policy, request(phase="SHOP"))
    assert response.strategy_name == "fallback:error"
    assert response.selected_action == "skip_shop"
    assert response.error_detail == detail
    assert any(r.levelname == "ERROR" for r in caplog.records)


async def test_stuck_policy_threads_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decision, "_threads", threading.BoundedSemaphore(1))
    release = threading.Event()

    def stuck(request: LearningDecisionRequest) -> LearningDecisionResponse:
        release.wait(5)
        return balatro.decide(request)

    try:
        first = await decide_in_time(stuck, request(HAND, time_limit_ms=20))
        second = await decide_in_time(stuck, request(HAND, time_limit_ms=20))
    finally:
        release.set()
    assert first.strategy_name == "fallback:timeout"
    assert second.strategy_name == "fallback:busy"
    with anyio.fail_after(5):  # the abandoned thread gives its slot back when it ends
        while not decision._threads.acquire(blocking=False):
            await anyio.sleep(0.01)
