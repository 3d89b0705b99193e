"""The simulated mod against a recording fake server: what it sends, retries and polls."""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from itertools import pairwise
from typing import Any

import httpx
import pytest

from ops.sim.autopilot import decide
from ops.sim.config import ModConfig
from ops.sim.modclient import ModClient, mod_urls
from ops.sim.rules import Game, GameOptions
from ops.sim.runner import create_http_client
from ops.sim.stats import GameRecord

from .fakeserver import FakeServer, parse_mod_json

_FAST = ModConfig(decision_timeout=5.0)


async def run_game(
    server: FakeServer,
    *,
    seed: int = 4,
    config: ModConfig = _FAST,
    options: GameOptions | None = None,
    autopilot: bool = True,
) -> GameRecord:
    async with create_http_client(transport=server.transport()) as http:
        client = ModClient(
            Game(seed, options),
            http,
            base_url="http://sim.test:8080",
            config=config,
            decide=decide if autopilot else None,
        )
        return await client.run()


async def test_connection_test_comes_first_with_the_mods_shape() -> None:
    server = FakeServer()
    await run_game(server)
    first = server.requests[0]
    assert (first.method, str(first.url)) == ("POST", "http://sim.test:8080/api/v1/events")
    test = json.loads(first.content.decode())
    assert set(test) == {"type", "timestamp", "source", "data"}
    assert test["type"] == "connection_test" and test["source"] == "BalatroMCP"
    assert isinstance(test["timestamp"], int) and test["timestamp"] % 1000 == 0
    assert test["data"] == {"message": "Testing event bus connection"}
    assert all(r.url.path == "/api/v1/events/batch" for r in server.posts[1:])


async def test_headers_are_the_mods_and_nothing_more() -> None:
    server = FakeServer()
    await run_game(server)
    headers = server.posts[1].headers
    assert headers["user-agent"] == "BalatroMCP/1.0"
    assert headers["content-type"] == "application/json"
    assert "accept-encoding" not in headers and "traceparent" not in headers


async def test_a_game_sends_well_formed_batches_of_at_most_fifty() -> None:
    server = FakeServer()
    record = await run_game(server)
    assert record.outcome in {"won", "lost"}
    batches = server.batches()
    assert batches and all(1 <= len(b["events"]) <= 50 for _, b in batches)
    for _, batch in batches:
        assert set(batch) == {"batch_id", "source", "timestamp", "events"}
        assert batch["source"] == "BalatroMCP" and isinstance(batch["timestamp"], int)
        uuid.UUID(batch["batch_id"])
        for event in batch["events"]:
            assert event["source"] == "BalatroMCP" and event["version"] == 1
            assert uuid.UUID(event["event_id"]).version == 4
            assert isinstance(event["timestamp"], float)  # ms since the game started
            assert event["timestamp"] < 10**9
    events = server.stored()
    assert record.transport.events_sent == len(events)
    assert len({e["event_id"] for e in events}) == len(events)
    types = Counter(e["type"] for e in events)
    for kind in ("GAME_STATE", "HEARTBEAT", "HAND_PLAYED", "PHASE_CHANGED", "SCORING"):
        assert types[kind] > 0, kind
    subtypes = {e.get("subtype") for e in events if e["type"] == "SCORING"}
    assert {"HAND_EVAL_START", "SCORE_UPDATE", "HAND_EVAL_COMPLETE"} <= subtypes


async def test_game_state_payload_shape_and_quirks() -> None:
    server = FakeServer()
    await run_game(server)
    states = [e for e in server.stored() if e["type"] == "GAME_STATE"]
    first = states[0]
    assert first["initial"] is True and first["changes"] == {}  # an empty list: {}
    payload = first["payload"]
    expected = {
        "in_game", "game_id", "ante", "round", "hand_number", "chips", "mult", "money",
        "hand_size", "hands_remaining", "discards_remaining", "score_history", "jokers",
        "hand", "deck", "consumables", "shop_items", "game_state", "ui_state", "blind",
        "timestamp", "frame_count",
    }  # fmt: skip
    assert set(payload) == expected
    assert payload["game_state"] == "BLIND_SELECT" and payload["ui_state"] == "7"
    assert payload["jokers"] == {} and payload["hand"] == {} and payload["consumables"] == {}
    assert len(payload["deck"]["full_deck"]) == 52
    assert isinstance(payload["deck"]["full_deck"][0]["id"], float)
    assert payload["blind"]["name"] == "Small Blind" and payload["blind"]["chips"] == 300
    playing = next(s["payload"] for s in states if s["payload"]["game_state"] == "SELECTING_HAND")
    assert [card["position"] for card in playing["hand"]] == list(range(8))
    assert len(playing["deck"]["cards_remaining"]) == 5
    shop = next(s["payload"] for s in states if s["payload"]["game_state"] == "SHOP")
    assert {"joker_1", "booster_1", "voucher_1"} <= set(shop["shop_items"])
    assert set(shop["shop_items"]["joker_1"]) == {"name", "cost", "rarity"}
    owned = next(s["payload"]["jokers"] for s in states if s["payload"]["jokers"])
    assert set(owned[0]) == {"id", "name", "position", "properties"}
    assert set(owned[0]["properties"]) == {"mult", "chips", "cost", "sell_value", "edition"}
    history = [s["payload"]["score_history"] for s in states if s["payload"]["score_history"]]
    assert history and all(isinstance(x, str) for h in history for x in h["1"])  # ["712"]
    debug = [s for s in states if s.get("debug")]
    assert debug and all("changes" not in s for s in debug)


