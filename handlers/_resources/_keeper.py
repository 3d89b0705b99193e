"""One pool in one process: its last known value, kept fresh by a KV watch, and its writer.

**Group commit.** Every change a process makes to a pool goes through one writer task. The
changes that arrive while a write is in flight wait, and the next write applies all of them,
in order, to one draft of the pool and writes it with one compare-and-set
(``kv.update(key, value, last=revision)``). Each change learns its own result, and only once
the write is stored. So a process does one KV round trip per batch instead of one (or two,
with the read) per request, and the compare-and-set still decides every grant: after a lost
race the whole batch is applied again to the newer value, and nothing is answered from a
write the server refused.

**No read before a write.** The keeper remembers the value and revision it last wrote or
saw, and writes against that. A KV watch (an ordered consumer on the pool's key) delivers
other copies' writes, so the remembered value is seldom stale; when it is, the
compare-and-set fails and the writer waits (up to :data:`CATCH_UP`) for the winner's value on
the watch, reading the key only if it does not come. A write's own echo on the watch is
recognised by its revision and not decoded.

**Answers a stale value could get wrong are confirmed.** A change may ask for a ``fresh``
value (read from KV in the same commit): the coordinator does so before answering a release
of a lease it does not know, or a retry with the grant it remembers. A request the
remembered value tells to wait is woken as soon as a newer value gives it room (:mod:`._wake`),
and a grant is only ever made by a write, which the compare-and-set checks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from nats.js import api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from handlers._resources._pool import Lease, Pool, decode, encode, prune, scratch
from handlers._resources._wake import Wakeups

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

log = logging.getLogger("jimbot.resources")
T = TypeVar("T")

CATCH_UP = 0.05
"""Longest wait, after a lost race, for the watch to bring the winner's value before the
writer reads the key instead (the watch usually brings it within a round trip)."""
WATCH_RETRY = 5.0
"""Seconds between attempts to start a pool's watch after one failed."""
WATCH_INACTIVE = 30.0
"""Seconds the server keeps a watch's consumer after its subscriber went away."""
_DELETED = ("DEL", "PURGE")


@dataclass(frozen=True, slots=True)
class Applied(Generic[T]):
    """What one change returned and the pool as written (or as seen, when nothing changed).

    ``fresh``: the pool was read from KV after the change was submitted, or written (a
    write is accepted only against the latest revision), so an answer that depends on
    something being absent from it is not a stale one.
    """

    result: T
    pool: Pool
    written: bool
    fresh: bool


@dataclass(frozen=True, slots=True)
class KeeperStatistics:
    """What one pool's keeper did so far."""

    changes: int
    """Changes stored (requests, releases, looks that wrote)."""
    writes: int
    """Writes stored; ``changes / writes`` is the mean batch size."""
    conflicts: int
    """Writes refused because another copy had written first."""
    reads: int
    """Reads of the key (the watch and this process's own writes spare the rest)."""


@dataclass(slots=True)
class _Change:
    apply: Callable[[Pool, float], Any]
    future: asyncio.Future[Applied[Any]]
    fresh: bool


