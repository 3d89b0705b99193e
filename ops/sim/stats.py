"""Per-game records and the summary of a run of many games.

Latencies go into a log-bucketed histogram (1% wide buckets), so a run of 100,000 games keeps
a few thousand counters instead of millions of floats and still reports p50/p95/p99 to 1%.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.sim.transport import TransportStats

__all__ = ["GameRecord", "LatencyHistogram", "Summary", "Tally"]


@dataclass
class GameRecord:
    """How one game went, seen from the mod."""

    seed: int
    game_id: str
    outcome: str
    """``won``, ``lost`` or ``stalled`` (no command for ``decision_timeout``, or too many)."""
    ante: int
    rounds: int
    money: int
    jokers: int
    commands: int
    """Command lines received from the poll (or the autopilot)."""
    invalid_commands: int
    polls: int
    poll_errors: int
    """Polls with no answer or a status other than 200."""
    decision_latencies: list[float]
    """Wall seconds from a decision's GAME_STATE being sent to its commands arriving."""
    transport: TransportStats
    undelivered: int
    """Events never acknowledged by the end of the drain."""
    game_time: float
    wall_time: float
    stalled_phase: str | None = None
    invalid: dict[str, int] = field(default_factory=dict)
    """Ignored commands by name."""


class LatencyHistogram:
    """Counts of durations in buckets 1% wide from 1 µs up."""

    _BASE = 1e-6
    _STEP = math.log(1.01)

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        i = 0 if seconds <= self._BASE else int(math.log(seconds / self._BASE) / self._STEP) + 1
        self._buckets[i] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0–1), as the upper edge of its bucket; ``None`` if empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for i in sorted(self._buckets):
            seen += self._buckets[i]
            if seen >= rank:
                return min(self.max, self._BASE * math.exp(self._STEP * i))
        return self.max


@dataclass(frozen=True)
class Summary:
    """What a run of simulated games did. Times are seconds."""

    games: int
    won: int
    lost: int
    stalled: int
    antes: dict[int, int]
    """Ante reached → number of games."""
    wall_time: float
    games_per_hour: float
    decisions: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    events_sent: int
    """Events in batches the server answered 2xx."""
    batches: int
    requests: int
    retries: int
    http_errors: int
    """POSTs answered other than 2xx or not at all, plus failed polls."""
    statuses: dict[int, int]
    """POST status → count; 0 means no answer."""
    events_dropped: int
    undelivered: int
    invalid_commands: int
    stalled_phases: dict[str, int]
    """Phase a stalled game was waiting in → count: which decisions went unanswered."""
    records: tuple[GameRecord, ...] = ()


class Tally:
    """Folds game records into a :class:`Summary` as they finish."""

    def __init__(self, *, keep_records: bool = False) -> None:
        self._keep = keep_records
        self._records: list[GameRecord] = []
        self._outcomes: Counter[str] = Counter()
        self._antes: Counter[int] = Counter()
        self._stalled: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._sums: Counter[str] = Counter()
        self.latency = LatencyHistogram()

    def add(self, record: GameRecord) -> None:
        self._outcomes[record.outcome] += 1
        self._antes[record.ante] += 1
        if record.stalled_phase is not None:
            self._stalled[record.stalled_phase] += 1
        t = record.transport
        self._statuses.update(t.statuses)
        self._sums.update(
            events_sent=t.events_sent,
            batches=t.batches,
            requests=t.requests,
            retries=t.retries,
            events_dropped=t.events_dropped,
            undelivered=record.undelivered,
            invalid=record.invalid_commands,
            poll_errors=record.poll_errors,
        )
        for seconds in record.decision_latencies:
            self.latency.add(seconds)
        if self._keep:
            self._records.append(record)

    def summary(self, wall_time: float) -> Summary:
        games = sum(self._outcomes.values())
        failed = sum(n for status, n in self._statuses.items() if not 200 <= status < 300)
        s = self._sums
        return Summary(
            games=games,
            won=self._outcomes["won"],
            lost=self._outcomes["lost"],
            stalled=self._outcomes["stalled"],
            antes=dict(sorted(self._antes.items())),
            wall_time=wall_time,
            games_per_hour=games / wall_time * 3600 if wall_time > 0 else 0.0,
            decisions=self.latency.count,
            latency_p50=self.latency.quantile(0.50),
            latency_p95=self.latency.quantile(0.95),
            latency_p99=self.latency.quantile(0.99),
            events_sent=s["events_sent"],
            batches=s["batches"],
            requests=s["requests"],
            retries=s["retries"],
            http_errors=failed + s["poll_errors"],
            statuses=dict(sorted(self._statuses.items())),
            events_dropped=s["events_dropped"],
            undelivered=s["undelivered"],
            invalid_commands=s["invalid"],
            stalled_phases=dict(self._stalled),
            records=tuple(self._records),
        )
