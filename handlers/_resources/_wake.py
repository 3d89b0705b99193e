"""Waking the requests a process has waiting for a pool, only when they may be granted.

A waiting request registers a :class:`Turn` with its pool's keeper. Whenever the keeper
adopts a new value of the pool (its own write, another copy's write seen on the watch, or a
read), and when the next lease in it runs out or the next waiter's reservation lapses, the
turns that the admission rule would now grant are woken (:func:`._pool.takers`: one sort of
the waiters for all of them). A woken request tries again through the writer, which applies
the rule to the pool as stored; the wake-up is only a hint. A turn nobody woke for
:data:`POLL` seconds has the keeper read the key (one read shared by all its waiters), in
case the watch missed something.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from handlers._resources._pool import Ranking

if TYPE_CHECKING:
    from handlers._resources._keeper import PoolKeeper
    from handlers._resources._pool import Pool, Waiter

POLL = 0.5
"""Longest a waiting request goes without its pool being looked at."""
LATE = 0.001
"""Seconds after a lease's expiry (or a waiter's deadline) before looking: past it, surely."""


class Turn:
    """One waiting request of this process; :meth:`wait` returns when it is worth a try."""

    def __init__(self, keeper: PoolKeeper, waiter: Waiter, capacity: int) -> None:
        self.keeper = keeper
        self.waiter = waiter
        self.capacity = capacity
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    def rearm(self) -> None:
        """Forget past wake-ups: call before each try, so one during the try is not lost."""
        self._woken.clear()

    async def wait(self, give_up: float) -> bool:
        """``True`` once woken, ``False`` at ``give_up`` (loop time) if never."""
        loop = asyncio.get_running_loop()
        while not self._woken.is_set():
            now = loop.time()
            if now >= give_up:
                return False
            try:
                async with asyncio.timeout(min(give_up - now, POLL)):
                    await self._woken.wait()
            except TimeoutError:
                if loop.time() < give_up:
                    await self.keeper.refresh(max_age=POLL)
        return True


class Wakeups:
    """The turns of one pool, and the timer for its next lease expiry or lapsed waiter."""

    def __init__(self, keeper: PoolKeeper) -> None:
        self._keeper = keeper
        self._turns: dict[int, Turn] = {}
        self._ranked: tuple[Pool, Ranking] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, turn: Turn) -> None:
        """Take ``turn`` in, woken at once if the pool as remembered has room for it."""
        self._turns[id(turn)] = turn
        ranking = self._ranking()
        if ranking is not None and ranking.takes(turn.waiter, turn.capacity):
            turn.wake()

    def remove(self, turn: Turn) -> None:
        self._turns.pop(id(turn), None)
        if not self._turns:
            self._ranked = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def __len__(self) -> int:
        return len(self._turns)

    def check(self) -> None:
        """Wake the turns the pool has room for now (after it changed, or time passed)."""
        ranking = self._ranking()
        if ranking is None:
            return
        for turn in list(self._turns.values()):
            if ranking.takes(turn.waiter, turn.capacity):
                turn.wake()

    def _ranking(self) -> Ranking | None:
        """The remembered pool ranked as of now (kept until it changes or expires)."""
        pool = self._keeper.pool
        if not self._turns or pool is None:
            return None
        now = time.time()
        if self._ranked is not None:
            ranked_pool, ranking = self._ranked
            if ranked_pool is pool and now < ranking.valid_until:
                return ranking
        ranking = Ranking.of(pool, now)
        self._ranked = (pool, ranking)
        if ranking.valid_until != math.inf:
            self._arm(ranking.valid_until - now)
        return ranking

    def _arm(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + delay + LATE
        if self._timer is not None:
            if abs(self._timer_at - at) < LATE:
                return
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_at(at, self._on_timer), at

    def _on_timer(self) -> None:
        self._timer = None
        self.check()
