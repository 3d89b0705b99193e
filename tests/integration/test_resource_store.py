"""The pool store over a real KV bucket: group commit, compare-and-set against what a copy
remembers, the watch, fresh reads, and a failed write."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import anyio
import pytest
from nats.js.errors import NoStreamResponseError

from handlers._resources import BUCKET, Lease, Pool, PoolStore, decode, pool_key
from handlers._resources._pool import encode
from schemas import events_pb2
from subjects import provision
from tests.integration.helpers import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from subjects import Names

GPU = events_pb2.GPU_COMPUTE
KEY = pool_key(GPU)


def _lease(name: str, amount: int = 1) -> Lease:
    return Lease(f"gpu-{name}", name, "c", amount, 1, granted_at=0.0, expires_at=4e9)


def _add(name: str, amount: int = 1) -> Callable[[Pool, float], int]:
    """A change that adds a lease and returns how many leases the pool held before it."""

    def change(pool: Pool, now: float) -> int:
        before = len(pool.leases)
        pool.leases = [*pool.leases, _lease(name, amount)]
        return before

    return change


def _count(pool: Pool, now: float) -> int:
    return len(pool.leases)


async def _store(nc: Client, names: Names, *, watch: bool = True) -> tuple[PoolStore, KeyValue]:
    js = nc.jetstream()
    kv = await js.key_value(names.bucket(BUCKET))
    expired: list[Lease] = []
    store = PoolStore(
        kv, names.bucket(BUCKET), js=js, on_expired=lambda _, x: expired.extend(x), watch=watch
    )
    return store, kv


async def test_changes_that_arrive_together_share_one_write(nc: Client, names: Names) -> None:
    store, kv = await _store(nc, names)
    await store.apply(GPU, _count)  # the first use reads the key and starts the watch
    results = await asyncio.gather(*(store.apply(GPU, _add(f"r{i}")) for i in range(20)))
    # Each change saw the ones before it in the same write: every result is its own.
    assert sorted(r.result for r in results) == list(range(20))
    assert all(r.written and r.fresh for r in results)
    stats = store.keeper(GPU).statistics()
    assert stats.changes == 20 and stats.writes < 20, stats
    stored = decode((await kv.get(KEY)).value)
    assert sorted(x.request_id for x in stored.leases) == sorted(f"r{i}" for i in range(20))


async def test_a_write_behind_its_back_is_caught_by_compare_and_set(
    nc: Client, names: Names
) -> None:
    # No watch: the store cannot know about the other write except by losing the race.
    store, kv = await _store(nc, names, watch=False)
    await store.apply(GPU, _add("mine"))
    entry = await kv.get(KEY)
    other = decode(entry.value)
    other.leases = [*other.leases, _lease("theirs", 5)]
    await kv.update(KEY, encode(other), last=entry.revision)

    applied = await store.apply(GPU, _add("next"))
    assert applied.result == 2  # applied again to the value the other copy wrote
    stats = store.keeper(GPU).statistics()
    assert stats.conflicts == 1 and stats.reads == 2  # first use, then after losing the race
    stored = decode((await kv.get(KEY)).value)
    assert [x.request_id for x in stored.leases] == ["mine", "theirs", "next"]


async def test_an_answer_that_must_not_be_stale_reads_the_key(nc: Client, names: Names) -> None:
    store, kv = await _store(nc, names, watch=False)
    assert (await store.apply(GPU, _add("a"))).written
    entry = await kv.get(KEY)
    other = decode(entry.value)
    other.leases = []
    await kv.update(KEY, encode(other), last=entry.revision)

    remembered = await store.apply(GPU, _count)  # nothing to write: the remembered value
    assert remembered.result == 1 and not remembered.written and not remembered.fresh
    fresh = await store.apply(GPU, _count, fresh=True)
    assert fresh.result == 0 and fresh.fresh


async def test_the_watch_brings_other_writes_without_a_read(nc: Client, names: Names) -> None:
    store, kv = await _store(nc, names)
    await store.apply(GPU, _add("mine"))
    keeper = store.keeper(GPU)
    reads = keeper.statistics().reads
    entry = await kv.get(KEY)
    other = decode(entry.value)
    other.leases = [*other.leases, _lease("theirs")]
    await kv.update(KEY, encode(other), last=entry.revision)

    await wait_for(lambda: keeper.pool is not None and len(keeper.pool.leases) == 2)
    applied = await store.apply(GPU, _add("next"))
    assert applied.result == 2
    stats = keeper.statistics()
    assert stats.reads == reads and stats.conflicts == 0, stats


async def test_a_failed_write_fails_its_changes_and_the_next_one_reads_again(
    nc: Client, names: Names
) -> None:
    store, _ = await _store(nc, names, watch=False)
    await store.apply(GPU, _add("before"))
    js = nc.jetstream()
    await js.delete_key_value(names.bucket(BUCKET))
    with pytest.raises(NoStreamResponseError):
        await store.apply(GPU, _add("lost"))
    await provision(js, names)
    applied = await store.apply(GPU, _add("after"))
    # The bucket is new and empty: the store read it again instead of trusting its memory.
    assert applied.written and applied.result == 0
    assert [x.request_id for x in applied.pool.leases] == ["after"]


async def test_a_change_cancelled_before_its_write_is_dropped(nc: Client, names: Names) -> None:
    store, kv = await _store(nc, names)
    await store.apply(GPU, _count)
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.apply, GPU, _add("kept"))
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled before the writer takes it
            await store.apply(GPU, _add("dropped"))
    stored = decode((await kv.get(KEY)).value)
    assert [x.request_id for x in stored.leases] == ["kept"]
