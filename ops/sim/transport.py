"""The mod's sending side: the 100 ms aggregator, batch POSTs, retries, breaker and buffer.

Mirrors ``event_aggregator.lua``, ``event_bus_client.lua`` and ``retry_manager.lua``:

- events wait in a queue and leave as one batch per window, at most ``max_batch_size`` each;
  a ``priority: high`` event flushes at once; several GAME_STATEs of one frame in a batch
  collapse to the last, and a batch is sorted by event timestamp;
- the first POST of the game is the single-event connection test to the base URL;
- a failed batch is tried again after 1 s and 2 s (game time) with the same ``batch_id`` and
  ``event_id``s; other batches keep going meanwhile, as the mod's coroutines do;
- ``failure_threshold`` batches failed in a row open a breaker: for ``reset_timeout`` nothing
  is sent and events wait in a bounded buffer, which goes out again with *new* event ids.

When the breaker is open the real mod both buffers a batch and puts it back in its queue,
which multiplies copies; the simulator buffers it once, as the contract describes.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

    from ops.sim.clock import GameClock
    from ops.sim.config import ModConfig
    from ops.sim.extract import Event
    from ops.sim.luajson import LuaEncoder

__all__ = ["MOD_HEADERS", "EventBus", "TransportStats"]

MOD_HEADERS = {"Content-Type": "application/json", "User-Agent": "BalatroMCP/1.0"}
TRANSPORT_ERROR = 0
"""The status recorded when a request got no HTTP answer at all."""


@dataclass
class TransportStats:
    """What one mod sent and how the server answered."""

    events_queued: int = 0
    events_sent: int = 0
    """Events in batches answered 2xx (an event re-sent after buffering counts again)."""
    batches: int = 0
    """Distinct batches (``batch_id``s) attempted."""
    requests: int = 0
    """POSTs made, the connection test and every retry included."""
    retries: int = 0
    failed_batches: int = 0
    """Batches whose every attempt failed."""
    breaker_opened: int = 0
    events_buffered: int = 0
    events_dropped: int = 0
    """Lost for good: buffer or queue overflow."""
    reissued_ids: int = 0
    """Events given a new id when re-sent from the buffer."""
    connection_test: int | None = None
    """Status of the connection test (0: no answer)."""
    statuses: Counter[int] = field(default_factory=Counter)
    """HTTP status → count over all POSTs; 0 counts requests with no answer."""


@dataclass
class _Pending:
    batch: dict[str, Any]
    attempt: int
    due: float


class EventBus:
    """Aggregator and event bus client of one mod; call :meth:`update` every frame."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        events_url: str,
        *,
        config: ModConfig,
        clock: GameClock,
        encoder: LuaEncoder,
        on_send: Callable[[list[Event]], None] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self._http, self._cfg = http, config
        # Parsed once: httpx re-parses a str URL on every request, a third of its cost here.
        self._url = httpx.URL(events_url, params=params)
        self._batch_url = httpx.URL(events_url + "/batch", params=params)
        mod_client = all(http.headers.get(k) == v for k, v in MOD_HEADERS.items())
        self._headers = None if mod_client else MOD_HEADERS
        self._clock, self._encoder, self._on_send = clock, encoder, on_send
        self.stats = TransportStats()
        self._queue: list[Event] = []
        self._last_flush = clock.now
        self._pending: list[_Pending] = []
        self._buffer: deque[Event] = deque()
        self._tested = False
        self._consecutive = 0
        self._open = self._half_open = False
        self._last_failure = 0.0
        self._flushing_buffer = False

    # -- aggregator ------------------------------------------------------------------------

    async def add(self, event: Event) -> None:
        """Queue an event; one with ``priority: high`` (or an ERROR) is flushed at once."""
        event.setdefault("timestamp", self._clock.ms())
        if len(self._queue) >= 2 * self._cfg.max_batch_size:
            del self._queue[:10]
            self.stats.events_dropped += 10
        self._queue.append(event)
        self.stats.events_queued += 1
        if event.get("priority") == "high" or event["type"] == "ERROR":
            await self.flush()

    async def flush(self) -> None:
        """Send one batch of what is queued (the mod's ``EventAggregator:flush``)."""
        if not self._queue:
            return
        batch = self._queue[: self._cfg.max_batch_size]
        del self._queue[: self._cfg.max_batch_size]
        await self.send_batch(_aggregate(batch))
        self._last_flush = self._clock.now

    async def update(self) -> None:
        """Per frame: flush on the window, resume retries, re-send the buffer when allowed."""
        now = self._clock.now
        if now - self._last_flush >= self._cfg.batch_window:
            await self.flush()
        due = [p for p in self._pending if p.due <= now]
        for pending in due:
            self._pending.remove(pending)
            await self._attempt(pending.batch, pending.attempt)
        if self._buffer and self._can_attempt():
            await self._flush_buffer()

    def next_due(self) -> float:
        """Game time of the next thing this bus must do (``inf``: nothing)."""
        times = [p.due for p in self._pending]
        if self._queue:
            times.append(self._last_flush + self._cfg.batch_window)
        if self._buffer and self._open:
            times.append(self._last_failure + self._cfg.reset_timeout)
        return min(times, default=float("inf"))

    @property
    def idle(self) -> bool:
        """Nothing queued, retrying or buffered."""
        return not (self._queue or self._pending or self._buffer)

    @property
    def undelivered(self) -> int:
        """Events still queued, in retry or buffered."""
        retrying = sum(len(p.batch["events"]) for p in self._pending)
        return len(self._queue) + retrying + len(self._buffer)

    # -- event bus client ------------------------------------------------------------------

    async def send_batch(self, events: list[Event]) -> None:
        """POST a batch now (its first attempt); a failure schedules the retries."""
        if not events:
            return
        if not self._tested:
            await self._test_connection()
        if not self._can_attempt():
            self._to_buffer(events)
            return
        for event in events:
            if not event.get("event_id"):
                event["event_id"] = str(uuid.uuid4())
            event["source"] = event.get("source") or "BalatroMCP"
            event.setdefault("version", 1)
        batch = {
            "batch_id": str(uuid.uuid4()),
            "events": events,
            "source": "BalatroMCP",
            "timestamp": self._clock.epoch() * 1000,
        }
        self.stats.batches += 1
        if self._on_send is not None:
            self._on_send(events)
        await self._attempt(batch, 1)

    async def _attempt(self, batch: dict[str, Any], attempt: int) -> None:
        if attempt > 1:
            self.stats.retries += 1
        # Encoded on every attempt, as the mod does: same batch_id, same event_ids.
        if await self._post(self._batch_url, self._encoder.encode(batch)):
            self.stats.events_sent += len(batch["events"])
            self._record_success()
            if self._buffer and not self._flushing_buffer:
                await self._flush_buffer()
            return
        if attempt <= len(self._cfg.retry_delays):
            due = self._clock.now + self._cfg.retry_delays[attempt - 1]
            self._pending.append(_Pending(batch, attempt + 1, due))
            return
        self.stats.failed_batches += 1
        self._record_failure()
        self._to_buffer(batch["events"])

    async def _test_connection(self) -> None:
        self._tested = True
        test = {
            "type": "connection_test",
            "timestamp": self._clock.epoch() * 1000,
            "source": "BalatroMCP",
            "data": {"message": "Testing event bus connection"},
        }
        await self._post(self._url, self._encoder.encode(test), test=True)

    async def _post(self, url: httpx.URL, body: str, *, test: bool = False) -> bool:
        self.stats.requests += 1
        try:
            response = await self._http.post(
                url, content=body.encode(), headers=self._headers, timeout=self._cfg.request_timeout
            )
            status = response.status_code
        except httpx.HTTPError:
            status = TRANSPORT_ERROR
        self.stats.statuses[status] += 1
        if test:
            self.stats.connection_test = status
        return 200 <= status < 300

    # -- retry manager: circuit breaker and buffer -----------------------------------------

    def _can_attempt(self) -> bool:
        if not self._open:
            return True
        if self._clock.now - self._last_failure >= self._cfg.reset_timeout:
            self._half_open = True
            return True
        return False

    def _record_success(self) -> None:
        if self._half_open:
            self._open = self._half_open = False
        self._consecutive = 0

    def _record_failure(self) -> None:
        self._consecutive += 1
        self._last_failure = self._clock.now
        if self._half_open:
            self._open, self._half_open = True, False
        elif self._consecutive >= self._cfg.failure_threshold and not self._open:
            self._open = True
            self.stats.breaker_opened += 1

    def _to_buffer(self, events: list[Event]) -> None:
        for event in events:
            if len(self._buffer) >= self._cfg.max_buffer:
                self._buffer.popleft()
                self.stats.events_dropped += 1
            self._buffer.append(event)
            self.stats.events_buffered += 1

    async def _flush_buffer(self) -> None:
        self._flushing_buffer = True
        try:
            while self._buffer and self._can_attempt():
                size = min(self._cfg.buffer_chunk, len(self._buffer))
                chunk = [self._buffer.popleft() for _ in range(size)]
                for event in chunk:
                    if event.pop("event_id", None) is not None:
                        self.stats.reissued_ids += 1
                await self.send_batch(chunk)
        finally:
            self._flushing_buffer = False


def _aggregate(events: list[Event]) -> list[Event]:
    """Keep the last GAME_STATE per frame, then order by timestamp (``aggregate_events``)."""
    states = [e for e in events if e["type"] == "GAME_STATE"]
    if len(states) > 1:
        latest: dict[Any, Event] = {}
        for state in states:
            frame = state["payload"].get("frame_count", 0)
            kept = latest.get(frame)
            if kept is None or state["timestamp"] > kept["timestamp"]:
                latest[frame] = state
        states = list(latest.values())
    others = [e for e in events if e["type"] != "GAME_STATE"]
    return sorted(states + others, key=lambda e: e.get("timestamp", 0.0))
