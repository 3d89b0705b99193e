"""One simulated BalatroMCP mod around one game: what it sends, when, and how it takes orders.

Per frame, in the mod's order (``BalatroMCP:update``): a HEARTBEAT plus a ``debug`` GAME_STATE
every 5 s; the aggregator and retry coroutines; a command poll every 0.5 s, whose lines are
applied at once; a state check every 0.5 s that emits one event per changed field and a
GAME_STATE carrying them in ``changes`` (the first one is ``initial``). The game hooks add a
GAME_STATE after each played hand and each purchase, ROUND_COMPLETE when a blind is beaten,
and the scoring tracker's SCORING and JOKER_TRIGGER events, ending with a high-priority
HAND_EVAL_COMPLETE that flushes the batch.

Decision latency is wall time from the first POST carrying a GAME_STATE that waits for a
decision to the poll that returns commands, so it includes storage, the decision and the poll
interval (0.5 s in real time; a short doubling back-off in fast mode).
"""

from __future__ import annotations

import re
import time
from random import Random
from typing import TYPE_CHECKING

import anyio
import httpx

from ops.sim.clock import GameClock
from ops.sim.config import DEFAULT_BASE_URL, ModConfig
from ops.sim.extract import (
    DECISION_PHASES,
    StateExtractor,
    detect_changes,
    new_event,
    scoring_events,
)
from ops.sim.luajson import LuaEncoder
from ops.sim.rules import STATE_NUMBERS
from ops.sim.stats import GameRecord
from ops.sim.transport import MOD_HEADERS, EventBus

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ops.sim.extract import Event
    from ops.sim.rules import Game

__all__ = ["MOD_VERSION", "ModClient", "mod_urls"]

MOD_VERSION = "0.1.0"
_LINES = re.compile(r"[^\r\n]+")
_POLL_HEADERS = {**MOD_HEADERS, "Content-Type": "text/plain"}
"""The mod's poll sets ``Content-Type: text/plain`` on its GET."""


def mod_urls(base_url: str) -> tuple[str, str]:
    """The event bus URL and the poll URL for a server root (or the mod's event URL).

    The real mod polls a hard-coded ``http://localhost:8080``; the simulator polls the host
    it sends events to, so a server on another port works.
    """
    root = base_url.rstrip("/")
    if root.endswith("/api/v1/events"):
        root = root[: -len("/api/v1/events")]
    return f"{root}/api/v1/events", f"{root}/api/v1/commands/poll"


