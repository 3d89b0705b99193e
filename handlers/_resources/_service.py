"""Request, release and status over the pools: what each coordinator endpoint does.

A request goes into its pool's next group-committed write (:mod:`._keeper`): granted there
if the admission rule allows, else registered as a waiter (so it reserves capacity against
lower requests). A waiting request sleeps until its pool's keeper wakes it (a change or an
expiry gives it room, :mod:`._wake`) and tries again, or until its deadline: then it is
answered ``granted=false`` with the reason, and a DENIED event. Its waiter entry lapses at
that same moment (``until``), so giving up costs no write.

Every answer follows the write that makes it true; events are published after the answer
(:func:`._events.announce`).
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from handlers._resources._checks import check_request, new_grant_id, type_of_grant
from handlers._resources._config import ResourceConfig, type_name
from handlers._resources._events import Kind, announce, grant_of, show_usage, timestamp
from handlers._resources._pool import (
    AlreadyEnded,
    Granted,
    Lease,
    Pool,
    Waiter,
    admit,
    release,
)
from handlers._runtime._errors import ServiceError
from schemas import events_pb2

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from handlers._resources._keeper import Applied
    from handlers._resources._store import PoolStore
    from handlers._resources._wake import Turn
    from subjects import Names

REPLY_MARGIN = 0.25
"""Seconds kept before the caller's deadline to publish DENIED and answer, at most a quarter
of the caller's budget: the budget is counted from when the caller sent the request, and a
busy host adds its queueing on top."""


@dataclass(frozen=True, slots=True)
class _Mismatch:
    lease: Lease


@dataclass(kw_only=True)
class Coordinator:
    """The coordinator's operations for one prefix, on one connection."""

    nc: Client
    js: JetStreamContext
    names: Names
    store: PoolStore
    config: ResourceConfig
    source: str = "resource_coordinator"

    def _after(self, resource_type: int, pool: Pool) -> None:
        """Refresh the gauge from a pool just written or seen; keep the sweep going."""
        from handlers._resources._sweep import ensure_sweeping  # the sweeper uses this class

        show_usage(resource_type, pool, self.config.capacity[resource_type])
        if pool.leases:
            ensure_sweeping(self)

    async def look(self, resource_type: int, *, fresh: bool = False) -> Pool:
        """The pool with expired leases removed (written, with EXPIRED events, if any were).

        Args:
            fresh: read it from KV rather than trust the value this process remembers.
        """
        applied = await self.store.apply(resource_type, _unchanged, fresh=fresh)
        self._after(resource_type, applied.pool)
        return applied.pool

    def _deny(
        self, req: events_pb2.ResourceRequest, request_id: str, reason: str
    ) -> events_pb2.ResourceGrant:
        grant = events_pb2.ResourceGrant(
            granted=False,
            component=req.component,
            type=req.type,
            amount=req.amount,
            reason=reason,
            request_id=request_id,
        )
        announce(self.js, self.names, Kind.DENIED, grant, source=self.source)
        return grant

    async def request(
        self, req: events_pb2.ResourceRequest, *, deadline: float
    ) -> events_pb2.ResourceGrant:
        """Grant ``req`` as soon as the admission rule allows, or deny it at the deadline.

        Args:
            deadline: absolute anyio time when the caller stops waiting.
        """
        check_request(req)
        kind, label = req.type, type_name(req.type)
        capacity = self.config.capacity[kind]
        request_id = req.request_id or uuid.uuid4().hex
        if req.amount > capacity:
            return self._deny(
                req, request_id, f"{req.amount} {label} exceeds the capacity of {capacity}"
            )
        now = anyio.current_time()
        budget = min(deadline - now, self.config.request_timeout)
        waits = max(budget - min(REPLY_MARGIN, budget / 4), 0.0)
        give_up = now + waits
        waiter = Waiter(
            request_id=request_id,
            component=req.component,
            amount=req.amount,
            priority=req.priority,
            since=time.time(),
            # The waiter's reservation lapses when it gives up, so it never has to withdraw.
            until=time.time() + waits,
        )
        grant_id = new_grant_id(kind)

        def take(pool: Pool, at: float) -> Granted | AlreadyEnded | None:
            lease = Lease(
                grant_id=grant_id,
                request_id=request_id,
                component=req.component,
                amount=req.amount,
                priority=req.priority,
                granted_at=at,
                expires_at=at + req.duration_ms / 1000,
            )
            outcome = admit(pool, capacity, waiter, lease)
            return outcome if isinstance(outcome, Granted | AlreadyEnded) else None

        fresh = False
        with ExitStack() as stack:
            turn: Turn | None = None
            while True:
                if turn is not None:
                    turn.rearm()  # a wake-up during this try must not be lost
                applied = await self.store.apply(kind, take, fresh=fresh)
                self._after(kind, applied.pool)
                outcome = applied.result
                if isinstance(outcome, Granted):
                    if not outcome.new and not applied.fresh:
                        fresh = True  # a retry: is the lease remembered here still active?
                        continue
                    grant = grant_of(outcome.lease, kind)
                    if outcome.new:
                        announce(self.js, self.names, Kind.GRANTED, grant, source=self.source)
                    return grant
                if isinstance(outcome, AlreadyEnded):
                    return _ended(req, request_id, outcome)
                fresh = False
                if turn is None:  # only a request that waits takes a turn
                    turn = stack.enter_context(self.store.waiting(kind, waiter, capacity))
                if not await turn.wait(give_up):
                    break
        return self._deny(
            req,
            request_id,
            f"no {req.amount} {label} free within {waits:.3g}s "
            f"(capacity {capacity}, in use {applied.pool.allocated})",
        )

    async def release(self, rel: events_pb2.ResourceRelease) -> events_pb2.ReleaseResponse:
        """End a lease early; releasing one that already ended says so and changes nothing."""
        kind = type_of_grant(rel.grant_id)

        def end(pool: Pool, now: float) -> Lease | _Mismatch | None:
            lease = pool.lease_named(rel.grant_id)
            if lease is not None and rel.component and lease.component != rel.component:
                return _Mismatch(lease)
            return release(pool, rel.grant_id)

        applied: Applied[Lease | _Mismatch | None] = await self.store.apply(kind, end)
        if not isinstance(applied.result, Lease) and not applied.fresh:
            # Not known here, or not the caller's: maybe only as of a value remembered from
            # before another copy's write. Ask the pool as stored.
            applied = await self.store.apply(kind, end, fresh=True)
        self._after(kind, applied.pool)
        outcome = applied.result
        if isinstance(outcome, _Mismatch):
            raise ServiceError(
                "403",
                f"grant {rel.grant_id} belongs to {outcome.lease.component!r}, "
                f"not {rel.component!r}",
            )
        if outcome is None:
            ended = applied.pool.ended_for(grant_id=rel.grant_id)
            detail = (
                f"grant {rel.grant_id} has already {ended.how}"
                if ended is not None
                else f"no active grant {rel.grant_id}"
            )
            return events_pb2.ReleaseResponse(released=False, detail=detail)
        announce(self.js, self.names, Kind.RELEASED, grant_of(outcome, kind), source=self.source)
        return events_pb2.ReleaseResponse(
            released=True, detail=f"released {outcome.amount} {type_name(kind)}"
        )

    async def status(self) -> events_pb2.ResourceStatus:
        """Capacity, use and active leases of every type, read from KV, expired ones removed."""
        out = events_pb2.ResourceStatus()
        for kind, capacity in sorted(self.config.capacity.items()):
            pool = await self.look(kind, fresh=True)
            allocated = pool.allocated
            out.resources.append(
                events_pb2.ResourceUsage(
                    type=kind,  # type: ignore[arg-type]
                    capacity=capacity,
                    allocated=allocated,
                    available=max(capacity - allocated, 0),
                )
            )
            out.active_grants.extend(grant_of(lease, kind) for lease in pool.leases)
        out.as_of.CopyFrom(timestamp(time.time()))
        return out


def _ended(
    req: events_pb2.ResourceRequest, request_id: str, outcome: AlreadyEnded
) -> events_pb2.ResourceGrant:
    ended = outcome.ended
    return events_pb2.ResourceGrant(
        grant_id=ended.grant_id,
        granted=False,
        component=req.component,
        type=req.type,
        amount=req.amount,
        reason=f"request {request_id} was granted as {ended.grant_id}, which has since {ended.how}",
        request_id=request_id,
    )


def _unchanged(pool: Pool, now: float) -> None:
    """A change that changes nothing: the write (if any) only drops expired leases."""