async def test_change_events_appear_top_level_and_in_changes_with_one_id() -> None:
    server = FakeServer()
    await run_game(server)
    events = server.stored()
    top = {e["event_id"]: e for e in events if e["type"] != "GAME_STATE"}
    nested = [
        change
        for e in events
        if e["type"] == "GAME_STATE" and isinstance(e.get("changes"), list)
        for change in e["changes"]
    ]
    assert nested
    for change in nested:
        assert top[change["event_id"]] == change


async def test_heartbeat_every_five_seconds_of_game_time() -> None:
    server = FakeServer()
    await run_game(server)
    beats = [e for e in server.stored() if e["type"] == "HEARTBEAT"]
    assert beats
    assert set(beats[0]["payload"]) == {"version", "uptime", "headless", "game_state"}
    assert isinstance(beats[0]["payload"]["game_state"], str)
    gaps = [b["payload"]["uptime"] - a["payload"]["uptime"] for a, b in pairwise(beats)]
    assert all(gap >= 5000 for gap in gaps)


async def test_overflowing_scores_are_sent_as_bare_inf() -> None:
    server = FakeServer()
    await run_game(server, options=GameOptions(score_multiplier=1e308))
    bodies = [r.content.decode() for r in server.posts]
    assert any('"chips":inf' in body or '"new_score":inf' in body for body in bodies)
    events = server.stored()
    assert any(e["type"] == "SCORING" and e["payload"].get("new_score") == math.inf for e in events)


async def test_a_failed_batch_is_retried_with_the_same_ids() -> None:
    tries: Counter[str] = Counter()

    def fail_first_twice(n: int, request: httpx.Request) -> int:
        if n == 0:
            return 200  # the connection test
        batch_id = parse_mod_json(request.content.decode())["batch_id"]
        tries[batch_id] += 1
        first = next(iter(tries))
        return 503 if batch_id == first and tries[first] <= 2 else 200

    server = FakeServer(status=fail_first_twice)
    record = await run_game(server)
    batches = server.batches()
    first_id = batches[0][1]["batch_id"]
    attempts = [(status, b) for status, b in batches if b["batch_id"] == first_id]
    assert [status for status, _ in attempts] == [503, 503, 200]
    assert attempts[0][1] == attempts[1][1] == attempts[2][1]  # same ids, same content
    assert record.transport.retries == 2 and record.transport.failed_batches == 0
    assert record.undelivered == 0


async def run_timed(server: FakeServer, config: ModConfig) -> tuple[GameRecord, list[float]]:
    """Run a game, noting the game time of every POST."""
    times: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        times.append(client.clock.now)
        return server.handle(request)

    async with create_http_client(transport=httpx.MockTransport(handle)) as http:
        client = ModClient(Game(4), http, config=config, decide=decide)
        record = await client.run()
    return record, [t for t, r in zip(times, server.requests, strict=True) if r.method == "POST"]


async def test_three_failed_batches_open_the_breaker_and_buffered_events_get_new_ids() -> None:
    server = FakeServer(status=lambda n, _: 503 if 1 <= n <= 40 else 200)
    record, times = await run_timed(server, ModConfig(decision_timeout=5.0, reset_timeout=60.0))
    t = record.transport
    assert t.failed_batches >= 3 and t.breaker_opened >= 1
    assert t.events_buffered > 0 and t.reissued_ids > 0
    batches = server.batches()
    failed = [b for status, b in batches if status != 200]
    assert max(Counter(b["batch_id"] for b in failed).values()) == 3  # three attempts in all
    # While the breaker is open nothing is sent: a pause of about a minute of game time.
    gaps = [b - a for a, b in pairwise(times)]
    assert max(gaps) >= 60.0 - sum(ModConfig().retry_delays)
    # Every failed event is stored later (found by its unique game-time timestamp), and
    # those that went through the buffer carry a new event id.
    failed_ids: dict[float, str] = {}
    for batch in failed:
        for event in batch["events"]:
            failed_ids.setdefault(event["timestamp"], event["event_id"])
    stored = {e["timestamp"]: e["event_id"] for e in server.stored()}
    assert set(failed_ids) <= set(stored)
    assert any(stored[ts] != eid for ts, eid in failed_ids.items())
    assert record.undelivered == 0


async def test_the_breaker_pause_follows_reset_timeout() -> None:
    server = FakeServer(status=lambda n, _: 503 if 1 <= n <= 40 else 200)
    _, times = await run_timed(server, ModConfig(decision_timeout=5.0, reset_timeout=20.0))
    gaps = [b - a for a, b in pairwise(times)]
    assert 20.0 - sum(ModConfig().retry_delays) <= max(gaps) < 30.0


