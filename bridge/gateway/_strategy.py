"""The spec's ClaudeAdvisor REST endpoints: the strategy cache and the rate limits.

- ``GET /api/v1/strategies/cache``: the cached strategies still in force, newest first
  (key, provider, strategy, age, time to expiry, question, phase).
- ``GET /api/v1/config/rate_limits``: the limits in force and the shared bucket's tokens.
- ``PUT /api/v1/config/rate_limits``: change them for every copy of the advisor at once. The
  body names the fields to change (``capacity``, ``refill_per_hour``, ``burst_capacity``,
  ``burst_refill_per_minute``; the spec's ``refill_rate: "100/hour"`` too); the others keep
  their value. A bad body gets a 400 problem naming the rule it breaks.

Both read and write the KV layout of :mod:`subjects._strategy` directly: the gateway never
imports the handler, and needs no handler running to answer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import msgspec
from litestar import Request, Response, get, put
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from subjects import (
    CACHE_BUCKET,
    LIMITS_BUCKET,
    LIMITS_CONFIG_KEY,
    LIMITS_STATE_KEY,
    BucketState,
    CacheEntry,
    RateLimits,
    RateLimitsError,
    decode_rate_limits,
    merge_rate_limits,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from subjects import Names

KV_TIMEOUT = 5.0
"""Seconds a KV read may take before the route answers 503."""
MAX_BODY = 4096
WRITE_ATTEMPTS = 8


class CachedStrategy(msgspec.Struct):
    """One row of ``GET /api/v1/strategies/cache``."""

    key: str
    provider: str
    strategy: dict[str, Any]
    age_seconds: float
    expires_in_seconds: float
    question: str
    phase: str


class LimitsView(msgspec.Struct):
    """The answer of the rate-limit routes: the limits in force and, when known, the tokens."""

    limits: RateLimits
    tokens: dict[str, float] | None = None


class StoreUnavailable(Exception):
    """Raised when the strategy buckets cannot be read or written in time."""


async def _bucket(nc: Client, names: Names, suffix: str) -> KeyValue:
    try:
        with anyio.fail_after(KV_TIMEOUT):
            return await nc.jetstream().key_value(names.bucket(suffix))
    except (NatsError, TimeoutError) as exc:
        raise StoreUnavailable(
            f"KV bucket {names.bucket(suffix)} is not reachable ({type(exc).__name__}); "
            "is NATS up and provisioned (`jimbot provision`)?"
        ) from exc


async def list_cache(kv: KeyValue, *, limit: int, now: float) -> list[CachedStrategy]:
    """The entries still in force, newest first, at most ``limit``."""
    watcher = await kv.watchall(ignore_deletes=True)
    rows: list[CachedStrategy] = []
    try:
        with anyio.fail_after(KV_TIMEOUT):
            async for entry in watcher:
                if entry is None:
                    break  # the end of what is stored now
                try:
                    cached = msgspec.json.decode(entry.value or b"", type=CacheEntry)
                except msgspec.DecodeError:
                    continue  # not ours to show; the advisor treats it as a miss too
                if cached.expires_at <= now:
                    continue
                rows.append(
                    CachedStrategy(
                        key=entry.key,
                        provider=cached.provider,
                        strategy=cached.strategy,
                        age_seconds=round(max(0.0, now - cached.created_at), 3),
                        expires_in_seconds=round(cached.expires_at - now, 3),
                        question=cached.question,
                        phase=cached.phase,
                    )
                )
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    rows.sort(key=lambda r: r.age_seconds)
    return rows[:limit]


async def read_limits(kv: KeyValue) -> tuple[RateLimits, int]:
    """The limits in force and the revision they were read at (0: none stored yet)."""
    try:
        entry = await kv.get(LIMITS_CONFIG_KEY)
    except KeyNotFoundError:
        return RateLimits(), 0
    return decode_rate_limits(entry.value), entry.revision or 0


async def write_limits(kv: KeyValue, update: object) -> RateLimits:
    """Apply ``update`` to the stored limits with compare-and-set (a concurrent PUT is not lost).

    Raises:
        RateLimitsError: the update is not valid.
    """
    for _ in range(WRITE_ATTEMPTS):
        current, revision = await read_limits(kv)
        limits = merge_rate_limits(current, update)
        data = msgspec.json.encode(limits)
        try:
            if revision:
                await kv.update(LIMITS_CONFIG_KEY, data, last=revision)
            else:
                await kv.create(LIMITS_CONFIG_KEY, data)
        except KeyWrongLastSequenceError:
            continue
        return limits
    raise StoreUnavailable("the rate limits kept changing under this update; retry")


async def _tokens(kv: KeyValue) -> dict[str, float] | None:
    try:
        entry = await kv.get(LIMITS_STATE_KEY)
        state = msgspec.json.decode(entry.value or b"", type=BucketState)
    except (KeyNotFoundError, msgspec.DecodeError):
        return None
    return {
        "tokens": round(state.tokens, 3),
        "burst_tokens": round(state.burst_tokens, 3),
        "updated_at": state.updated_at,
    }


def _json(value: object, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def routes(nc: Client, names: Names) -> list[Any]:
    """The strategy routes of one gateway."""
    # Imported here: the app module imports the feature list, which imports this module.
    from bridge.gateway._app import problem

    def unavailable(exc: Exception) -> Response[bytes]:
        return problem(HTTP_503_SERVICE_UNAVAILABLE, "strategy store unavailable", str(exc))

    @get("/api/v1/strategies/cache", summary="Cached strategies still in force, newest first")
    async def strategies_cache(
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[bytes]:
        try:
            kv = await _bucket(nc, names, CACHE_BUCKET)
            rows = await list_cache(kv, limit=limit, now=time.time())
        except (StoreUnavailable, NatsError, TimeoutError) as exc:
            return unavailable(exc)
        return _json({"entries": rows, "count": len(rows)})

    @get("/api/v1/config/rate_limits", summary="The strategy advisor's rate limits and tokens")
    async def get_rate_limits() -> Response[bytes]:
        try:
            kv = await _bucket(nc, names, LIMITS_BUCKET)
            with anyio.fail_after(KV_TIMEOUT):
                limits, _ = await read_limits(kv)
                tokens = await _tokens(kv)
        except (StoreUnavailable, NatsError, TimeoutError) as exc:
            return unavailable(exc)
        return _json(LimitsView(limits=limits, tokens=tokens))

    @put("/api/v1/config/rate_limits", summary="Change the strategy advisor's rate limits")
    async def put_rate_limits(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Fields left out keep their value; every copy of the advisor uses the new ones."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return problem(HTTP_400_BAD_REQUEST, "bad rate limits", "the body is too large")
        try:
            update = msgspec.json.decode(body) if body.strip() else None
        except msgspec.DecodeError as exc:
            return problem(HTTP_400_BAD_REQUEST, "bad rate limits", f"not JSON: {exc}")
        try:
            kv = await _bucket(nc, names, LIMITS_BUCKET)
            with anyio.fail_after(KV_TIMEOUT):
                limits = await write_limits(kv, update)
        except RateLimitsError as exc:
            return problem(HTTP_400_BAD_REQUEST, "bad rate limits", str(exc))
        except (StoreUnavailable, NatsError, TimeoutError) as exc:
            return unavailable(exc)
        return _json(LimitsView(limits=limits))

    return [strategies_cache, get_rate_limits, put_rate_limits]
