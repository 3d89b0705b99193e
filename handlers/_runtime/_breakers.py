"""Circuit breakers with the spec's settings, one per guarded dependency, from ``pybreaker``.

Why pybreaker: it is maintained, it has the spec's half-open rule (``success_threshold``: the
spec's ``half_open_requests``), and its listeners let the state show in metrics. Its
``calling()`` context manager guards an ``await`` as well as a plain call::

    with breaker("claude_advisor").calling():
        answer = await provider.ask(question)

An open breaker raises :class:`pybreaker.CircuitBreakerError` at once, without calling. One
breaker per name per process: a caller asks for it by name, so every call site that guards
the same dependency shares one state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pybreaker
from prometheus_client import Gauge

if TYPE_CHECKING:
    from collections.abc import Mapping

CircuitBreakerError = pybreaker.CircuitBreakerError


@dataclass(frozen=True)
class BreakerSettings:
    """The spec's ``circuit_breaker`` block for one dependency."""

    failure_threshold: int = 5
    timeout: float = 30.0
    """Seconds the breaker stays open before it lets a half-open trial through."""
    half_open_requests: int = 3
    """Successful trials in half-open that close the breaker again."""


SPEC_SETTINGS: dict[str, BreakerSettings] = {
    "default": BreakerSettings(5, 30.0, 3),
    "claude_advisor": BreakerSettings(3, 60.0, 3),
    # The spec names it "memgraph": the knowledge graph it stood for.
    "knowledge_graph": BreakerSettings(10, 15.0, 3),
}
"""Per-dependency settings from the spec; any other name gets ``default``."""

STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}

BREAKER_STATE = Gauge(
    "jimbot_circuit_breaker_state",
    "Circuit breaker state by guarded dependency: 0 closed, 1 half-open, 2 open.",
    ["breaker"],
)


class _StateGauge(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        BREAKER_STATE.labels(cb.name).set(STATE_VALUES.get(new_state.name, 0))


_BREAKERS: dict[str, pybreaker.CircuitBreaker] = {}


def settings_for(name: str, env: Mapping[str, str] | None = None) -> BreakerSettings:
    """The spec's settings for ``name``, overridden by ``JIMBOT_BREAKER_<NAME>=fails/secs/trials``.

    ``JIMBOT_BREAKER_CLAUDE_ADVISOR=3/60/3`` is the spec's default for the Claude advisor.
    """
    base = SPEC_SETTINGS.get(name, SPEC_SETTINGS["default"])
    env = os.environ if env is None else env
    raw = env.get(f"JIMBOT_BREAKER_{name.upper()}", "")
    if not raw:
        return base
    parts = raw.split("/")
    try:
        fails = int(parts[0])
        secs = float(parts[1]) if len(parts) > 1 else base.timeout
        trials = int(parts[2]) if len(parts) > 2 else base.half_open_requests
    except ValueError:
        from handlers._runtime._errors import ConfigError

        raise ConfigError(
            f"JIMBOT_BREAKER_{name.upper()}={raw!r}: write failures/seconds/half-open trials, "
            "e.g. 5/30/3"
        ) from None
    return BreakerSettings(fails, secs, trials)


def breaker(name: str, settings: BreakerSettings | None = None) -> pybreaker.CircuitBreaker:
    """This process's breaker for ``name``, made on first use with ``settings`` (or the spec's)."""
    found = _BREAKERS.get(name)
    if found is not None:
        return found
    chosen = settings or settings_for(name)
    made = pybreaker.CircuitBreaker(
        fail_max=chosen.failure_threshold,
        reset_timeout=chosen.timeout,
        success_threshold=chosen.half_open_requests,
        listeners=[_StateGauge()],
        name=name,
    )
    BREAKER_STATE.labels(name).set(0)
    _BREAKERS[name] = made
    return made


def breaker_states() -> dict[str, str]:
    """``{name: "closed" | "half-open" | "open"}`` for every breaker of this process."""
    return {name: cb.current_state for name, cb in sorted(_BREAKERS.items())}


def forget_breakers() -> None:
    """Drop every breaker of this process (tests that need a fresh state)."""
    _BREAKERS.clear()
