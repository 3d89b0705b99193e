"""Resource events (``events.resource.<kind>``) and the ``jimbot_resource_usage_ratio`` gauge.

Each event is an ``Event`` envelope of type ``RESOURCE`` whose payload is a ``ResourceEvent``.
Only the copy whose compare-and-set made a change publishes its event, and the
``Nats-Msg-Id`` is derived from the grant (``resource:<grant_id>:<kind>``), so an event is
stored once even when its publish is retried.

Events follow the KV write that made them true: the coordinator answers once the write is
stored and :func:`announce` publishes the event without the answer waiting for JetStream's
ack (the pool in KV is the truth; a failed publish is logged). Announced events reach the
connection in the order they were announced, so a lease's GRANTED precedes its RELEASED.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Gauge

from handlers import publish
from handlers._resources._config import type_name
from schemas import create_event, events_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable

    from nats.js.client import JetStreamContext

    from handlers._resources._pool import Lease, Pool
    from subjects import Names

log = logging.getLogger("jimbot.resources")
Kind = events_pb2.ResourceEvent.Kind
TOTAL = "all"
"""The ``component`` label of a type's total use."""

USAGE = Gauge(
    "jimbot_resource_usage_ratio",
    "Share of a resource type's capacity leased, per component (component=all: in total)",
    ["resource_type", "component"],
)


def timestamp(epoch: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(epoch * 1e9))
    return stamp


def grant_of(
    lease: Lease, resource_type: int, *, granted: bool = True, reason: str = ""
) -> events_pb2.ResourceGrant:
    """The wire form of a lease."""
    return events_pb2.ResourceGrant(
        grant_id=lease.grant_id,
        granted=granted,
        component=lease.component,
        type=resource_type,  # type: ignore[arg-type]
        amount=lease.amount,
        expires_at=timestamp(lease.expires_at),
        reason=reason,
        request_id=lease.request_id,
    )


async def publish_event(
    js: JetStreamContext,
    names: Names,
    kind: int,
    grant: events_pb2.ResourceGrant,
    *,
    source: str,
) -> None:
    """Publish one resource event; a failure is logged, never raised (the KV holds the truth)."""
    name = Kind.Name(kind).lower()  # type: ignore[arg-type]
    payload = events_pb2.ResourceEvent(kind=kind, grant=grant, at=timestamp(time.time()))  # type: ignore[arg-type]
    event = create_event(payload, source=source, correlation_id=grant.request_id)
    key = grant.grant_id or f"{grant.request_id}:{uuid.uuid4().hex}"
    try:
        await publish(
            js,
            names.subject(f"events.resource.{name}"),
            event,
            msg_id=f"resource:{key}:{name}",
            event_type="RESOURCE",
            source=source,
        )
    except Exception as exc:
        log.error("could not publish the %s event of %s: %s", name, key, exc)


_announcing: set[asyncio.Task[None]] = set()
"""Events being published (a task must be referenced until it ends)."""


def announce(
    js: JetStreamContext,
    names: Names,
    kind: int,
    grant: events_pb2.ResourceGrant,
    *,
    source: str,
) -> None:
    """:func:`publish_event` in the background.

    A task's first step runs in the order the tasks were created, and it hands the message
    to the connection before its first wait (for the ack), so events go out in order.
    """
    task = asyncio.get_running_loop().create_task(
        publish_event(js, names, kind, grant, source=source)
    )
    _announcing.add(task)
    task.add_done_callback(_announcing.discard)


def announce_expired(
    js: JetStreamContext, names: Names, resource_type: int, leases: Iterable[Lease], *, source: str
) -> None:
    for lease in leases:
        announce(js, names, Kind.EXPIRED, grant_of(lease, resource_type), source=source)


_last_shown: dict[str, tuple[Pool, dict[str, float]]] = {}
"""Per type: the pool its gauge was last set from, and the series it set (component → ratio);
only :func:`show_usage` changes the gauge, so these are its values."""


def show_usage(resource_type: int, pool: Pool, capacity: int) -> None:
    """Set the gauge of one type from a pool just read or written (only what changed), and
    drop the series of components whose leases all ended."""
    label = type_name(resource_type)
    last_pool, last = _last_shown.get(label, (None, {}))
    if last_pool is pool:
        return
    amounts: dict[str, int] = {}
    for lease in pool.leases:
        amounts[lease.component] = amounts.get(lease.component, 0) + lease.amount
    ratios = {component: amount / capacity for component, amount in amounts.items()}
    _last_shown[label] = (pool, ratios)
    for component, ratio in ratios.items():
        if last.get(component) != ratio:
            USAGE.labels(label, component).set(ratio)
    USAGE.labels(label, TOTAL).set(sum(amounts.values()) / capacity)
    for gone in last.keys() - ratios.keys():
        try:
            USAGE.remove(label, gone)
        except KeyError:
            pass
