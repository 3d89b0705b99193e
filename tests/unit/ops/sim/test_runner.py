"""Running many games: the summary, progress, and what a run without answers looks like."""

from __future__ import annotations

import pytest

from ops.sim.config import ModConfig
from ops.sim.runner import offline_transport, play_games
from ops.sim.stats import GameRecord, LatencyHistogram

from .fakeserver import FakeServer


async def test_autopilot_games_summary() -> None:
    seen: list[GameRecord] = []
    summary = await play_games(
        games=12,
        concurrency=4,
        seed=100,
        autopilot=True,
        transport=offline_transport(),
        on_progress=seen.append,
        keep_records=True,
    )
    assert summary.games == len(seen) == len(summary.records) == 12
    assert summary.won + summary.lost == 12 and summary.stalled == 0
    assert sum(summary.antes.values()) == 12
    assert sorted(r.seed for r in seen) == list(range(100, 112))
    assert summary.decisions == sum(len(r.decision_latencies) for r in seen) > 0
    p50, p95, p99 = summary.latency_p50, summary.latency_p95, summary.latency_p99
    assert p50 is not None and p95 is not None and p99 is not None
    assert 0 <= p50 <= p95 <= p99
    assert summary.events_sent > summary.batches > 0
    assert summary.requests == summary.batches + 12  # plus one connection test per game
    assert summary.http_errors == summary.retries == summary.undelivered == 0
    assert summary.statuses == {200: summary.requests}
    assert summary.games_per_hour > 0


async def test_the_same_seed_plays_the_same_games() -> None:
    runs = [
        await play_games(games=3, seed=7, autopilot=True, transport=offline_transport())
        for _ in range(2)
    ]
    assert runs[0].antes == runs[1].antes and runs[0].decisions == runs[1].decisions


async def test_unanswered_games_stall_and_say_where() -> None:
    server = FakeServer()
    summary = await play_games(
        games=3,
        concurrency=3,
        transport=server.transport(),
        config=ModConfig(decision_timeout=0.1, poll_game_id=True),
    )
    assert summary.stalled == 3 and summary.stalled_phases == {"BLIND_SELECT": 3}
    assert summary.decisions == 0 and summary.latency_p50 is None
    assert len({poll.url.params["session"] for poll in server.polls}) == 3


async def test_more_than_one_game_in_flight_names_the_game_in_polls() -> None:
    server = FakeServer()
    await play_games(games=2, concurrency=2, transport=server.transport(),
                     config=ModConfig(decision_timeout=0.05, poll_game_id=True))  # fmt: skip
    assert all("session" in poll.url.params for poll in server.polls)
    single = FakeServer()
    await play_games(games=1, concurrency=1, transport=single.transport(),
                     config=ModConfig(decision_timeout=0.05))  # fmt: skip
    assert all(not poll.url.params for poll in single.polls)


@pytest.mark.parametrize(("games", "concurrency"), [(-1, 1), (1, 0)])
async def test_arguments_are_checked(games: int, concurrency: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await play_games(games=games, concurrency=concurrency)


async def test_zero_games_is_an_empty_summary() -> None:
    summary = await play_games(games=0, transport=offline_transport())
    assert summary.games == 0 and summary.games_per_hour == 0.0


def test_latency_histogram_quantiles_within_one_percent() -> None:
    histogram = LatencyHistogram()
    values = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1 s
    for value in values:
        histogram.add(value)
    for q, exact in [(0.5, 0.5), (0.95, 0.95), (0.99, 0.99)]:
        got = histogram.quantile(q)
        assert got is not None and got == pytest.approx(exact, rel=0.011)
    assert histogram.quantile(1.0) == 1.0
    assert LatencyHistogram().quantile(0.5) is None