class PoolKeeper:
    """One pool's remembered value, its watch, its group-commit writer and its waiters."""

    def __init__(
        self,
        *,
        kv: KeyValue,
        js: JetStreamContext,
        stream: str,
        key: str,
        subject: str,
        on_expired: Callable[[list[Lease]], None],
        watch: bool = True,
    ) -> None:
        self._kv, self._js, self._stream = kv, js, stream
        self._watched = watch
        self._key, self._subject = key, subject
        self._on_expired = on_expired
        self.pool: Pool | None = None
        """The last value written or seen (``None``: unknown, read before the next write)."""
        self._raw = b""
        self.revision = 0
        self._heard_at = -math.inf
        """Loop time the remembered value was last adopted or confirmed."""
        self._pending: list[_Change] = []
        self._writer: asyncio.Task[None] | None = None
        self._watch: Subscription | None = None
        self._watch_tried_at = -math.inf
        self._refreshing: asyncio.Task[None] | None = None
        self._newer: asyncio.Future[None] | None = None
        """Resolved when a newer value is adopted (a writer that lost a race waits on it)."""
        self.wakeups = Wakeups(self)
        self._changes = self._writes = self._conflicts = self._reads = 0

    def statistics(self) -> KeeperStatistics:
        return KeeperStatistics(
            changes=self._changes, writes=self._writes, conflicts=self._conflicts, reads=self._reads
        )

    # -- changes ---------------------------------------------------------------------------

    async def apply(self, change: Callable[[Pool, float], T], *, fresh: bool = False) -> Applied[T]:
        """Apply ``change(pool, now)`` in the next write of this pool; its result once stored.

        ``change`` prunes nothing itself (expired leases are pruned before it), may run
        several times (once per lost race, each time on a new draft) and must not raise.
        If the caller is cancelled before the change was taken into a write, it is dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Applied[T]] = loop.create_future()
        self._pending.append(_Change(change, future, fresh))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_batches(), name=f"pool {self._key}")
        return await future

    async def _write_batches(self) -> None:
        while self._pending:
            batch = [c for c in self._pending if not c.future.done()]
            self._pending = []
            if not batch:
                continue
            try:
                await self._ensure_watch()
                await self._commit(batch)
            except BaseException as exc:
                self.pool = None  # the write's outcome is unknown: read before the next one
                for change in batch:
                    if not change.future.done():
                        if isinstance(exc, Exception):
                            change.future.set_exception(exc)
                        else:
                            change.future.cancel()
                if not isinstance(exc, Exception):
                    raise

    async def _commit(self, batch: list[_Change]) -> None:
        must_read = self.pool is None or any(c.fresh for c in batch)
        was_read = False
        conflicts = 0
        while True:
            if must_read or self.pool is None:
                await self._read(adopt_older=conflicts > 0)
                was_read = True
            base, raw, revision = self.pool or Pool(), self._raw, self.revision
            draft = scratch(base)
            now = time.time()
            expired = prune(draft, now)
            results = [c.apply(draft, now) for c in batch]
            if encode(draft) == raw or (not raw and draft == Pool()):
                self._settle(batch, results, base, written=False, fresh=was_read)
                return
            draft.updated_at = now
            data = encode(draft)
            try:
                stored = await self._kv.update(self._key, data, last=revision)
            except KeyWrongLastSequenceError:
                conflicts += 1
                self._conflicts += 1
                if conflicts > 2:
                    # Many copies on one key: spread the retries out a little.
                    await asyncio.sleep(random.uniform(0, 0.001 * min(conflicts, 20)))
                # Another copy wrote: its value is on its way on the watch; read only if not.
                must_read = not await self._caught_up(revision)
                # Changes that arrived meanwhile ride along on the retry.
                batch += [c for c in self._pending if not c.future.done()]
                self._pending = []
                continue
            self._writes += 1
            self._changes += len(batch)
            self._adopt(draft, data, stored)
            if expired:
                self._on_expired(expired)
            # The write was accepted against `revision`, so that was the latest value.
            self._settle(batch, results, draft, written=True, fresh=True)
            return

    @staticmethod
    def _settle(
        batch: list[_Change], results: list[Any], pool: Pool, *, written: bool, fresh: bool
    ) -> None:
        for change, result in zip(batch, results, strict=True):
            if not change.future.done():
                change.future.set_result(Applied(result, pool, written=written, fresh=fresh))

    # -- the remembered value ----------------------------------------------------------------

    def _adopt(self, pool: Pool, raw: bytes, revision: int, *, older: bool = False) -> None:
        self._heard_at = asyncio.get_running_loop().time()
        if self.pool is not None and revision <= self.revision and not older:
            return
        self.pool, self._raw, self.revision = pool, raw, revision
        if self._newer is not None:
            if not self._newer.done():
                self._newer.set_result(None)
            self._newer = None
        self.wakeups.check()

    async def _caught_up(self, revision: int) -> bool:
        """Whether a value newer than ``revision`` arrives (on the watch) within CATCH_UP."""
        if self.pool is not None and self.revision > revision:
            return True
        if self._watch is None:
            return False
        if self._newer is None:
            self._newer = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(CATCH_UP):
                await asyncio.shield(self._newer)
        except TimeoutError:
            return False
        return self.pool is not None and self.revision > revision

    async def _read(self, *, adopt_older: bool = False) -> None:
        """Read the key; ``adopt_older`` after a lost race (the bucket may be a new one)."""
        self._reads += 1
        try:
            entry = await self._kv.get(self._key)
        except KeyNotFoundError as exc:
            # Never written (revision 0), or deleted: writes go after the delete marker.
            revision = exc.entry.revision if exc.entry is not None else 0
            self._adopt(Pool(), b"", revision or 0, older=True)
            return
        raw = entry.value or b""
        self._adopt(decode(raw), raw, entry.revision or 0, older=adopt_older)

    async def refresh(self, *, max_age: float = 0.0) -> None:
        """Read the key unless the value was adopted or confirmed within ``max_age`` seconds.

        Concurrent callers share one read. Never raises: a failed read is logged, and the
        watch or the next write catch up.
        """
        if asyncio.get_running_loop().time() - self._heard_at < max_age:
            return
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        try:
            await self._ensure_watch()
            await self._read()
        except Exception as exc:
            log.warning("could not read %s: %s", self._key, exc)

    # -- the watch ---------------------------------------------------------------------------

    async def _ensure_watch(self) -> None:
        """Start the watch once (again after :data:`WATCH_RETRY` if starting it failed)."""
        loop_time = asyncio.get_running_loop().time()
        if not self._watched or self._watch is not None:
            return
        if loop_time - self._watch_tried_at < WATCH_RETRY:
            return
        self._watch_tried_at = loop_time
        try:
            self._watch = await self._js.subscribe(
                self._subject,
                stream=self._stream,
                cb=self._on_watch,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
                inactive_threshold=WATCH_INACTIVE,
            )
        except Exception as exc:
            log.warning("cannot watch %s (waiters fall back to polling): %s", self._key, exc)

    async def _on_watch(self, msg: Msg) -> None:
        revision = msg.metadata.sequence.stream
        if self.pool is not None and revision <= self.revision:
            self._heard_at = asyncio.get_running_loop().time()
            return  # our own write's echo, or older than what we know
        headers = msg.headers or {}
        if headers.get("KV-Operation") in _DELETED or "Nats-Marker-Reason" in headers:
            self._adopt(Pool(), b"", revision)
            return
        try:
            pool = decode(msg.data)
        except msgspec.DecodeError as exc:
            log.error("revision %d of %s is not a pool: %s", revision, self._key, exc)
            self.pool = None  # read (and fail loudly) before the next write
            return
        self._adopt(pool, msg.data, revision)
