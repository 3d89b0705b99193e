"""Settings of a simulated mod: the real mod's defaults, plus the simulator's own knobs.

Times are float seconds of *game* time (``love.timer``). In fast mode (``realtime=False``,
the default) game time is simulated: the clock jumps to the next thing due, so a 100 ms batch
window or a 60 s circuit breaker costs no wall time and a game runs as fast as the server
answers. ``realtime=True`` runs 60 frames per wall-clock second like the game.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_BASE_URL", "ModConfig"]

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
"""Where ``jimbot up`` serves the gateway; the mod itself defaults to localhost:8080."""


@dataclass(frozen=True, kw_only=True)
class ModConfig:
    """How one simulated mod talks to the server. Defaults are the mod's."""

    realtime: bool = False
    """Run on the wall clock at 60 fps instead of simulated game time."""
    batch_window: float = 0.1
    max_batch_size: int = 50
    heartbeat_interval: float = 5.0
    state_check_interval: float = 0.5
    poll_interval: float = 0.5
    retry_delays: tuple[float, ...] = (1.0, 2.0)
    """Waits between the attempts of one batch: three attempts in all."""
    failure_threshold: int = 3
    """Batches failed in a row (all attempts) that open the circuit breaker."""
    reset_timeout: float = 60.0
    """How long the open breaker stops sending before one more try."""
    max_buffer: int = 1000
    """Events kept while the breaker is open; the oldest are dropped past this."""
    buffer_chunk: int = 10
    """Buffered events go out again in batches of this many, with new event ids."""
    request_timeout: float = 5.0
    """Wall seconds for one POST (the mod's ``event_bus_timeout``)."""
    poll_timeout: float = 1.0
    """Wall seconds for one command poll."""
    idle_poll_delay: tuple[float, float] = (0.0005, 0.02)
    """Fast mode only: wall seconds slept after an empty poll, doubling from the first value
    to the second, so a game waiting on the server does not spin."""
    decision_timeout: float = 30.0
    """Wall seconds without any command before a game counts as ``stalled`` and stops."""
    drain_timeout: float = 180.0
    """Game seconds after the game ends to deliver what is still queued or buffered."""
    poll_game_id: bool = False
    """Add ``?game_id=`` to the poll. The real mod does not, but games sharing one server
    need it to tell their commands apart."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.buffer_chunk < 1 or self.max_buffer < 1:
            raise ValueError("batch, chunk and buffer sizes must be at least 1")
        if min(self.batch_window, self.poll_interval, self.state_check_interval) <= 0:
            raise ValueError("batch window, poll and state-check intervals must be positive")
