"""Per-agent token buckets for ``PushPercept``: one flooding agent never slows the others.

Each agent has its own bucket of ``burst`` tokens refilled at ``rate`` per second. Memory is
bounded: once more than ``max_agents`` buckets exist, the ones that have refilled completely
(idle agents) are forgotten, which is exact because a full bucket carries no state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class RateLimiter:
    """Token buckets keyed by agent name; ``rate == 0`` admits everything."""

    rate: float
    burst: int
    max_agents: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def admit(self, agent: str) -> bool:
        """Take a token for ``agent``; ``False`` means over its rate."""
        if self.rate <= 0:
            return True
        now = self.clock()
        tokens, last = self._buckets.get(agent, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[agent] = (tokens, now)
            return False
        self._buckets[agent] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_agents:
            self._forget_idle(now)
        return True

    def retry_after(self, agent: str) -> float:
        """Seconds until ``agent`` has a token again."""
        tokens, last = self._buckets.get(agent, (float(self.burst), self.clock()))
        missing = 1.0 - min(float(self.burst), tokens + (self.clock() - last) * self.rate)
        return max(missing / self.rate, 0.0) if self.rate > 0 else 0.0

    def _forget_idle(self, now: float) -> None:
        full = [
            agent
            for agent, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for agent in full:
            del self._buckets[agent]
