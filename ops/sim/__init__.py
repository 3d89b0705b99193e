"""A BalatroMCP game simulator: Balatro-like games played through the gateway as the mod would.

Each simulated game is a :class:`~ops.sim.rules.Game` (seeded rules: eight antes of Small, Big
and Boss blinds, the poker hand table, money, a joker shop) wrapped in a
:class:`~ops.sim.modclient.ModClient` that behaves like the real mod on the wire: the
connection test, 100 ms batches of at most 50 events in the mod's own not-quite-JSON
(``{}`` for empty lists, strings in arrays, bare ``inf``), heartbeats, change events repeated
inside GAME_STATE ``changes``, retries with the same ids, a circuit breaker with a buffer
re-sent under new ids, and commands read from ``GET /api/v1/commands/poll``.

The game's rules share no code with ``handlers.policies``: the game and the AI that plays it
must not be able to hide one shared bug.

Running games (what ``jimbot demo --games N`` calls)::

    import anyio
    from ops.sim import play_games

    summary = anyio.run(lambda: play_games("http://127.0.0.1:8080", 100, concurrency=16))
    print(summary.won, summary.antes, summary.games_per_hour, summary.latency_p99)

- :func:`play_games` runs ``games`` games, ``concurrency`` at a time, game ``i`` with seed
  ``seed + i``, calls ``on_progress(record)`` as each ends, and returns a :class:`Summary`
  (games, won/lost/stalled, antes reached, games/hour, decision latency p50/p95/p99 in
  seconds, events sent, batches, retries, HTTP errors, stalled phases).
- Fast mode (the default) runs on simulated game time: nothing sleeps, so throughput is bounded
  by the server. ``config=ModConfig(realtime=True)`` runs at 60 fps on the wall clock.
- A game only moves when the poll answers. ``autopilot=True`` decides locally instead (events
  are still sent), and ``transport=offline_transport()`` replaces the server, for tests and
  speed runs without one.
- With more than one game in flight the poll carries ``?game_id=<the payload's game_id>`` so a
  server can keep each game's commands apart; the real mod sends no id (one game per mod).
- A game that gets no command for ``ModConfig.decision_timeout`` wall seconds (30 by default)
  ends as ``stalled``; ``Summary.stalled_phases`` says which decisions went unanswered.

Modules: ``rules`` (the game), ``poker`` and ``jokers`` (hands and scoring), ``blinds``,
``shop``, ``commands`` (the mod's command parsing), ``luajson`` (the mod's encoder),
``extract`` (GAME_STATE payloads and change events), ``transport`` (batching, retries,
breaker), ``clock``, ``modclient`` (one mod), ``runner`` and ``stats`` (many games).
"""

from __future__ import annotations

from ops.sim.config import DEFAULT_BASE_URL, ModConfig
from ops.sim.modclient import ModClient, mod_urls
from ops.sim.rules import Game, GameOptions
from ops.sim.runner import create_http_client, offline_transport, play_games
from ops.sim.stats import GameRecord, Summary
from ops.sim.transport import TransportStats

__all__ = [
    "DEFAULT_BASE_URL",
    "Game",
    "GameOptions",
    "GameRecord",
    "ModClient",
    "ModConfig",
    "Summary",
    "TransportStats",
    "create_http_client",
    "mod_urls",
    "offline_transport",
    "play_games",
]
