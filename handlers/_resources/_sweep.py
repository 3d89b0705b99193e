"""The expiry sweep: EXPIRED events when leases run out, even when nobody calls.

Every write to a pool drops its expired leases anyway (so capacity is right without a sweep);
the sweep makes the EXPIRED event and the gauge timely. Each coordinator process runs at most
one sweep per connection and prefix. It starts when the process sees an active lease, looks
at a pool just after its next lease runs out, and ends when no pool of the prefix holds a
lease, or when the connection closes or drains (the worker stopping). Every copy may sweep
at once: the compare-and-set lets exactly one of them remove a lease and publish its event.

Why a task of its own: the runtime's declarations are a JetStream consumer and a
request-reply endpoint, and neither gives a handler a timer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import weakref
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers._resources._service import Coordinator

log = logging.getLogger("jimbot.resources")

SWEEP_INTERVAL = 1.0
"""Longest sleep of the sweep (it looks at a pool only when a lease in it is due)."""
JITTER = 0.05
"""Up to this many seconds after an expiry a copy looks, so copies seldom race for it."""


class _Sweep:
    """One running sweep; ``poked`` says a lease appeared since its last look."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.poked = False
        self.task = asyncio.get_running_loop().create_task(
            _sweep(self), name=f"resource sweep {coordinator.names.prefix}"
        )


_sweeps: weakref.WeakKeyDictionary[Client, dict[str, _Sweep]] = weakref.WeakKeyDictionary()


def ensure_sweeping(coordinator: Coordinator) -> None:
    """Start the sweep of ``coordinator``'s connection and prefix unless it runs already."""
    nc, prefix = coordinator.nc, coordinator.names.prefix
    if nc.is_closed or nc.is_draining:
        return
    running = _sweeps.setdefault(nc, {})
    sweep = running.get(prefix)
    if sweep is not None and not sweep.task.done():
        sweep.poked = True  # it must not end on an empty look it took before this lease
        return
    running[prefix] = _Sweep(coordinator)


def _stopped(coordinator: Coordinator) -> bool:
    nc = coordinator.nc
    return nc.is_closed or nc.is_draining


async def _sweep(sweep: _Sweep) -> None:
    coordinator = sweep.coordinator
    kinds = list(coordinator.config.capacity)
    due = dict.fromkeys(kinds, 0.0)
    """Epoch seconds when each pool is next worth a look (``inf``: it held no lease)."""
    failures = 0
    while not _stopped(coordinator):
        if sweep.poked:
            sweep.poked = False
            due = dict.fromkeys(kinds, 0.0)  # a new lease somewhere: look at every pool
        try:
            for kind in kinds:
                if due[kind] <= time.time():
                    expiry = (await coordinator.look(kind)).next_lease_expiry()
                    # Copies race for the same expiry; a little jitter lets one win it.
                    jitter = random.uniform(0.002, JITTER)
                    due[kind] = math.inf if expiry is None else expiry + jitter
            failures = 0
        except Exception as exc:
            if _stopped(coordinator):
                return
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("resource sweep failed (%d in a row): %s", failures, exc)
            await anyio.sleep(min(0.1 * 2**failures, SWEEP_INTERVAL * 5))
            continue
        soonest = min(due.values())
        if math.isinf(soonest) and not sweep.poked:
            return  # no lease left: the next grant starts a new sweep
        await anyio.sleep(min(max(soonest - time.time(), 0.0), SWEEP_INTERVAL))
