"""Playing many simulated games at once against a server, and summing up how they went.

Each game gets its own :class:`~ops.sim.modclient.ModClient` (its own clock, queue, breaker
and buffer); they share one HTTP connection pool. Games only progress when something answers
the poll, so ``autopilot=True`` lets the simulator decide locally (tests, speed runs) and
:func:`offline_transport` stands in for a server that stores everything.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import httpx

from ops.sim import autopilot as _autopilot
from ops.sim.config import DEFAULT_BASE_URL, ModConfig
from ops.sim.modclient import ModClient
from ops.sim.rules import Game, GameOptions
from ops.sim.stats import Summary, Tally
from ops.sim.transport import MOD_HEADERS

if TYPE_CHECKING:
    from collections.abc import Callable

    from ops.sim.stats import GameRecord

__all__ = ["create_http_client", "offline_transport", "play_games"]


def offline_transport() -> httpx.MockTransport:
    """A stand-in server: 200 for every POST, an empty 200 ``text/plain`` for every poll."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text="", headers={"Content-Type": "text/plain"})
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(answer)


def create_http_client(
    *, concurrency: int = 1, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An HTTP client sending only the mod's headers (no compression offered)."""
    pool = httpx.Limits(max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency)
    http = httpx.AsyncClient(transport=transport, limits=pool, headers=MOD_HEADERS)
    del http.headers["Accept-Encoding"]
    return http


async def play_games(
    base_url: str = DEFAULT_BASE_URL,
    games: int = 1,
    *,
    concurrency: int = 8,
    seed: int = 0,
    on_progress: Callable[[GameRecord], object] | None = None,
    autopilot: bool = False,
    config: ModConfig | None = None,
    options: GameOptions | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    keep_records: bool = False,
) -> Summary:
    """Play ``games`` games, ``concurrency`` at a time, and summarise them.

    Args:
        base_url: the server root (``http://127.0.0.1:8080``) or the mod's event URL.
        games: how many games; game ``i`` uses seed ``seed + i``, so a run is reproducible.
        concurrency: games in flight at once.
        seed: the first game's seed.
        on_progress: called with each game's record as it finishes (progress bars).
        autopilot: decide locally instead of polling; events are still sent.
        config: the mods' settings. By default fast mode, and with more than one game in
            flight every request carries ``?session=`` so the server can tell games apart.
        options: the game rules (e.g. ``GameOptions(score_multiplier=1e308)`` for ``inf``).
        transport: an httpx transport to send through instead of the network.
        keep_records: put every :class:`GameRecord` in ``Summary.records``.

    Raises:
        ValueError: when ``games`` is negative or ``concurrency`` below 1.
    """
    if games < 0 or concurrency < 1:
        raise ValueError("games must be >= 0 and concurrency >= 1")
    if config is None:
        config = ModConfig(poll_game_id=concurrency > 1 and not autopilot)
    decide = _autopilot.decide if autopilot else None
    tally = Tally(keep_records=keep_records)
    seeds = iter(range(seed, seed + games))

    async def worker() -> None:
        # One connection per game in flight, as a real mod has: a shared pool checks every
        # pooled connection on every request, a quarter of the simulator's CPU at 32 games.
        async with create_http_client(concurrency=1, transport=transport) as http:
            # One shared iterator: each worker takes the next seed when it is free.
            for game_seed in seeds:
                game = Game(game_seed, options)
                client = ModClient(game, http, base_url=base_url, config=config, decide=decide)
                record = await client.run()
                tally.add(record)
                if on_progress is not None:
                    on_progress(record)

    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, games)):
            tg.start_soon(worker)
    return tally.summary(time.monotonic() - start)
