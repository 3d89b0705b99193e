"""The breaker rules: spec settings, names from subjects, what counts as a failure."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pybreaker
import pytest

from handlers import (
    BreakerSettings,
    CircuitBreakerError,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    RetryableError,
    ServiceError,
    breaker,
    breaker_states,
    forget_breakers,
)
from handlers._runtime._breakers import STATE_HOOKS, Breaker, settings_for, target_of


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    forget_breakers()
    yield
    forget_breakers()


@pytest.mark.parametrize(
    ("subject", "target"),
    [
        ("jimbot.rpc.decision.get", ("jimbot", "decision")),
        ("jimbot.rpc.knowledge.query", ("jimbot", "knowledge_graph")),
        ("jimbot.rpc.strategy.request", ("jimbot", "strategy")),
        ("jimbot.rpc.agent.decide", ("jimbot", "agent_decide")),
        ("jimbot.rpc.agent.stream", ("jimbot", "agent_stream")),
        ("jimbot.rpc.resource.request", ("jimbot", "resource_coordinator")),
        ("jimbot.rpc.analytics.query", ("jimbot", "analytics")),
        ("shop.rpc.echo.go", ("shop", "echo")),
    ],
)
def test_a_request_subject_names_the_component_it_depends_on(
    subject: str, target: tuple[str, str]
) -> None:
    assert target_of(subject) == target


def test_the_spec_settings_and_their_overrides() -> None:
    assert settings_for("decision", {}) == BreakerSettings(5, 30.0, 3)
    assert settings_for("claude_advisor", {}) == BreakerSettings(3, 60.0, 3)
    assert settings_for("knowledge_graph", {}) == BreakerSettings(10, 15.0, 3)
    assert settings_for("strategy", {}) == BreakerSettings(3, 60.0, 3)  # the Claude advisor
    env = {"JIMBOT_BREAKER_DECISION": "2/0.5/1", "JIMBOT_BREAKER_STRATEGY": "7"}
    assert settings_for("decision", env) == BreakerSettings(2, 0.5, 1)
    assert settings_for("strategy", env) == BreakerSettings(7, 60.0, 3)


@pytest.mark.parametrize("raw", ["x", "0/30/3", "5/-1/3", "5/30/0", "5/30/3/9", "5/abc"])
def test_a_bad_override_names_its_variable_and_the_format(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for("decision", {"JIMBOT_BREAKER_DECISION": raw})
    assert "JIMBOT_BREAKER_DECISION" in str(caught.value)
    assert "5/30/3" in str(caught.value)


async def fail_503() -> None:
    raise ServiceError("503", "no service answers")


async def fail_timeout() -> None:
    raise DeadlineExceeded("late")


async def fail_404() -> None:
    raise ServiceError("404", "no such game")


async def succeed() -> str:
    return "ok"


async def test_the_tripping_call_keeps_its_error_and_later_calls_are_refused() -> None:
    cb = breaker("decision", BreakerSettings(2, 30.0, 1), scope="p")
    for call in (fail_503, fail_timeout):
        with pytest.raises(ServiceError) as caught:
            await cb.guard(call)
        assert not isinstance(caught.value, CircuitOpen)
    ran = False

    async def should_not_run() -> None:
        nonlocal ran
        ran = True

    with pytest.raises(CircuitOpen) as refused:
        await cb.guard(should_not_run)
    assert not ran
    assert refused.value.breaker == "decision" and 29 < refused.value.retry_after <= 30
    assert isinstance(refused.value, RetryableError | CircuitBreakerError)
    assert breaker_states("p") == {"decision": "open"}
    assert breaker_states() == {"decision@p": "open"}


async def test_4xx_answers_and_cancellation_are_not_failures() -> None:
    cb = breaker("pot", BreakerSettings(2, 30.0, 1), scope="p")
    with pytest.raises(ServiceError):
        await cb.guard(fail_503)
    for _ in range(5):
        with pytest.raises(ServiceError):
            await cb.guard(fail_404)
    with anyio.move_on_after(0.01):
        await cb.guard(anyio.sleep_forever)
    with pytest.raises(ServiceError):
        await cb.guard(fail_503)
    assert cb.current_state == "closed"  # the 4xx reset the run of failures


async def test_half_open_needs_the_spec_number_of_successes_to_close() -> None:
    cb = breaker("slow", BreakerSettings(1, 0.05, 3), scope="p")
    with pytest.raises(ServiceError):
        await cb.guard(fail_503)
    await anyio.sleep(0.06)
    assert await cb.guard(succeed) == "ok"
    assert await cb.guard(succeed) == "ok"
    assert cb.current_state == "half-open"
    assert await cb.guard(succeed) == "ok"
    assert cb.current_state == "closed"


async def test_a_failed_half_open_trial_opens_again() -> None:
    cb = breaker("slow", BreakerSettings(1, 0.05, 3), scope="p")
    with pytest.raises(ServiceError):
        await cb.guard(fail_503)
    await anyio.sleep(0.06)
    with pytest.raises(ServiceError):
        await cb.guard(fail_503)
    assert cb.current_state == "open"


def test_calling_refuses_with_circuit_open_but_passes_the_blocks_own_breaker_errors() -> None:
    cb = breaker("claude_advisor", BreakerSettings(1, 30.0, 1))
    with pytest.raises(RuntimeError), cb.calling():
        raise RuntimeError("api down")
    with pytest.raises(CircuitOpen), cb.calling():
        pass
    inner = pybreaker.CircuitBreakerError("someone else's")
    other = breaker("other")
    with pytest.raises(pybreaker.CircuitBreakerError) as caught, other.calling():
        raise inner
    assert caught.value is inner


def test_breakers_are_one_per_name_and_scope() -> None:
    assert breaker("a") is breaker("a")
    assert breaker("a", scope="x") is not breaker("a", scope="y")
    assert isinstance(breaker("a"), Breaker)


async def test_state_changes_reach_the_hooks() -> None:
    seen: list[tuple[str, str, str]] = []

    def hook(cb: Breaker, old: str, new: str) -> None:
        seen.append((cb.name, old, new))

    STATE_HOOKS.append(hook)
    try:
        cb = breaker("hooked", BreakerSettings(1, 0.05, 1), scope="p")
        with pytest.raises(ServiceError):
            await cb.guard(fail_503)
        await anyio.sleep(0.06)
        await cb.guard(succeed)
    finally:
        STATE_HOOKS.remove(hook)
    assert seen == [
        ("hooked", "closed", "open"),
        ("hooked", "open", "half-open"),
        ("hooked", "half-open", "closed"),
    ]
