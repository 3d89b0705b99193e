"""One resource type's state as stored in KV, and the pure rules that change it.

A pool holds the active leases, the requests waiting for capacity and the last requests that
ended (so a retried request is answered as before instead of taking capacity again). Every
function here is pure: the store applies one to the value it read and writes the result with
compare-and-set, so the rules hold however many coordinator copies race.

The admission rule (priorities): a request of ``amount`` is granted now iff

    capacity - allocated - reserved >= amount

where ``reserved`` sums the amounts of the waiting requests that *outrank* it: a waiter
outranks a request when its priority is higher (LOW < NORMAL < HIGH < CRITICAL), or equal and
it has waited since earlier. So a request never takes capacity that a waiting request of
higher priority (or an earlier one of the same priority) needs; it may still use capacity
beyond what they need. A waiter reserves only until its own deadline (``until``), so a copy
that died while waiting blocks nobody for longer than that request's timeout.

The rules never change a list of a pool in place: they bind a new list. So a shallow copy of
a pool (:func:`scratch`) is a safe draft, and a pool another task still reads is never
changed under it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

import msgspec

from schemas import events_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable

DONE_KEPT = 32
"""Ended requests remembered per pool, for answering retries (each write carries them all,
so the list stays short)."""

_RANK = {
    events_pb2.PRIORITY_LOW: 0,
    events_pb2.PRIORITY_NORMAL: 1,
    events_pb2.PRIORITY_HIGH: 2,
    events_pb2.PRIORITY_CRITICAL: 3,
}


def rank(priority: int) -> int:
    """Order of a ``Priority`` value: LOW 0, NORMAL 1, HIGH 2, CRITICAL 3."""
    return _RANK[priority]  # type: ignore[index]


class Lease(msgspec.Struct, frozen=True):
    """An active grant."""

    grant_id: str
    request_id: str
    component: str
    amount: int
    priority: int
    granted_at: float
    """Epoch seconds."""
    expires_at: float
    """Epoch seconds; the lease ends then unless released before."""


class Waiter(msgspec.Struct, frozen=True):
    """A request waiting for capacity; it reserves its amount against lower requests."""

    request_id: str
    component: str
    amount: int
    priority: int
    since: float
    until: float
    """Epoch seconds when the request gives up."""

    def outranks(self, priority: int, since: float, request_id: str) -> bool:
        mine, theirs = rank(self.priority), rank(priority)
        if mine != theirs:
            return mine > theirs
        return (self.since, self.request_id) < (since, request_id)


class Ended(msgspec.Struct, frozen=True):
    """A request whose lease has ended: ``how`` is ``released`` or ``expired``."""

    request_id: str
    grant_id: str
    how: str


class Pool(msgspec.Struct):
    """The KV value of one resource type."""

    leases: list[Lease] = msgspec.field(default_factory=list)
    waiters: list[Waiter] = msgspec.field(default_factory=list)
    ended: list[Ended] = msgspec.field(default_factory=list)
    updated_at: float = 0.0
    """Epoch seconds of the write; every lease in the value was active then."""

    @property
    def allocated(self) -> int:
        return sum(lease.amount for lease in self.leases)

    def lease_for(self, request_id: str) -> Lease | None:
        return next((x for x in self.leases if x.request_id == request_id), None)

    def lease_named(self, grant_id: str) -> Lease | None:
        return next((x for x in self.leases if x.grant_id == grant_id), None)

    def ended_for(self, *, request_id: str = "", grant_id: str = "") -> Ended | None:
        for item in reversed(self.ended):
            if (request_id and item.request_id == request_id) or (
                grant_id and item.grant_id == grant_id
            ):
                return item
        return None

    def next_lease_expiry(self) -> float | None:
        """Epoch seconds when the next lease runs out, if any."""
        return min((x.expires_at for x in self.leases), default=None)


def decode(data: bytes | None) -> Pool:
    return msgspec.json.decode(data, type=Pool) if data else Pool()


def encode(pool: Pool) -> bytes:
    return msgspec.json.encode(pool)


def scratch(pool: Pool) -> Pool:
    """A draft of ``pool`` to apply rules to; ``pool`` itself stays as it is."""
    return msgspec.structs.replace(pool)


def _remember(pool: Pool, ended: list[Ended]) -> None:
    if ended:
        pool.ended = [*pool.ended, *ended][-DONE_KEPT:]


def prune(pool: Pool, now: float) -> list[Lease]:
    """Drop leases that have expired and waiters that gave up; the expired leases."""
    expired = [x for x in pool.leases if x.expires_at <= now]
    if expired:
        pool.leases = [x for x in pool.leases if x.expires_at > now]
        _remember(pool, [Ended(x.request_id, x.grant_id, "expired") for x in expired])
    if any(w.until <= now for w in pool.waiters):
        pool.waiters = [w for w in pool.waiters if w.until > now]
    return expired


def headroom(pool: Pool, capacity: int, waiter: Waiter) -> int:
    """Capacity ``waiter`` may take now: free capacity less what outranking waiters need."""
    reserved = sum(
        w.amount
        for w in pool.waiters
        if w.request_id != waiter.request_id
        and w.outranks(waiter.priority, waiter.since, waiter.request_id)
    )
    return capacity - pool.allocated - reserved


def _order(waiter: Waiter) -> tuple[int, float, str]:
    """Sort key: ``a`` outranks ``b`` exactly when ``_order(a) < _order(b)``."""
    return (-rank(waiter.priority), waiter.since, waiter.request_id)


@dataclass(frozen=True, slots=True)
class Ranking:
    """A pool's leases and queue of waiters as of one moment, sorted once, so that whether
    any number of requests fit costs a binary search each (:meth:`takes`), not a scan.

    The same rule as :func:`headroom` after :func:`prune`. It holds until ``valid_until``
    (the next lease expiry or waiter deadline in the pool), or until the pool changes.
    """

    allocated: int
    holding: frozenset[str]
    keys: list[tuple[int, float, str]]
    reserved_before: list[int]
    """``reserved_before[i]``: the amounts of the first ``i`` waiters in rank order."""
    place: dict[str, int]
    amounts: list[int]
    valid_until: float

    @classmethod
    def of(cls, pool: Pool, now: float) -> Ranking:
        live = [x for x in pool.leases if x.expires_at > now]
        queue = sorted((w for w in pool.waiters if w.until > now), key=_order)
        amounts = [w.amount for w in queue]
        upcoming = [x.expires_at for x in live] + [w.until for w in queue]
        return cls(
            allocated=sum(x.amount for x in live),
            holding=frozenset(x.request_id for x in live),
            keys=[_order(w) for w in queue],
            reserved_before=list(accumulate(amounts, initial=0)),
            place={w.request_id: i for i, w in enumerate(queue)},
            amounts=amounts,
            valid_until=min(upcoming, default=math.inf),
        )

    def takes(self, candidate: Waiter, capacity: int) -> bool:
        """Whether :func:`admit` would grant ``candidate`` (or finds its lease)."""
        if candidate.request_id in self.holding:
            return True
        free = capacity - self.allocated
        if free < candidate.amount:
            return False
        index = bisect_left(self.keys, _order(candidate))
        reserved = self.reserved_before[index]
        own = self.place.get(candidate.request_id)
        if own is not None and own < index:
            reserved -= self.amounts[own]  # its own entry, registered with another `since`
        return free - reserved >= candidate.amount


def takers(pool: Pool, capacity: int, candidates: Iterable[Waiter], now: float) -> set[str]:
    """Request ids of ``candidates`` that :func:`admit` would grant as of ``now`` (or that
    hold a lease already), without changing ``pool``."""
    ranking = Ranking.of(pool, now)
    return {c.request_id for c in candidates if ranking.takes(c, capacity)}


@dataclass(frozen=True, slots=True)
class Granted:
    lease: Lease
    new: bool
    """False when the lease was granted before (a retried request)."""


@dataclass(frozen=True, slots=True)
class AlreadyEnded:
    ended: Ended


@dataclass(frozen=True, slots=True)
class Waiting:
    pass


Admission = Granted | AlreadyEnded | Waiting


def admit(pool: Pool, capacity: int, waiter: Waiter, lease: Lease) -> Admission:
    """Grant ``lease`` (for ``waiter``'s request) if the rule allows, else keep it waiting.

    Mutates ``pool``: the lease is added, or the waiter registered (once).
    """
    existing = pool.lease_for(waiter.request_id)
    if existing is not None:
        return Granted(existing, new=False)
    ended = pool.ended_for(request_id=waiter.request_id)
    if ended is not None:
        return AlreadyEnded(ended)
    # (Free capacity alone too small: no need to add up what outranking waiters reserve.)
    free = capacity - pool.allocated
    if free >= waiter.amount and headroom(pool, capacity, waiter) >= waiter.amount:
        pool.leases = [*pool.leases, lease]
        pool.waiters = [w for w in pool.waiters if w.request_id != waiter.request_id]
        return Granted(lease, new=True)
    if not any(w.request_id == waiter.request_id for w in pool.waiters):
        pool.waiters = [*pool.waiters, waiter]
    return Waiting()


def release(pool: Pool, grant_id: str) -> Lease | None:
    """Remove the lease ``grant_id``; the lease, or ``None`` when it is not active."""
    lease = pool.lease_named(grant_id)
    if lease is not None:
        pool.leases = [x for x in pool.leases if x.grant_id != grant_id]
        _remember(pool, [Ended(lease.request_id, lease.grant_id, "released")])
    return lease
