"""The resource coordinator: leases of GPU compute, memory (MB) and Claude API tokens.

Answers ``rpc.resource.request`` (``ResourceRequest`` → ``ResourceGrant``),
``rpc.resource.release`` (``ResourceRelease`` → ``ReleaseResponse``) and
``rpc.resource.status`` (``Empty`` → ``ResourceStatus``); publishes a ``ResourceEvent`` on
``events.resource.{granted,released,expired,denied}``; sets the
``jimbot_resource_usage_ratio{resource_type,component}`` gauge. ``bridge.resources`` serves
the same as the spec's ``ResourceCoordinator`` gRPC service.

Rules:

- A lease is granted only by a compare-and-set write of its type's pool in the ``LEASES``
  KV bucket, which holds every active lease: however many copies run, the leases of a type
  never add up to more than its capacity (``JIMBOT_RESOURCE_CAPACITY``, defaults in
  :mod:`handlers._resources._config`).
- A lease ends at ``expires_at`` (granted time + ``duration_ms``) unless released before.
- A request that does not fit waits, up to ``RESOURCE_REQUEST_TIMEOUT`` (5 s) or the caller's
  deadline if sooner, and is then answered ``granted=false`` with the reason. While it waits
  it reserves its amount against requests it outranks: higher priority first, then first
  come (the exact rule: :mod:`handlers._resources._pool`).
- A request that asks for more than the capacity is denied at once.
- ``request_id`` makes a request idempotent: a retry gets the same grant (or, once that
  lease has ended, ``granted=false`` saying so). A request without one gets a fresh id.
- Releasing needs the ``grant_id``; with a ``component`` it must be the lease's holder
  (else ``403``). Releasing a lease that already ended answers ``released=false``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import subjects
from handlers import Context, Endpoint, run
from handlers._resources import (
    BUCKET,
    Coordinator,
    Lease,
    PoolStore,
    ResourceConfig,
    announce_expired,
)
from schemas import events_pb2

if TYPE_CHECKING:
    from nats.aio.client import Client

_stores: weakref.WeakKeyDictionary[Client, dict[str, PoolStore]] = weakref.WeakKeyDictionary()


def coordinator_stores(nc: Client) -> dict[str, PoolStore]:
    """The pool stores (by prefix) of the coordinator serving on ``nc`` (tests, the bench)."""
    return _stores.get(nc, {})


async def _coordinator(ctx: Context, config: ResourceConfig) -> Coordinator:
    """A coordinator on the context's connection; the KV handle is bound once per prefix."""
    stores = _stores.setdefault(ctx.nc, {})
    store = stores.get(ctx.names.prefix)
    if store is None:
        js, names, source = ctx.js, ctx.names, ctx.source

        def expired(resource_type: int, leases: list[Lease]) -> None:
            announce_expired(js, names, resource_type, leases, source=source)

        kv = await ctx.kv(BUCKET)
        # Another request may have made it while this one awaited the bucket.
        store = stores.setdefault(
            ctx.names.prefix, PoolStore(kv, names.bucket(BUCKET), js=js, on_expired=expired)
        )
    return Coordinator(
        nc=ctx.nc, js=ctx.js, names=ctx.names, store=store, config=config, source=ctx.source
    )


def create_endpoints(config: ResourceConfig, *, concurrency: int = 256) -> list[Endpoint]:
    """The three endpoints for ``config`` (tests, or a process choosing its own capacities)."""

    async def request_resource(
        req: events_pb2.ResourceRequest, ctx: Context
    ) -> events_pb2.ResourceGrant:
        coordinator = await _coordinator(ctx, config)
        return await coordinator.request(req, deadline=ctx.deadline)

    async def release_resource(
        rel: events_pb2.ResourceRelease, ctx: Context
    ) -> events_pb2.ReleaseResponse:
        return await (await _coordinator(ctx, config)).release(rel)

    async def resource_status(_: events_pb2.Empty, ctx: Context) -> events_pb2.ResourceStatus:
        return await (await _coordinator(ctx, config)).status()

    return [
        Endpoint(
            name="resource_request",
            subject=subjects.RPC_RESOURCE_REQUEST,
            handle=request_resource,
            # Waiting requests hold a slot each; they are cheap (a sleeping task).
            concurrency=concurrency,
            # Without a caller's deadline: the wait, then time to answer.
            timeout=config.request_timeout + 1.0,
            description="jimbot resource coordinator: ResourceRequest -> ResourceGrant",
        ),
        Endpoint(
            name="resource_release",
            subject=subjects.RPC_RESOURCE_RELEASE,
            handle=release_resource,
            concurrency=64,
            description="jimbot resource coordinator: ResourceRelease -> ReleaseResponse",
        ),
        Endpoint(
            name="resource_status",
            subject=subjects.RPC_RESOURCE_STATUS,
            handle=resource_status,
            concurrency=16,
            description="jimbot resource coordinator: Empty -> ResourceStatus",
        ),
    ]


# Read at import, so a bad JIMBOT_RESOURCE_CAPACITY stops the worker at start, not later.
request_endpoint, release_endpoint, status_endpoint = create_endpoints(ResourceConfig.from_env())

if __name__ == "__main__":
    raise SystemExit(run([request_endpoint, release_endpoint, status_endpoint]))
