"""The spec's token bucket, shared by every copy of the advisor through one KV key.

A Claude call needs one token from each of two buckets (:class:`subjects.RateLimits`): the
quota (capacity 100, +100 per hour) and the pace (burst 10, +10 per minute). Both live in one
value, ``STRATEGY_LIMITS/state``, refilled lazily from the time of its last change and written
back only with compare-and-set on the revision read, so two copies racing for the last token
cannot both get it: the loser's write is refused, it reads again and finds none. A denial
writes nothing, so only granted calls contend.

Time is wall-clock epoch seconds because copies on different hosts share the state; a clock
behind the stored time refills nothing (never negative). The configuration (``config`` in the
same bucket, written by ``PUT /api/v1/config/rate_limits``) is read on every take, so a change
holds at once for every copy. Under extreme contention a take gives up after
:data:`MAX_ATTEMPTS` refused writes and answers "no token": failing closed never overspends.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from subjects import (
    LIMITS_CONFIG_KEY,
    LIMITS_STATE_KEY,
    BucketState,
    RateLimits,
    decode_rate_limits,
)

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

MAX_ATTEMPTS = 32


@dataclass(frozen=True, slots=True)
class Take:
    """The outcome of one take: granted or not, and the tokens left after it."""

    granted: bool
    tokens: float
    burst_tokens: float
    retry_after: float
    """Seconds until both buckets hold a token again (0 when granted)."""


def refill(state: BucketState, limits: RateLimits, now: float) -> BucketState:
    """``state`` as of ``now``: each bucket refilled at its rate, capped at its capacity."""
    elapsed = max(0.0, now - state.updated_at)
    return BucketState(
        tokens=min(float(limits.capacity), state.tokens + elapsed * limits.refill_per_hour / 3600),
        burst_tokens=min(
            float(limits.burst_capacity),
            state.burst_tokens + elapsed * limits.burst_refill_per_minute / 60,
        ),
        updated_at=max(now, state.updated_at),
    )


def _wait(have: float, rate_per_second: float) -> float:
    if have >= 1.0:
        return 0.0
    return float("inf") if rate_per_second <= 0 else (1.0 - have) / rate_per_second


class TokenBucket:
    """Takes and gives back tokens in the shared state; holds nothing itself but the clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    async def limits(self, kv: KeyValue) -> RateLimits:
        """The configuration in force (the spec's defaults until one is written)."""
        try:
            entry = await kv.get(LIMITS_CONFIG_KEY)
        except KeyNotFoundError:
            return RateLimits()
        return decode_rate_limits(entry.value)

    async def _read(self, kv: KeyValue, limits: RateLimits) -> tuple[BucketState, int]:
        """The state and its revision; a missing or unreadable state is a full bucket (rev 0)."""
        try:
            entry = await kv.get(LIMITS_STATE_KEY)
        except KeyNotFoundError:
            entry = None
        if entry is not None and entry.value:
            try:
                state = msgspec.json.decode(entry.value, type=BucketState)
                return state, entry.revision or 0
            except msgspec.DecodeError:
                pass
        full = BucketState(float(limits.capacity), float(limits.burst_capacity), self.clock())
        return full, (entry.revision or 0) if entry is not None else 0

    async def _write(self, kv: KeyValue, state: BucketState, revision: int) -> bool:
        data = msgspec.json.encode(state)
        try:
            if revision:
                await kv.update(LIMITS_STATE_KEY, data, last=revision)
            else:
                await kv.create(LIMITS_STATE_KEY, data)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def take(self, kv: KeyValue) -> Take:
        """One token from each bucket, or none at all."""
        limits = await self.limits(kv)
        for attempt in range(MAX_ATTEMPTS):
            stored, revision = await self._read(kv, limits)
            state = refill(stored, limits, self.clock())
            if state.tokens < 1.0 or state.burst_tokens < 1.0:
                retry = max(
                    _wait(state.tokens, limits.refill_per_hour / 3600),
                    _wait(state.burst_tokens, limits.burst_refill_per_minute / 60),
                )
                return Take(False, state.tokens, state.burst_tokens, retry)
            after = BucketState(state.tokens - 1.0, state.burst_tokens - 1.0, state.updated_at)
            if await self._write(kv, after, revision):
                return Take(True, after.tokens, after.burst_tokens, 0.0)
            # Another copy wrote first: read its state again, after a little jitter so racing
            # copies do not collide in lock step.
            await anyio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        return Take(False, 0.0, 0.0, 1.0)

    async def give_back(self, kv: KeyValue) -> None:
        """Return a token taken for a call that was never made (the breaker refused it)."""
        limits = await self.limits(kv)
        for _ in range(MAX_ATTEMPTS):
            stored, revision = await self._read(kv, limits)
            state = refill(stored, limits, self.clock())
            back = BucketState(
                min(float(limits.capacity), state.tokens + 1.0),
                min(float(limits.burst_capacity), state.burst_tokens + 1.0),
                state.updated_at,
            )
            if await self._write(kv, back, revision):
                return
            await anyio.sleep(random.uniform(0, 0.002))
