"""Whole simulated games through the real gateway, decision service and game director."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from bridge.gateway import Gateway, create_app
from handlers.decision import endpoint as decision
from handlers.game_director import handler as director
from ops.sim import play_games
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


@pytest.mark.parametrize("games", [1, 3])
async def test_simulated_games_reach_a_result_through_the_bus(
    nc: Client, names: Names, settings: Settings, games: int
) -> None:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with running(decision, director, settings=settings, nc=nc):
        summary = await play_games(
            "http://127.0.0.1:8080", games, concurrency=games, seed=7, transport=transport
        )
    assert summary.games == games
    assert summary.stalled == 0, summary.stalled_phases
    assert summary.won + summary.lost == games
    assert summary.decisions > 0 and summary.http_errors == 0
    # Everything the mods sent is in the stream (duplicates aside), nothing dead-lettered.
    info = await nc.jetstream().stream_info(names.events_stream)
    dlq = await nc.jetstream().stream_info(names.dlq_stream)
    assert info.state.messages >= summary.events_sent * 0.9
    assert dlq.state.messages == 0
