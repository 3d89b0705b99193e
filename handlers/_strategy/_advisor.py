"""The advisor: the cache first, then the configured provider within the rate limits and the
circuit breaker, and the offline strategist whenever Claude may not or cannot answer.

Order of a question, and why:

1. **Cache** (``STRATEGY_CACHE``): a hit answers at once with ``cached=true``; no provider is
   called and no token spent.
2. **Offline provider** (no key configured): answer, cache, done.
3. **Breaker** ``claude_advisor`` (3 failures, 60 s, 3 half-open successes): open → fallback
   without spending a token. Checked before the bucket so an outage does not drain the quota.
4. **Deadline**: less than :data:`MIN_BUDGET` left → fallback; a call that cannot finish in
   time is not worth its tokens.
5. **Token bucket** (shared in KV): no token → fallback ``rate_limited``.
6. **Claude**, bounded by the deadline, inside the breaker: an API error, a timeout or an
   unusable answer counts as a failure and falls back. A call the breaker refused after the
   token was taken (it opened meanwhile) gives the token back.

A fallback is the offline strategist's answer with ``strategy_name="fallback:<reason>"``
(``breaker_open``, ``rate_limited``, ``timeout``, ``provider_error``, ``stale``),
``model="offline:rules"`` and ``extra.fallback``. Fallbacks are never cached: the next asker
should get the real provider's answer once it is back. Answers of the configured provider are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import pybreaker
from prometheus_client import Counter

from handlers import BreakerSettings, CircuitBreakerError, breaker
from handlers._strategy import _offline
from handlers._strategy._bucket import TokenBucket
from handlers._strategy._cache import StrategyCache, cache_key
from handlers._strategy._claude import ClaudeProvider
from subjects import CACHE_BUCKET, LIMITS_BUCKET

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.js.kv import KeyValue

    from handlers._strategy._config import StrategyConfig
    from schemas import events_pb2

    KvGetter = Callable[[str], Awaitable[KeyValue]]

BREAKER = "claude_advisor"
MIN_BUDGET = 0.05
"""Seconds a provider call needs at least; with less left, the offline answer is given."""
REPLY_MARGIN = 0.02
"""Seconds kept before the deadline to build, cache and send the answer."""
WHY = {
    "breaker_open": "the circuit breaker is open after repeated Claude failures",
    "rate_limited": "the rate limit's tokens are spent",
    "timeout": "no time left in the request's budget",
    "provider_error": "the Claude call failed",
    "stale": "the request waited past its timeout in the queue",
}

ANSWERS = Counter(
    "jimbot_strategy_answers_total",
    "Strategy answers by where they came from: cache, provider, or fallback:<reason>.",
    ["source"],
)

Logger = logging.Logger | logging.LoggerAdapter[Any]
log = logging.getLogger("jimbot.strategy")


class Provider(Protocol):
    """A strategist: ``name`` goes into cache keys, so a different provider asks anew."""

    name: str

    async def advise(self, request: events_pb2.StrategyRequest) -> events_pb2.StrategyResponse: ...


class OfflineProvider:
    """The rule-based strategist as a provider (no network, no tokens, no breaker)."""

    name = _offline.STRATEGY

    async def advise(self, request: events_pb2.StrategyRequest) -> events_pb2.StrategyResponse:
        return _offline.advise(request)


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """When the breaker last opened, so an open breaker is seen without calling through it."""

    def __init__(self) -> None:
        self.at = -float("inf")

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.at = time.monotonic()


@dataclass
class Advisor:
    """Answers strategy requests; holds no state of its own beyond the process's breaker."""

    provider: Provider
    cache: StrategyCache
    bucket: TokenBucket = field(default_factory=TokenBucket)
    breaker_settings: BreakerSettings | None = None
    """Settings for a breaker made by this advisor (tests); else the spec's / the env's."""

    @property
    def uses_llm(self) -> bool:
        return not isinstance(self.provider, OfflineProvider)

    def fallback(
        self, request: events_pb2.StrategyRequest, reason: str
    ) -> events_pb2.StrategyResponse:
        """The offline strategist's answer, marked as standing in for the provider."""
        response = _offline.advise(request)
        response.strategy_name = f"fallback:{reason}"
        response.reasoning = f"(Offline answer: {WHY.get(reason, reason)}.) {response.reasoning}"
        response.extra.update({"fallback": reason, "wanted": self.provider.name})
        ANSWERS.labels(f"fallback:{reason}").inc()
        return response

    async def advise(
        self,
        request: events_pb2.StrategyRequest,
        *,
        kv: KvGetter,
        deadline: float,
        logger: Logger = log,
    ) -> events_pb2.StrategyResponse:
        """The answer to ``request`` by ``deadline`` (absolute anyio time)."""
        key = cache_key(request, self.provider.name)
        cache_kv = await kv(CACHE_BUCKET)
        hit = await self.cache.get(cache_kv, key)
        if hit is not None:
            ANSWERS.labels("cache").inc()
            _stamp(hit, request)
            return hit
        response = await self._ask(request, kv, deadline, logger)
        if not response.strategy_name.startswith("fallback:"):
            ANSWERS.labels("provider").inc()
            await self.cache.put(
                cache_kv, key, response, request=request, provider=self.provider.name
            )
        _stamp(response, request)
        return response

    async def _ask(
        self,
        request: events_pb2.StrategyRequest,
        kv: KvGetter,
        deadline: float,
        logger: Logger,
    ) -> events_pb2.StrategyResponse:
        if not self.uses_llm:
            return await self.provider.advise(request)
        cb = self._breaker()
        if self._is_open(cb):
            return self.fallback(request, "breaker_open")
        if deadline - anyio.current_time() - REPLY_MARGIN < MIN_BUDGET:
            return self.fallback(request, "timeout")
        limits_kv = await kv(LIMITS_BUCKET)
        take = await self.bucket.take(limits_kv)
        if not take.granted:
            logger.info("strategy: no token (next in %.1fs); answering offline", take.retry_after)
            return self.fallback(request, "rate_limited")
        budget = max(deadline - anyio.current_time() - REPLY_MARGIN, MIN_BUDGET)
        called = False
        try:
            with cb.calling():
                called = True
                with anyio.fail_after(budget):
                    return await self.provider.advise(request)
        except CircuitBreakerError:
            if not called:  # opened between the check and the call: the token was not used
                await self.bucket.give_back(limits_kv)
                return self.fallback(request, "breaker_open")
            logger.warning("strategy: Claude failed and the circuit breaker opened")
            return self.fallback(request, "provider_error")
        except TimeoutError:
            logger.warning("strategy: Claude did not answer within %.2fs", budget)
            return self.fallback(request, "timeout")
        except Exception as exc:
            logger.warning("strategy: Claude failed: %s", str(exc)[:300] or type(exc).__name__)
            return self.fallback(request, "provider_error")

    def _breaker(self) -> pybreaker.CircuitBreaker:
        cb = breaker(BREAKER, self.breaker_settings)
        if not any(isinstance(listener, _OpenedAt) for listener in cb.listeners):
            cb.add_listener(_OpenedAt())
        return cb

    @staticmethod
    def _is_open(cb: pybreaker.CircuitBreaker) -> bool:
        """Open and still within its timeout (after it, the next call is a half-open trial)."""
        if cb.current_state != pybreaker.STATE_OPEN:
            return False
        opened = next((x.at for x in cb.listeners if isinstance(x, _OpenedAt)), -float("inf"))
        return time.monotonic() - opened < cb.reset_timeout

    async def aclose(self) -> None:
        close = getattr(self.provider, "aclose", None)
        if close is not None:
            await close()


def _stamp(response: events_pb2.StrategyResponse, request: events_pb2.StrategyRequest) -> None:
    if request.HasField("request_id"):
        response.request_id = request.request_id


def create_advisor(
    config: StrategyConfig,
    *,
    provider: Provider | None = None,
    breaker_settings: BreakerSettings | None = None,
) -> Advisor:
    """The advisor ``config`` describes (``provider`` overrides the choice, e.g. in tests)."""
    if provider is None:
        provider = ClaudeProvider(config) if config.uses_claude else OfflineProvider()
    return Advisor(
        provider=provider,
        cache=StrategyCache(config.cache_ttl),
        breaker_settings=breaker_settings,
    )
