"""Circuit breakers with the spec's settings, one per guarded dependency, from ``pybreaker``.

Why pybreaker: it is maintained, it has the spec's half-open rule (``success_threshold``: the
spec's ``half_open_requests``), and its listeners let the state show in metrics, heartbeats
and error events. Its ``calling()`` context manager guards an ``await`` as well as a plain
call::

    with breaker("claude_advisor").calling():
        answer = await provider.ask(question)

An open breaker refuses at once with :class:`CircuitOpen` (a 503 ``ServiceError``, a
``RetryableError`` and a ``pybreaker.CircuitBreakerError``). One breaker per name per process,
so every call site that guards the same dependency shares one state.

Every typed request (``handlers.request``, ``ctx.request``) is guarded by the breaker of the
service it asks, named from the subject (:func:`target_of`) and scoped by the subject's
prefix: two deployments on one server are two dependencies. What counts as a failure: no
responders, a timeout, a 5xx answer. What does not: a 4xx answer (the caller's fault, and
proof the service is up), a cancelled call, a bus that is down (the bus, not the service).
pybreaker has no neutral outcome, so those count as successes: they reset the run of
consecutive failures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import pybreaker
from prometheus_client import Gauge

from handlers._runtime._errors import CircuitOpen, ConfigError, ServiceError

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")
log = logging.getLogger("jimbot.breaker")

CircuitBreakerError = pybreaker.CircuitBreakerError
CLOSED, HALF_OPEN, OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_HALF_OPEN, pybreaker.STATE_OPEN


@dataclass(frozen=True)
class BreakerSettings:
    """The spec's ``circuit_breaker`` block for one dependency."""

    failure_threshold: int = 5
    """Failures in a row that open the breaker."""
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

SETTINGS_OF: dict[str, str] = {"strategy": "claude_advisor", "memgraph": "knowledge_graph"}
"""Breakers that take the spec's settings of the component they stand for: the strategy
service is the spec's Claude advisor seen from its callers."""

RPC_TARGETS: dict[str, str] = {
    "rpc.agent.decide": "agent_decide",
    "rpc.agent.stream": "agent_stream",
    "rpc.decision": "decision",
    "rpc.knowledge": "knowledge_graph",
    "rpc.strategy": "strategy",
    "rpc.resource": "resource_coordinator",
    "rpc.analytics": "analytics",
}
"""Relative subject heads → the component a request to them depends on (longest match)."""

STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

BREAKER_STATE = Gauge(
    "jimbot_circuit_breaker_state",
    "Circuit breaker state by guarded dependency: 0 closed, 1 half-open, 2 open.",
    ["breaker", "prefix"],
)

StateHook = Callable[["Breaker", str, str], None]
STATE_HOOKS: list[StateHook] = []
"""Called as ``hook(breaker, old_state, new_state)`` on every change (error events use it)."""


def _not_a_failure(exc: BaseException) -> bool:
    """True for outcomes that say nothing about the dependency's health."""
    # asyncio's: the runtime runs on asyncio only (nats-py does), and this must also work
    # outside an event loop (a plain ``with breaker(...).calling():``).
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit):
        return True
    if isinstance(exc, ServiceError):
        return exc.code.startswith("4")
    return getattr(exc, "breaker_neutral", False) is True


