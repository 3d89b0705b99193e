"""Decision policies: what the decision service asks for a move, and how to plug one in.

A policy is any callable ``LearningDecisionRequest -> LearningDecisionResponse``, sync or
async. The service finds it by import path, ``module:attribute``, from the
``JIMBOT_DECISION_POLICY`` variable (default: the heuristic ``handlers.policies.balatro:decide``),
so a trained model replaces the heuristic without touching the service.

Sync policies run in a worker thread, where the service can stop waiting for them at the time
limit; a policy that promises to finish in well under a millisecond can be marked with
:func:`runs_inline` to skip the thread hop (and is then judged late only after it returns).

Also here: :func:`expand_action` (the action grammar → the mod's command lines),
:func:`fallback` (the safe answer) and :func:`game_phase` (one name per phase, however the mod
reported it).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, cast

from handlers.policies._actions import InvalidActionError, expand_action
from handlers.policies._fallback import fallback, fallback_action
from handlers.policies._game import phase as game_phase
from schemas import JimbotError, events_pb2

__all__ = [
    "DEFAULT_POLICY",
    "POLICY_ENV",
    "InvalidActionError",
    "Policy",
    "PolicyLoadError",
    "expand_action",
    "fallback",
    "fallback_action",
    "game_phase",
    "is_inline",
    "load_policy",
    "runs_inline",
]

POLICY_ENV = "JIMBOT_DECISION_POLICY"
DEFAULT_POLICY = "handlers.policies.balatro:decide"
_INLINE = "__jimbot_runs_inline__"

F = TypeVar("F", bound=Callable[..., object])


class Policy(Protocol):
    """Chooses a move: returns the response, or an awaitable of it (an ``async def``)."""

    def __call__(
        self, request: events_pb2.LearningDecisionRequest, /
    ) -> events_pb2.LearningDecisionResponse | Awaitable[events_pb2.LearningDecisionResponse]: ...


class PolicyLoadError(JimbotError):
    """Raised when the configured policy path cannot be imported or is not callable."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{POLICY_ENV}={path!r}: {reason}; set it to 'module:attribute' naming a callable "
            f"LearningDecisionRequest -> LearningDecisionResponse (default {DEFAULT_POLICY!r})"
        )


def runs_inline(policy: F) -> F:
    """Mark a sync policy as fast enough to run on the event loop, without a thread."""
    setattr(policy, _INLINE, True)
    return policy


def is_inline(policy: object) -> bool:
    return bool(getattr(policy, _INLINE, False))


def load_policy(path: str | None = None) -> Policy:
    """Import ``module:attribute``; ``None`` reads ``JIMBOT_DECISION_POLICY`` (or the default).

    Raises:
        PolicyLoadError: naming the variable, the path and why it did not load.
    """
    target = (path if path is not None else os.environ.get(POLICY_ENV, "")).strip()
    target = target or DEFAULT_POLICY
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise PolicyLoadError(target, "not of the form 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicyLoadError(target, f"cannot import {module_name!r} ({exc})") from exc
    value: object = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise PolicyLoadError(target, f"{module_name!r} has no attribute {attribute!r}")
        value = getattr(value, part)
    if not callable(value):
        raise PolicyLoadError(target, f"{attribute!r} is not callable")
    return cast("Policy", value)
