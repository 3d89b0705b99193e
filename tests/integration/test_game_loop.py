"""A game state through the gateway becomes commands in the mod's poll, once per state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from bridge.gateway import Gateway, create_app
from handlers.decision import endpoint as decision
from handlers.game_director import handler as director
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

HAND = [
    {"rank": "Ace", "suit": "Spades"},
    {"rank": "Ace", "suit": "Hearts"},
    {"rank": "King", "suit": "Clubs"},
    {"rank": "7", "suit": "Diamonds"},
    {"rank": "4", "suit": "Spades"},
    {"rank": "Ace", "suit": "Clubs"},
    {"rank": "9", "suit": "Hearts"},
    {"rank": "2", "suit": "Diamonds"},
]


def game_state(event_id: str, *, frame: int = 100, debug: bool = False) -> dict[str, Any]:
    hand = [
        {
            **card,
            "id": 0.1 + i / 100,
            "position": i,
            "enhancement": "none",
            "edition": "none",
            "seal": "none",
        }
        for i, card in enumerate(HAND)
    ]
    return {
        "type": "GAME_STATE",
        "source": "BalatroMCP",
        "event_id": event_id,
        "version": 1,
        "timestamp": 1234.5,
        "debug": debug,
        "payload": {
            "in_game": True, "game_id": "SEED1", "ante": 1, "round": 1, "hand_number": 1,
            "chips": 0, "mult": 0, "money": 4, "hand_size": 8, "hands_remaining": 4,
            "discards_remaining": 3, "game_state": "SELECTING_HAND", "ui_state": "1",
            "timestamp": 1700000000 + frame, "frame_count": frame, "jokers": {}, "hand": hand,
            "blind": {"name": "Small Blind", "chips": 300, "chip_text": "300", "mult": 1,
                      "defeated": False, "boss": False},
            "shop_items": {}, "consumables": {}, "score_history": {},
        },
    }  # fmt: skip


def body(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {"batch_id": "b", "source": "BalatroMCP", "timestamp": 1700000000000, "events": events}
    ).encode()


@pytest.fixture
async def gateway(nc: Client, names: Names) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(Gateway(nc, names)))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def poll_until(client: httpx.AsyncClient, *, timeout: float = 10) -> list[str]:
    with anyio.fail_after(timeout):
        while True:
            text = (await client.get("/api/v1/commands/poll")).text
            if text:
                return text.splitlines()
            await anyio.sleep(0.05)


async def test_a_state_waiting_for_a_hand_gets_commands_once(
    nc: Client, names: Names, settings: Settings, gateway: httpx.AsyncClient
) -> None:
    async with running(decision, director, settings=settings, nc=nc):
        await gateway.post("/api/v1/events/batch", content=body(game_state("s-1")))
        commands = await poll_until(gateway)
        # The same state again with the heartbeat (new event id, later clock): nothing new.
        await gateway.post(
            "/api/v1/events/batch", content=body(game_state("s-2", frame=100, debug=True))
        )
        await anyio.sleep(1.0)
        again = (await gateway.get("/api/v1/commands/poll")).text
    assert commands[-1] in ("play_hand", "discard")
    selected = [c for c in commands if c.startswith("select_card:")]
    assert 1 <= len(selected) <= 5
    # Three aces are in hand: a play must use them.
    if commands[-1] == "play_hand":
        assert {"select_card:0", "select_card:1", "select_card:5"} <= set(selected)
    assert again == ""
    decision_event = await nc.jetstream().get_last_msg(
        names.events_stream, names.subject("events.learning.decision")
    )
    assert decision_event.data