async def test_poll_lines_are_applied_in_order() -> None:
    game_ref: list[Game] = []

    def commands(request: httpx.Request) -> list[str]:
        return decide(game_ref[0]) if game_ref and game_ref[0].phase != "GAME_OVER" else []

    server = FakeServer(commands=commands)
    async with create_http_client(transport=server.transport()) as http:
        game = Game(3)
        game_ref.append(game)
        record = await ModClient(game, http, base_url="http://sim.test:8080", config=_FAST).run()
    assert record.outcome in {"won", "lost"}
    assert record.commands > 0 and record.invalid_commands == 0
    assert record.decision_latencies and all(x >= 0 for x in record.decision_latencies)
    poll = server.polls[0]
    assert str(poll.url) == "http://sim.test:8080/api/v1/commands/poll"
    assert poll.headers["content-type"] == "text/plain"


@pytest.mark.parametrize(
    ("body", "applied"),
    [
        ("select_small_blind\n", ["select_small_blind"]),
        ("select_small_blind\r\nselect_card:0\r\n", ["select_small_blind", "select_card:0"]),
        ("\n\nselect_small_blind", ["select_small_blind"]),
        ("", []),
    ],
)
async def test_poll_body_parsing(body: str, applied: list[str]) -> None:
    seen: list[str] = []
    game = Game(1)
    original = game.apply

    def spy(command: str) -> Any:
        seen.append(command)
        return original(command)

    game.apply = spy  # type: ignore[method-assign]
    answers = iter([body])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=next(answers, ""))
        return httpx.Response(200)

    # The first poll must come within the wall-clock decision_timeout of the start, or the
    # game stalls before it: 0.5 s, as 50 ms was not always enough on a loaded machine.
    config = ModConfig(decision_timeout=0.5)
    async with create_http_client(transport=httpx.MockTransport(handle)) as http:
        record = await ModClient(game, http, config=config).run()
    assert seen == applied
    assert record.outcome == "stalled"


async def test_nobody_answering_the_poll_stalls_the_game_within_the_timeout() -> None:
    server = FakeServer()
    record = await run_game(server, autopilot=False, config=ModConfig(decision_timeout=0.2))
    assert record.outcome == "stalled" and record.stalled_phase == "BLIND_SELECT"
    assert record.polls > 1 and record.commands == 0
    assert record.wall_time < 2.0


async def test_poll_errors_are_counted_not_fatal() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500 if request.method == "GET" else 200)

    async with create_http_client(transport=httpx.MockTransport(handle)) as http:
        config = ModConfig(decision_timeout=0.5)  # time for a first poll on a loaded machine
        record = await ModClient(Game(1), http, config=config).run()
    assert record.poll_errors == record.polls > 0


async def test_poll_can_name_the_game() -> None:
    server = FakeServer()
    config = ModConfig(decision_timeout=0.5, poll_game_id=True)  # time for a first poll
    await run_game(server, autopilot=False, config=config)
    game_id = Game(4).game_id
    assert server.polls[0].url.params["session"] == game_id


async def test_server_down_for_good_gives_up_after_the_drain() -> None:
    server = FakeServer(status=lambda n, _: 503)
    config = ModConfig(decision_timeout=5.0, drain_timeout=200.0)
    record = await run_game(server, config=config)
    assert record.outcome in {"won", "lost"}  # the autopilot plays on regardless
    assert record.transport.events_sent == 0 and record.transport.connection_test == 503
    assert record.undelivered > 0


async def test_realtime_mode_follows_the_wall_clock() -> None:
    server = FakeServer()
    config = ModConfig(realtime=True, decision_timeout=0.5)
    record = await run_game(server, autopilot=False, config=config)
    assert record.outcome == "stalled"
    # Both are wall-clock spans taken at slightly different moments, so a loaded machine can
    # put a little between them; fast mode would cover ~30x the game time (~15 s here).
    assert record.game_time == pytest.approx(record.wall_time, abs=0.3)


def test_mod_urls() -> None:
    expected = ("http://h:1/api/v1/events", "http://h:1/api/v1/commands/poll")
    assert mod_urls("http://h:1") == expected
    assert mod_urls("http://h:1/") == expected
    assert mod_urls("http://h:1/api/v1/events") == expected


async def test_the_buffer_is_bounded_and_drops_the_oldest() -> None:
    server = FakeServer(status=lambda n, _: 503)
    config = ModConfig(decision_timeout=5.0, max_buffer=20, drain_timeout=10.0)
    record = await run_game(server, config=config)
    t = record.transport
    assert t.events_dropped > 0
    assert record.undelivered <= 20 + 50 * 3  # buffer + a few batches still in retry


async def test_a_server_sending_only_junk_cannot_keep_a_game_alive() -> None:
    server = FakeServer(commands=lambda request: [":junk", "play_hand:", "fly"])
    options = GameOptions(max_steps=60)
    record = await run_game(server, autopilot=False, options=options)
    assert record.outcome == "stalled"
    assert record.invalid_commands >= 60 and record.commands >= 60
