"""The pools in the ``LEASES`` KV bucket, changed only by compare-and-set.

One key per resource type (``pool.MEMORY_MB``) holds all its leases and waiters. A change is
a pure rule from :mod:`._pool` applied to the pool's value, written back with
``kv.update(key, value, last=revision)``; when another copy wrote in between, the server
refuses the write and the change is applied again to the new value. So two copies can never
both grant the last unit, and no copy's memory is the truth about a pool: what a copy
remembers (:mod:`._keeper`) only saves it reads, and the compare-and-set checks it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from handlers._resources._config import type_name
from handlers._resources._keeper import Applied, PoolKeeper
from handlers._resources._wake import Turn

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from handlers._resources._pool import Lease, Pool, Waiter

T = TypeVar("T")
BUCKET = "LEASES"
"""Bucket suffix (``<PREFIX>_LEASES``)."""

__all__ = ["BUCKET", "Applied", "PoolStore", "pool_key"]


def pool_key(resource_type: int) -> str:
    return f"pool.{type_name(resource_type)}"


class PoolStore:
    """Compare-and-set access to the pools of one prefix, one keeper per pool.

    Args:
        kv: the prefix's ``LEASES`` bucket.
        bucket: its name (``JIMBOT_LEASES``).
        js: for the watches of the pools.
        on_expired: told ``(resource_type, leases)`` after a write of this process removed
            expired leases (the owner publishes their EXPIRED events).
        watch: ``False``: no watch consumers; other copies' writes are then learnt from
            lost races and from waiters' polls only (slower, as correct).
    """

    def __init__(
        self,
        kv: KeyValue,
        bucket: str,
        *,
        js: JetStreamContext,
        on_expired: Callable[[int, list[Lease]], None],
        watch: bool = True,
    ) -> None:
        self.kv = kv
        self._watch = watch
        self.bucket = bucket
        self._js = js
        self._on_expired = on_expired
        self._keepers: dict[int, PoolKeeper] = {}

    def keeper(self, resource_type: int) -> PoolKeeper:
        keeper = self._keepers.get(resource_type)
        if keeper is None:
            key = pool_key(resource_type)

            def expired(leases: list[Lease]) -> None:
                self._on_expired(resource_type, leases)

            keeper = PoolKeeper(
                kv=self.kv,
                js=self._js,
                stream=f"KV_{self.bucket}",
                key=key,
                subject=f"$KV.{self.bucket}.{key}",
                on_expired=expired,
                watch=self._watch,
            )
            self._keepers[resource_type] = keeper
        return keeper

    async def apply(
        self, resource_type: int, change: Callable[[Pool, float], T], *, fresh: bool = False
    ) -> Applied[T]:
        """Prune expired leases, apply ``change(pool, now)``, write if anything changed.

        ``change`` may run several times (once per lost race) and must be pure apart from
        changing the pool it is given (by binding new lists, see :mod:`._pool`).

        Args:
            fresh: read the pool from KV first (when the answer must not come from a value
                remembered from before this call).
        """
        return await self.keeper(resource_type).apply(change, fresh=fresh)

    @contextmanager
    def waiting(self, resource_type: int, waiter: Waiter, capacity: int) -> Iterator[Turn]:
        """A :class:`Turn` that is woken when ``waiter`` may fit, for the ``with`` block.

        Entering checks the pool as remembered now, so a change adopted before the turn
        existed is not missed: the turn starts woken if there is room already.
        """
        keeper = self.keeper(resource_type)
        turn = Turn(keeper, waiter, capacity)
        keeper.wakeups.add(turn)
        try:
            yield turn
        finally:
            keeper.wakeups.remove(turn)
