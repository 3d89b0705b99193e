"""What the strategy advisor and the gateway must spell alike: buckets, keys and value layouts.

They meet only in KV (the gateway lists the cache and changes the rate limits without calling
the handler), so the layout of both lives here:

- ``<PREFIX>_STRATEGY_CACHE``: one key per cached answer, the key a digest of the game state,
  the question and the provider; the value a :class:`CacheEntry` as JSON.
- ``<PREFIX>_STRATEGY_LIMITS``: key ``config`` holds the :class:`RateLimits` in force (absent:
  the spec's defaults); key ``state`` the shared :class:`BucketState`, changed only by
  compare-and-set so every copy of the handler draws from the same tokens.

The rate limits have their own bucket, without a TTL: in the cache bucket (one day) an
operator's settings would silently revert a day after they were written.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from schemas import JimbotError

CACHE_BUCKET = "STRATEGY_CACHE"
"""Bucket suffix of the cached strategies (``Names.bucket(CACHE_BUCKET)``)."""
LIMITS_BUCKET = "STRATEGY_LIMITS"
"""Bucket suffix of the rate-limit configuration and the shared token bucket."""
LIMITS_CONFIG_KEY = "config"
LIMITS_STATE_KEY = "state"

MAX_CAPACITY = 1_000_000
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*(second|sec|s|minute|min|m|hour|h)\s*$")
_PER_HOUR = {"second": 3600.0, "sec": 3600.0, "s": 3600.0, "minute": 60.0, "min": 60.0}
_PER_HOUR |= {"m": 60.0, "hour": 1.0, "h": 1.0}


class RateLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The spec's ``rate_limiting`` block: two token buckets a Claude call must both pass.

    - ``capacity`` / ``refill_per_hour``: the quota. At most ``capacity`` calls back to back
      after a quiet spell, and ``refill_per_hour`` more per hour after that.
    - ``burst_capacity`` / ``burst_refill_per_minute``: the pace. At most ``burst_capacity``
      calls in a row, then one per ``60 / burst_refill_per_minute`` seconds, so a burst of
      questions cannot spend the hour's quota in a few seconds.
    """

    capacity: int = 100
    refill_per_hour: float = 100.0
    burst_capacity: int = 10
    burst_refill_per_minute: float = 10.0

    def problems(self) -> list[str]:
        """Each rule the values break, as a sentence (empty when they are valid)."""
        out = []
        for name in ("capacity", "burst_capacity"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_CAPACITY:
                out.append(f"{name} must be an integer from 0 to {MAX_CAPACITY}, got {value}")
        for name in ("refill_per_hour", "burst_refill_per_minute"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 3600 * MAX_CAPACITY):
                out.append(f"{name} must be a finite number >= 0, got {value}")
        if self.burst_capacity > self.capacity:
            out.append(
                f"burst_capacity ({self.burst_capacity}) cannot exceed capacity ({self.capacity})"
            )
        return out


class RateLimitsError(JimbotError, ValueError):
    """Raised when a rate-limit update is not valid; the message says which rule it breaks."""


class BucketState(msgspec.Struct):
    """The shared token bucket: tokens left in each bucket at ``updated_at`` (epoch seconds)."""

    tokens: float
    burst_tokens: float
    updated_at: float


class CacheEntry(msgspec.Struct, kw_only=True):
    """One cached answer: the ``StrategyResponse`` as proto-JSON and when it stops counting.

    ``expires_at`` is the advisor's cache TTL; the bucket's own max age (one day) removes the
    entry from storage later.
    """

    key: str
    provider: str
    created_at: float
    expires_at: float
    strategy: dict[str, Any]
    question: str = ""
    phase: str = ""


def _rate(name: str, value: object, unit: str) -> float:
    """A rate per ``unit`` (``"hour"`` or ``"minute"``): a number, or the spec's text
    (``"100/hour"``, ``"2/minute"``, ``"1/second"``) converted."""
    if isinstance(value, bool):
        raise RateLimitsError(f"{name} must be a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _RATE.match(value.lower())):
        return float(match.group(1)) * _PER_HOUR[match.group(2)] / _PER_HOUR[unit]
    raise RateLimitsError(
        f"{name} must be a number per {unit} or text like '100/hour', got {value!r}"
    )


_FIELDS = ("capacity", "refill_per_hour", "burst_capacity", "burst_refill_per_minute")


def merge_rate_limits(current: RateLimits, update: object) -> RateLimits:
    """``current`` with the fields ``update`` (a decoded JSON object) names replaced.

    Fields left out keep their value. The spec's own shape is accepted too:
    ``{"strategy": "token_bucket", "capacity": 100, "refill_rate": "100/hour",
    "burst_capacity": 10}``.

    Raises:
        RateLimitsError: not an object, an unknown field, a wrong type, or values that break
            a rule of :meth:`RateLimits.problems`.
    """
    if not isinstance(update, dict):
        raise RateLimitsError("the body must be a JSON object of rate-limit fields")
    values: dict[str, Any] = {f: getattr(current, f) for f in _FIELDS}
    known = (*_FIELDS, "refill_rate", "strategy")
    for key, value in update.items():
        if key not in known:
            raise RateLimitsError(f"unknown field {key!r}; the fields are {', '.join(known)}")
        if key == "strategy":
            if value != "token_bucket":
                raise RateLimitsError("strategy: only 'token_bucket' is supported")
        elif key in ("capacity", "burst_capacity"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise RateLimitsError(f"{key} must be an integer, got {value!r}")
            values[key] = value
        elif key == "burst_refill_per_minute":
            values[key] = _rate(key, value, "minute")
        else:
            values["refill_per_hour"] = _rate(key, value, "hour")
    limits = RateLimits(**values)
    if problems := limits.problems():
        raise RateLimitsError("; ".join(problems))
    return limits


def decode_rate_limits(data: bytes | None) -> RateLimits:
    """The stored configuration; the spec's defaults when absent or unreadable."""
    if not data:
        return RateLimits()
    try:
        limits = msgspec.json.decode(data, type=RateLimits)
    except msgspec.DecodeError:
        return RateLimits()
    return RateLimits() if limits.problems() else limits
