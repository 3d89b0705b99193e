"""The game's clock: ``love.timer.getTime()`` (seconds since the process started) and frames.

Per-event timestamps are this clock in milliseconds, a float such as ``45231.7734``; epoch
values (``os.time()``) stay on the wall clock. In fast mode the clock is simulated and jumps
frame by frame to the next thing due; in real time it follows the wall at 60 fps.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from random import Random

__all__ = ["FRAME", "GameClock"]

FRAME = 1 / 60
"""One frame at 60 fps."""


class GameClock:
    """Simulated or wall-clock game time, with Balatro's frame counter."""

    def __init__(self, rng: Random, *, realtime: bool) -> None:
        self._rng = rng
        self.realtime = realtime
        self.start = rng.uniform(2.0, 6.0)
        """The mod starts a few seconds after the game process."""
        self.now = self.start
        """Game seconds at the current frame (``love.timer.getTime()`` read once per update)."""
        self.frame = 0
        self._within = 0.0
        self._wall0 = time.monotonic()

    def ms(self) -> float:
        """A fresh ``getTime() * 1000``: it moves on a little between calls in one frame."""
        self._within += self._rng.uniform(0.001, 0.05)
        return self.now * 1000 + self._within

    @staticmethod
    def epoch() -> int:
        """``os.time()``: whole wall-clock seconds."""
        return int(time.time())

    async def advance(self, due: float) -> None:
        """Move to the next frame, or in fast mode to the first frame at or after ``due``."""
        self._within = 0.0
        if self.realtime:
            target = self._wall0 + (self.frame + 1) * FRAME
            await anyio.sleep(max(0.0, target - time.monotonic()))
            self.now = self.start + (time.monotonic() - self._wall0)
            self.frame = max(self.frame + 1, int((self.now - self.start) / FRAME))
            return
        self.frame = max(self.frame + 1, math.ceil((due - self.start) / FRAME))
        self.now = self.start + self.frame * FRAME + self._rng.uniform(0.0, 0.0004)