class ModClient:
    """Runs one game to its end through a server (or an autopilot) the way the mod would.

    Args:
        game: the game to play.
        http: the client to send with; a pool shared by many mods is fine, since each mod
            makes one request at a time, as the real one blocks its frame on each.
        base_url: the server root, e.g. ``http://127.0.0.1:8080``.
        config: the mod's settings.
        decide: answer decisions locally instead of polling (tests, offline runs).
    """

    def __init__(
        self,
        game: Game,
        http: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        config: ModConfig | None = None,
        decide: Callable[[Game], list[str]] | None = None,
    ) -> None:
        self.game, self._http, self._decide = game, http, decide
        self._cfg = config or ModConfig()
        self._rng = Random(game.seed ^ 0x5EED)
        self.clock = GameClock(self._rng, realtime=self._cfg.realtime)
        events_url, poll_url = mod_urls(base_url)
        # Several games through one gateway: each names itself on every request (the gateway's
        # `session`), so its events and its command queue stay its own. The real mod doesn't.
        params = {"session": game.game_id} if self._cfg.poll_game_id else None
        self._poll_url = httpx.URL(poll_url, params=params)
        self._encoder = LuaEncoder(self._rng)
        self.bus = EventBus(
            http,
            events_url,
            config=self._cfg,
            clock=self.clock,
            encoder=self._encoder,
            on_send=self._on_send,
            params=params,
        )
        self._extractor = StateExtractor(game)
        self._prev: dict[str, Any] | None = None
        self._awaiting: float | None = None
        self._latencies: list[float] = []
        self._commands = self._polls = self._poll_errors = 0
        self._idle_delay = 0.0
        self._over_at: float | None = None
        self._stalled_phase: str | None = None
        self._last_command = time.monotonic()
        self._last_heartbeat = self._last_check = 0.0
        self._last_poll = self.clock.now

    async def run(self) -> GameRecord:
        """Play until the game is over (or stalls) and what is queued is delivered or given up."""
        wall0 = self._last_command = time.monotonic()
        start = self.clock.now
        while True:
            await self._update()
            if self._finished():
                break
            await self.clock.advance(self._next_due())
        game = self.game
        return GameRecord(
            seed=game.seed,
            game_id=game.game_id,
            outcome=game.outcome or "stalled",
            ante=game.ante,
            rounds=game.round,
            money=game.money,
            jokers=len(game.jokers),
            commands=self._commands,
            invalid_commands=sum(game.invalid.values()),
            polls=self._polls,
            poll_errors=self._poll_errors,
            decision_latencies=self._latencies,
            transport=self.bus.stats,
            undelivered=self.bus.undelivered,
            game_time=self.clock.now - start,
            wall_time=time.monotonic() - wall0,
            stalled_phase=self._stalled_phase,
            invalid=dict(game.invalid),
        )

    # -- the frame -------------------------------------------------------------------------

    async def _update(self) -> None:
        now, cfg = self.clock.now, self._cfg
        if now - self._last_heartbeat > cfg.heartbeat_interval:
            beat = {
                "version": MOD_VERSION,
                "uptime": now * 1000,
                "headless": True,
                "game_state": str(STATE_NUMBERS[self.game.phase]),
            }
            await self.bus.add(new_event("HEARTBEAT", beat))
            await self.bus.add(new_event("GAME_STATE", self._payload(), debug=True))
            self._last_heartbeat = now
        await self.bus.update()
        if self._over_at is None and now - self._last_poll >= cfg.poll_interval:
            self._last_poll = now
            await self._poll()
        if now - self._last_check >= cfg.state_check_interval:
            self._last_check = now
            await self._check_state()

    def _next_due(self) -> float:
        cfg = self._cfg
        times = [
            self._last_heartbeat + cfg.heartbeat_interval + 1e-6,
            self._last_check + cfg.state_check_interval,
            self.bus.next_due(),
        ]
        if self._over_at is None:
            times.append(self._last_poll + cfg.poll_interval)
        return min(times)

    def _finished(self) -> bool:
        if self._over_at is None:
            if time.monotonic() - self._last_command <= self._cfg.decision_timeout:
                return False
            self._over_at, self._stalled_phase = self.clock.now, self.game.phase
        return self.bus.idle or self.clock.now - self._over_at > self._cfg.drain_timeout

    def _payload(self) -> dict[str, Any]:
        return self._extractor.payload(frame=self.clock.frame, epoch=self.clock.epoch())

    async def _check_state(self) -> None:
        if self._prev is None:
            self._prev = self._payload()
            state = new_event("GAME_STATE", self._prev, changes=[], initial=True)
            await self.bus.add(state)
            return
        if self._signature(self._prev) == self._live_signature():
            return  # nothing watched moved: the mod would find no change either
        current = self._payload()
        changes = detect_changes(self._prev, current)
        self._prev = current
        for change in changes:
            await self.bus.add(change)
        await self.bus.add(new_event("GAME_STATE", current, changes=changes))
        if self.game.phase == "GAME_OVER" and self._over_at is None:
            self._over_at = self.clock.now

    @staticmethod
    def _signature(p: dict[str, Any]) -> tuple[Any, ...]:
        return (
            p["money"], p["chips"], p["mult"], p["hands_remaining"], p["discards_remaining"],
            len(p["jokers"]), p["ante"], p["round"], p["game_state"],
        )  # fmt: skip

    def _live_signature(self) -> tuple[Any, ...]:
        g = self.game
        return (
            g.money, g.round_score, g.last_mult, g.hands_left, g.discards_left,
            len(g.jokers), g.ante, g.round, g.phase,
        )  # fmt: skip

    # -- commands --------------------------------------------------------------------------

    def _on_send(self, events: list[Event]) -> None:
        if self._awaiting is not None:
            return
        for event in events:
            if event["type"] == "GAME_STATE" and event["payload"]["game_state"] in DECISION_PHASES:
                self._awaiting = time.monotonic()
                return

    async def _poll(self) -> None:
        self._polls += 1
        if self._decide is not None:
            lines = self._decide(self.game) if self._awaiting is not None else []
        else:
            lines = await self._fetch()
        if not lines:
            if not self._cfg.realtime and self._decide is None:
                first, cap = self._cfg.idle_poll_delay
                self._idle_delay = min(cap, self._idle_delay * 2 or first)
                await anyio.sleep(self._idle_delay)
            return
        wall = time.monotonic()
        if self._awaiting is not None:
            self._latencies.append(wall - self._awaiting)
            self._awaiting = None
        self._last_command, self._idle_delay = wall, 0.0
        for line in lines:
            await self._execute(line)

    async def _fetch(self) -> list[str]:
        try:
            response = await self._http.get(
                self._poll_url, headers=_POLL_HEADERS, timeout=self._cfg.poll_timeout
            )
        except httpx.HTTPError:
            self._poll_errors += 1
            return []
        if response.status_code != 200:
            self._poll_errors += 1
            return []
        return _LINES.findall(response.text)

    async def _execute(self, line: str) -> None:
        self._commands += 1
        game = self.game
        start, hand_number = game.round_score, game.hands_played
        outcome = game.apply(line)  # a bad line is ignored and counted, as the mod logs it
        if outcome.scored is not None:
            await self.bus.add(new_event("GAME_STATE", self._payload()))
            context = self._rng.random() > 0.1
            for event in scoring_events(
                game, outcome.scored, start=start, hand_number=hand_number,
                now_ms=self.clock.ms(), context=context,
            ):  # fmt: skip
                await self.bus.add(event)
            await self.bus.flush()
        if outcome.round_complete:
            done = {"ante": game.ante, "round": game.round, "score": game.round_score}
            await self.bus.add(new_event("ROUND_COMPLETE", {**done, "money": game.money}))
        if outcome.bought:
            await self.bus.add(new_event("GAME_STATE", self._payload()))