class _Watch(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        assert isinstance(cb, Breaker)
        BREAKER_STATE.labels(cb.name, cb.scope).set(STATE_VALUES.get(new_state.name, 0))
        if new_state.name == OPEN:
            cb.opened_at = time.monotonic()
        old = old_state.name if old_state is not None else CLOSED
        level = logging.WARNING if new_state.name == OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s", cb.name, old, new_state.name)
        for hook in list(STATE_HOOKS):
            try:
                hook(cb, old, new_state.name)
            except Exception:  # a hook must never break the guarded call
                log.exception("circuit breaker hook failed")


class Breaker(pybreaker.CircuitBreaker):
    """A pybreaker breaker whose refusals are :class:`CircuitOpen`, scoped by a prefix.

    Args:
        name: the guarded dependency; also the ``JIMBOT_BREAKER_<NAME>`` override's name.
        settings: failures, open seconds and half-open trials.
        scope: the subject prefix of the dependency, ``""`` for a process-wide one.
    """

    def __init__(self, name: str, settings: BreakerSettings, *, scope: str = "") -> None:
        self.settings = settings
        self.scope = scope
        self.opened_at: float | None = None
        """``time.monotonic()`` when it last opened."""
        super().__init__(
            fail_max=settings.failure_threshold,
            reset_timeout=settings.timeout,
            success_threshold=settings.half_open_requests,
            exclude=[_not_a_failure],
            listeners=[_Watch()],
            name=name,
            # The call that trips the breaker fails with its own error, not a generic one.
            throw_new_error_on_trip=False,
        )

    @property
    def name(self) -> str:
        return self._name or ""

    @name.setter
    def name(self, name: str) -> None:
        self._name = name

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a half-open trial through (0 when not open)."""
        if self.current_state != OPEN or self.opened_at is None:
            return 0.0
        return max(self.opened_at + self.settings.timeout - time.monotonic(), 0.0)

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Guard the block: refused at once with :class:`CircuitOpen` while open."""
        body_raised = False
        try:
            with super().calling():
                try:
                    yield
                except BaseException:
                    body_raised = True
                    raise
        except CircuitBreakerError as exc:
            if body_raised or isinstance(exc, CircuitOpen):
                raise  # the block's own error (e.g. another breaker's), not this refusal
            raise CircuitOpen(self.name, self.retry_after()) from exc

    def record_failure(self, exc: BaseException) -> None:
        """Count ``exc`` as one failure of a call made outside :meth:`calling`."""

        def fail() -> None:
            raise exc

        # pybreaker re-raises it (or refuses: opened meanwhile by another call); either way
        # the caller raises its own error next, so nothing here may escape.
        with suppress(BaseException):
            self.call(fail)

    async def guard(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()`` under this breaker.

        The common case, closed with no failure counted, costs a state read instead of
        pybreaker's ~6 µs generator protocol; a failure is then recorded through pybreaker,
        so the counting and the trip are still its own.
        """
        if self.current_state == CLOSED and self.fail_counter == 0:
            try:
                return await call()
            except BaseException as exc:
                if not _not_a_failure(exc):
                    self.record_failure(exc)
                raise
        with self.calling():
            return await call()


_BREAKERS: dict[tuple[str, str], Breaker] = {}
_BY_SUBJECT: dict[str, Breaker] = {}
_SUBJECT_CACHE = 4096


def _read_settings(name: str, raw: str, base: BreakerSettings) -> BreakerSettings:
    variable = f"JIMBOT_BREAKER_{name.upper()}"
    parts = raw.split("/")
    try:
        fails = int(parts[0])
        secs = float(parts[1]) if len(parts) > 1 and parts[1] else base.timeout
        trials = int(parts[2]) if len(parts) > 2 and parts[2] else base.half_open_requests
    except ValueError:
        fails = secs = trials = -1
    if len(parts) > 3 or fails < 1 or not secs > 0 or trials < 1:
        raise ConfigError(
            f"{variable}={raw!r}: write failures/seconds/half-open trials, each > 0, e.g. 5/30/3"
        )
    return BreakerSettings(fails, secs, trials)


def settings_for(name: str, env: Mapping[str, str] | None = None) -> BreakerSettings:
    """The spec's settings for ``name``, overridden by ``JIMBOT_BREAKER_<NAME>=fails/secs/trials``.

    ``JIMBOT_BREAKER_CLAUDE_ADVISOR=3/60/3`` is the spec's default for the Claude advisor.

    Raises:
        ConfigError: the override is not three positive numbers.
    """
    spec_name = SETTINGS_OF.get(name, name)
    base = SPEC_SETTINGS.get(spec_name, SPEC_SETTINGS["default"])
    env = os.environ if env is None else env
    raw = env.get(f"JIMBOT_BREAKER_{name.upper()}", "")
    return _read_settings(name, raw, base) if raw else base


def breaker(name: str, settings: BreakerSettings | None = None, *, scope: str = "") -> Breaker:
    """This process's breaker for ``name`` (in ``scope``), made on first use.

    Args:
        name: the guarded dependency, e.g. ``"claude_advisor"``.
        settings: used only when the breaker is made; default the spec's (or the override's).
        scope: a subject prefix for a dependency that lives under one; ``""`` process-wide.
    """
    found = _BREAKERS.get((scope, name))
    if found is not None:
        return found
    made = Breaker(name, settings or settings_for(name), scope=scope)
    BREAKER_STATE.labels(name, scope).set(0)
    _BREAKERS[(scope, name)] = made
    return made


def target_of(subject: str) -> tuple[str, str]:
    """``(prefix, component)`` a request to the absolute ``subject`` depends on.

    ``jimbot.rpc.knowledge.query`` → ``("jimbot", "knowledge_graph")``; an unknown
    ``<prefix>.rpc.<name>.…`` → ``<name>``; anything else → its tokens joined by ``_``.
    """
    prefix, _, relative = subject.partition(".")
    tokens = relative.split(".")
    for size in (3, 2):
        found = RPC_TARGETS.get(".".join(tokens[:size]))
        if found is not None:
            return prefix, found
    if tokens[0] == "rpc" and len(tokens) > 1:
        return prefix, tokens[1]
    return prefix, "_".join(tokens[:3])


def request_breaker(subject: str) -> Breaker:
    """The breaker that guards requests to the absolute ``subject`` (cached per subject)."""
    found = _BY_SUBJECT.get(subject)
    if found is None:
        if len(_BY_SUBJECT) >= _SUBJECT_CACHE:
            _BY_SUBJECT.clear()  # callers choose subjects: bound the cache
        prefix, name = target_of(subject)
        found = _BY_SUBJECT[subject] = breaker(name, scope=prefix)
    return found


def breaker_states(scope: str | None = None) -> dict[str, str]:
    """``{name: "closed" | "half-open" | "open"}`` for this process's breakers.

    Args:
        scope: a prefix: its breakers and the process-wide ones; ``None``: all, the scoped
            ones named ``name@prefix``.
    """
    out: dict[str, str] = {}
    for (where, name), cb in sorted(_BREAKERS.items()):
        if scope is None:
            out[f"{name}@{where}" if where else name] = cb.current_state
        elif where in ("", scope):
            out[name] = cb.current_state
    return out


def forget_breakers() -> None:
    """Drop every breaker of this process (tests that need a fresh state)."""
    _BREAKERS.clear()
    _BY_SUBJECT.clear()


def circuit_of(exc: BaseException) -> CircuitBreakerError | None:
    """The breaker refusal in ``exc``'s cause chain, if any (a handler may wrap it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CircuitBreakerError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
