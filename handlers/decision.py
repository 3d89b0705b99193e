"""The decision service: answers ``rpc.decision.get`` (``LearningDecisionRequest`` →
``LearningDecisionResponse``) with the configured policy's move, always legal and in time.

Rule: the policy (``JIMBOT_DECISION_POLICY``, ``module:attribute``; default the heuristic
``handlers.policies.balatro:decide``) gets ``time_limit_ms`` when it is > 0, and never more
than the caller's own deadline minus a few milliseconds to send the answer. A late policy
yields the safe fallback (a legal move for the phase: play the leftmost cards, leave the shop,
select the blind, cash out; ``confidence=0``, ``fallback=true``, ``strategy_name
"fallback:timeout"``); a policy that raises, returns something else than a response or an
action outside the grammar yields it with ``"fallback:error"``, and the error is logged.

How the policy runs: an ``async def`` policy is awaited under a cancel scope. A sync policy
runs in a worker thread the service stops waiting for at the limit (the thread finishes on its
own; while ``MAX_POLICY_THREADS`` are still busy, new requests get ``"fallback:busy"`` at once
rather than piling up threads). A policy marked ``runs_inline`` (the heuristic: a fraction of
a millisecond, less than the thread hop itself) runs on the event loop and is judged late
only once it returns.

Publishes nothing: the game handler that asked publishes the ``learning.decision`` event.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from typing import Any

import anyio
import anyio.to_thread

import subjects
from handlers import Context, Endpoint, run
from handlers.policies import (
    InvalidActionError,
    Policy,
    expand_action,
    fallback,
    is_inline,
    load_policy,
)
from schemas import JimbotError, events_pb2

MAX_POLICY_THREADS = 32
"""Sync policy calls running at once in worker threads, abandoned ones included."""
REPLY_MARGIN = 0.01
"""Seconds kept before the caller's deadline to encode and send the answer."""

Logger = logging.Logger | logging.LoggerAdapter[Any]
_threads = threading.BoundedSemaphore(MAX_POLICY_THREADS)
log = logging.getLogger("jimbot.decision")


class PolicyBusy(JimbotError):
    """Raised when every policy thread is still busy, so a new call cannot start."""


class _ThreadCall:
    """One sync policy call in a worker thread, holding a slot of ``_threads`` until it ends.

    If the wait is given up before the thread started (cancelled while queued for a
    thread), the slot is freed here and the thread, should it start later, does nothing.
    """

    def __init__(self, policy: Policy, request: events_pb2.LearningDecisionRequest) -> None:
        self.policy, self.request = policy, request
        self.lock = threading.Lock()
        self.state = "pending"

    def run(self) -> object:
        with self.lock:
            if self.state == "dropped":
                return None
            self.state = "running"
        try:
            return self.policy(self.request)
        finally:
            _threads.release()

    def drop(self) -> None:
        with self.lock:
            if self.state == "pending":
                self.state = "dropped"
                _threads.release()


def _is_async(policy: Policy) -> bool:
    # An object whose __call__ is an `async def` is an async policy too.
    return inspect.iscoroutinefunction(policy) or inspect.iscoroutinefunction(type(policy).__call__)


async def _call(policy: Policy, request: events_pb2.LearningDecisionRequest) -> object:
    if _is_async(policy) or is_inline(policy):
        result: object = policy(request)
    else:
        if not _threads.acquire(blocking=False):
            raise PolicyBusy(f"all {MAX_POLICY_THREADS} policy threads are busy")
        call = _ThreadCall(policy, request)
        try:
            result = await anyio.to_thread.run_sync(call.run, abandon_on_cancel=True)
        finally:
            call.drop()
    if inspect.isawaitable(result):
        result = await result
    return result


def _limit(request: events_pb2.LearningDecisionRequest, deadline: float, now: float) -> float:
    """When the policy's answer must be in: ``time_limit_ms`` from now, within the caller's
    deadline less the time to reply."""
    limit = (
        deadline - min(REPLY_MARGIN, (deadline - now) / 5) if math.isfinite(deadline) else deadline
    )
    budget = request.time_limit_ms
    if budget > 0 and math.isfinite(budget):
        limit = min(limit, now + budget / 1000)
    return limit


async def decide_in_time(
    policy: Policy,
    request: events_pb2.LearningDecisionRequest,
    *,
    deadline: float = math.inf,
    logger: Logger = log,
) -> events_pb2.LearningDecisionResponse:
    """``policy``'s answer to ``request``, or the fallback when it is late or fails.

    Args:
        deadline: the caller's absolute anyio deadline (``ctx.deadline`` in a handler).
    """
    now = anyio.current_time()
    limit = _limit(request, deadline, now)
    request_id = request.request_id or "-"
    if limit <= now:
        return fallback(request, reason="timeout")
    try:
        with anyio.CancelScope(deadline=limit) as scope:
            result = await _call(policy, request)
        late = scope.cancelled_caught or anyio.current_time() > limit
    except PolicyBusy as exc:
        logger.warning("decision %s: %s; answering with the fallback", request_id, exc)
        return fallback(request, reason="busy")
    except Exception as exc:
        logger.error("decision %s: the policy failed: %r", request_id, exc, exc_info=exc)
        return fallback(request, reason="error", detail=f"policy_error: {type(exc).__name__}")
    if late:
        spent = (anyio.current_time() - now) * 1000
        logger.warning("decision %s: the policy was late (%.1f ms)", request_id, spent)
        return fallback(request, reason="timeout")
    try:
        if not isinstance(result, events_pb2.LearningDecisionResponse):
            raise TypeError(f"the policy returned {type(result).__name__}, not a response")
        expand_action(result.selected_action)
    except (TypeError, InvalidActionError) as exc:
        logger.error("decision %s: %s", request_id, exc)
        return fallback(request, reason="error", detail=f"policy_error: {exc}"[:200])
    if not result.HasField("request_id") and request.HasField("request_id"):
        result.request_id = request.request_id
    return result


def create_endpoint(policy: Policy, *, name: str = "decision", concurrency: int = 64) -> Endpoint:
    """A decision endpoint serving ``policy`` (tests, or a process choosing its own)."""

    async def get_decision(
        request: events_pb2.LearningDecisionRequest, ctx: Context
    ) -> events_pb2.LearningDecisionResponse:
        return await decide_in_time(policy, request, deadline=ctx.deadline, logger=ctx.logger)

    return Endpoint(
        name=name,
        subject=subjects.RPC_DECISION_GET,
        handle=get_decision,
        concurrency=concurrency,
        description="jimbot decision service: LearningDecisionRequest -> LearningDecisionResponse",
    )


# Loaded at import, so a wrong JIMBOT_DECISION_POLICY stops the worker at start, not later.
_policy: Policy = load_policy()


async def get_decision(
    request: events_pb2.LearningDecisionRequest, ctx: Context
) -> events_pb2.LearningDecisionResponse:
    """Answer with the configured policy's move, or the safe fallback."""
    return await decide_in_time(_policy, request, deadline=ctx.deadline, logger=ctx.logger)


endpoint = Endpoint(
    name="decision",
    subject=subjects.RPC_DECISION_GET,
    handle=get_decision,
    concurrency=64,
    description="jimbot decision service: LearningDecisionRequest -> LearningDecisionResponse",
)

if __name__ == "__main__":
    raise SystemExit(run([endpoint]))
