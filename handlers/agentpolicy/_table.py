"""Per-agent policy tables from configuration.

``JIMBOT_AGENT_POLICIES`` (decide) and ``JIMBOT_AGENT_STREAM_POLICIES`` (stream) are comma
separated ``<agent>=<module>:<attribute>`` entries::

    JIMBOT_AGENT_POLICIES="scout=mypkg.scouting:decide,rover_*=mypkg.rovers:decide,*=mypkg:base"

An exact agent name wins; then glob patterns (``*``, ``?``, ``[...]``) in the order given; then
a lone ``*``; then the reference policy. Tables are parsed once per distinct value of the
variable, so a changed environment takes effect without a restart of the process's code.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Generic, TypeVar

from handlers.agentpolicy._reference import PolicyRequest, reference_decide, reference_stream
from schemas import (
    PERCEPT_FORMAT_ENV,
    PERCEPT_FORMAT_FIX,
    JimbotError,
    PerceptFormat,
    PerceptFormatError,
    percept_format,
)
from schemas import agent_bridge_pb2 as pb

POLICIES_ENV = "JIMBOT_AGENT_POLICIES"
STREAM_POLICIES_ENV = "JIMBOT_AGENT_STREAM_POLICIES"

Policy = Callable[[PolicyRequest], "pb.ActionResponse | Awaitable[pb.ActionResponse]"]
"""Decides one action: returns the response, or an awaitable of it (an ``async def``)."""
StreamPolicy = Callable[
    [PolicyRequest], "AsyncIterator[pb.ActionResponse] | Iterable[pb.ActionResponse]"
]
"""Yields a sequence of actions: an async generator, or any iterable of responses."""

P = TypeVar("P")


class PolicyConfigError(JimbotError):
    """Raised when a policy table entry cannot be parsed or its target cannot be imported."""

    def __init__(
        self,
        variable: str,
        entry: str,
        reason: str,
        fix: str = "use comma-separated '<agent or glob>=<module>:<attribute>' entries",
    ) -> None:
        self.variable = variable
        self.entry = entry
        super().__init__(f"{variable}: entry {entry!r}: {reason}; {fix}")


@dataclass(frozen=True, slots=True)
class PolicyTable(Generic[P]):
    """Which policy serves which agent."""

    exact: Mapping[str, P]
    patterns: tuple[tuple[str, P], ...]
    default: P

    def for_agent(self, agent: str) -> P:
        """The policy for ``agent``: exact name, then the first matching glob, then default."""
        found = self.exact.get(agent)
        if found is not None:
            return found
        for pattern, policy in self.patterns:
            if fnmatchcase(agent, pattern):
                return policy
        return self.default


def load_target(target: str, *, variable: str, entry: str) -> object:
    """Import ``module:attribute`` (the attribute may be dotted) and check it is callable."""
    module_name, sep, attribute = target.strip().partition(":")
    if not sep or not module_name or not attribute:
        raise PolicyConfigError(variable, entry, f"{target!r} is not 'module:attribute'")
    try:
        value: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicyConfigError(variable, entry, f"cannot import {module_name!r} ({exc})") from exc
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise PolicyConfigError(variable, entry, f"{module_name!r} has no {attribute!r}")
        value = getattr(value, part)
    if not callable(value):
        raise PolicyConfigError(variable, entry, f"{target!r} is not callable")
    return value


def parse_table(raw: str, *, variable: str, default: P) -> PolicyTable[P]:
    """Parse a table value; raises :class:`PolicyConfigError` naming the bad entry."""
    exact: dict[str, P] = {}
    patterns: list[tuple[str, P]] = []
    fallback = default
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        agent, sep, target = entry.partition("=")
        agent = agent.strip()
        if not sep or not agent:
            raise PolicyConfigError(variable, entry, "missing '<agent>='")
        policy: P = load_target(target, variable=variable, entry=entry)  # type: ignore[assignment]
        if agent == "*":
            fallback = policy
        elif any(c in agent for c in "*?["):
            patterns.append((agent, policy))
        else:
            exact[agent] = policy
    return PolicyTable(exact=exact, patterns=tuple(patterns), default=fallback)


@lru_cache(maxsize=8)
def _decide_table(raw: str) -> PolicyTable[Policy]:
    return parse_table(raw, variable=POLICIES_ENV, default=reference_decide)


@lru_cache(maxsize=8)
def _stream_table(raw: str) -> PolicyTable[StreamPolicy]:
    return parse_table(raw, variable=STREAM_POLICIES_ENV, default=reference_stream)


@lru_cache(maxsize=8)
def _percept_format(raw: str) -> PerceptFormat:
    try:
        return percept_format(raw)
    except PerceptFormatError as exc:
        raise PolicyConfigError(PERCEPT_FORMAT_ENV, raw, str(exc), PERCEPT_FORMAT_FIX) from None


def policy_request(
    agent: str, context: str, percept: str, env: Mapping[str, str] | None = None
) -> PolicyRequest:
    """What a policy is given: the percept also read by ``JIMBOT_AGENT_PERCEPT_FORMAT``.

    Raises:
        PolicyConfigError: the format does not load.
    """
    env = os.environ if env is None else env
    reader = _percept_format(env.get(PERCEPT_FORMAT_ENV, ""))
    data = reader.read(percept) if percept else None
    return PolicyRequest(agent=agent, context=context, percept=percept, data=data)


def policy_for(agent: str, env: Mapping[str, str] | None = None) -> Policy:
    """The decide policy configured for ``agent`` (the reference one by default)."""
    env = os.environ if env is None else env
    return _decide_table(env.get(POLICIES_ENV, "")).for_agent(agent)


def stream_policy_for(agent: str, env: Mapping[str, str] | None = None) -> StreamPolicy:
    """The stream policy configured for ``agent`` (the reference ``step_0..2`` by default)."""
    env = os.environ if env is None else env
    return _stream_table(env.get(STREAM_POLICIES_ENV, "")).for_agent(agent)
