"""The resource coordinator's private parts: pools in KV, their rules, events and the sweep.

``handlers/resource_coordinator.py`` declares the endpoints; everything they do lives here.
"""

from __future__ import annotations

from handlers._resources._checks import new_grant_id, type_of_grant
from handlers._resources._config import (
    CAPACITY_ENV,
    DEFAULT_CAPACITY,
    DEFAULT_TIMEOUT,
    MAX_LEASE_MS,
    TIMEOUT_ENV,
    ResourceConfig,
    parse_capacity,
    parse_timeout,
    type_name,
)
from handlers._resources._events import USAGE, announce_expired
from handlers._resources._keeper import KeeperStatistics, PoolKeeper
from handlers._resources._pool import (
    Lease,
    Pool,
    Ranking,
    Waiter,
    admit,
    decode,
    headroom,
    prune,
    rank,
    takers,
)
from handlers._resources._service import Coordinator
from handlers._resources._store import BUCKET, PoolStore, pool_key

__all__ = [
    "BUCKET",
    "CAPACITY_ENV",
    "DEFAULT_CAPACITY",
    "DEFAULT_TIMEOUT",
    "MAX_LEASE_MS",
    "TIMEOUT_ENV",
    "USAGE",
    "Coordinator",
    "KeeperStatistics",
    "Lease",
    "Pool",
    "PoolKeeper",
    "PoolStore",
    "Ranking",
    "ResourceConfig",
    "Waiter",
    "admit",
    "announce_expired",
    "decode",
    "headroom",
    "new_grant_id",
    "parse_capacity",
    "parse_timeout",
    "pool_key",
    "prune",
    "rank",
    "takers",
    "type_name",
    "type_of_grant",
]
