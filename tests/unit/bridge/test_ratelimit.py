"""Per-agent token buckets, on a fake clock."""

from __future__ import annotations

from bridge.agentbridge import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_then_the_rate_applies() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.admit("a") for _ in range(4)] == [True, True, True, False]
    assert abs(limiter.retry_after("a") - 0.5) < 1e-9
    clock.now = 0.5
    assert limiter.admit("a")
    assert not limiter.admit("a")


def test_one_agent_flooding_leaves_the_others_their_own_budget() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, clock=Clock())
    for _ in range(100):
        limiter.admit("flooder")
    assert limiter.admit("calm") and limiter.admit("calm")


def test_rate_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(rate=0.0, burst=1, clock=Clock())
    assert all(limiter.admit("a") for _ in range(1000))


def test_idle_agents_are_forgotten_when_there_are_too_many() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=1, max_agents=100, clock=clock)
    for i in range(100):
        limiter.admit(f"a{i}")
    clock.now = 1.0  # every bucket has refilled
    limiter.admit("one_more")
    assert len(limiter._buckets) <= 2
