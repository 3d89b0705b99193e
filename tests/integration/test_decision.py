"""The decision service over a real nats-server: realistic requests, time limits, failures."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import anyio
import pytest

import subjects
from handlers import decision, request
from handlers.decision import create_endpoint, endpoint
from handlers.policies import expand_action, load_policy
from handlers.policies.balatro import decide
from schemas import decode_event, event_to_proto, unpack_payload
from schemas.events_pb2 import LearningDecisionRequest, LearningDecisionResponse
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

HERE = __name__


def slow_policy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    """A sync policy far slower than any time limit (it runs in a worker thread)."""
    time.sleep(3)
    return decide(request)


async def slow_async_policy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    await anyio.sleep(3)
    return decide(request)


def raising_policy(request: LearningDecisionRequest) -> LearningDecisionResponse:
    raise RuntimeError("model weights not found")


def _card(rank: str, suit: str, position: int | None = None) -> dict[str, object]:
    card: dict[str, object] = {"id": 0.5 + len(rank) / 100, "rank": rank, "suit": suit}
    card.update(enhancement="none", edition="none", seal="none")
    if position is not None:
        card["position"] = position
    return card


def mod_request(time_limit_ms: float = 100) -> LearningDecisionRequest:
    """A LEARNING_DECISION event as the mod writes it (float ids and timestamps, `{}` for
    empty lists), through the same decoding the gateway uses."""
    hand = [("Ace", "Hearts"), ("King", "Spades"), ("Ace", "Diamonds"), ("7", "Clubs"),
            ("Ace", "Clubs"), ("2", "Spades"), ("9", "Hearts"), ("Queen", "Diamonds")]  # fmt: skip
    event = {
        "type": "LEARNING_DECISION",
        "subtype": "REQUEST",
        "source": "BalatroMCP",
        "event_id": "6f1c0d6e-8a43-4c55-9d7b-0c4d2f7e9a11",
        "version": 1,
        "timestamp": 45231.7734,
        "payload": {
            "request_id": "req-42",
            "available_actions": ["play_hand", "discard", "sort_hand"],
            "time_limit_ms": time_limit_ms,
            "game_state": {
                "in_game": True,
                "game_id": "7LB2WVPK",
                "ante": 1,
                "round": 1,
                "hand_number": 0,
                "chips": 0,
                "mult": 0,
                "money": 4,
                "hand_size": 8,
                "hands_remaining": 4,
                "discards_remaining": 3,
                "score_history": {},
                "game_state": "SELECTING_HAND",
                "ui_state": "1",
                "timestamp": 1700000000,
                "frame_count": 1234,
                "consumables": {},
                "shop_items": {},
                "blind": {
                    "name": "Small Blind",
                    "chips": 300,
                    "chip_text": "300",
                    "mult": 1,
                    "defeated": False,
                    "boss": False,
                },
                "jokers": [
                    {
                        "id": 0.5123,
                        "name": "Zany Joker",
                        "position": 0,
                        "properties": {
                            "mult": 0,
                            "chips": 0,
                            "cost": 4,
                            "sell_value": 2,
                            "edition": "none",
                        },
                    }
                ],
                "hand": [_card(r, s, i) for i, (r, s) in enumerate(hand)],
                "deck": {
                    "remaining_count": 44,
                    "cards_remaining": {},
                    "full_deck": [_card(r, s) for r, s in hand],
                },
            },  # fmt: skip
        },
    }
    payload = unpack_payload(event_to_proto(decode_event(json.dumps(event))))
    assert isinstance(payload, LearningDecisionRequest)
    return payload


async def test_answers_a_realistic_request_over_nats(
    nc: Client, names: Names, settings: Settings
) -> None:
    async with running(endpoint, settings=settings, nc=nc):
        reply = await request(
            nc, names.subject(subjects.RPC_DECISION_GET), mod_request(), LearningDecisionResponse
        )
    # Three aces with a Zany Joker: (30 + 33) × (3 + 12) = 945 beats the 300-chip blind.
    assert reply.request_id == "req-42"
    assert reply.selected_action == "play_hand:0,2,4"
    assert expand_action(reply.selected_action) == [
        "select_card:0",
        "select_card:2",
        "select_card:4",
        "play_hand",
    ]
    assert reply.action_values["play_hand:0,2,4"] == 945
    assert reply.strategy_name == "heuristic-v1"
    assert reply.confidence >= 0.9
    assert not reply.used_llm and not reply.fallback


async def test_a_tiny_time_limit_against_a_slow_policy_gets_the_fallback_in_time(
    nc: Client, names: Names, settings: Settings
) -> None:
    subject = names.subject(subjects.RPC_DECISION_GET)
    sync_slow = create_endpoint(load_policy(f"{HERE}:slow_policy"), name="decision_sync")
    async_slow = create_endpoint(load_policy(f"{HERE}:slow_async_policy"), name="decision_async")
    for decl in (sync_slow, async_slow):
        async with running(decl, settings=settings, nc=nc):
            started = anyio.current_time()
            reply = await request(
                nc, subject, mod_request(time_limit_ms=30), LearningDecisionResponse, timeout=5
            )
            elapsed = anyio.current_time() - started
        assert reply.strategy_name == "fallback:timeout"
        assert reply.confidence == 0.0
        assert reply.fallback and reply.error_detail == "policy_timeout"
        assert reply.selected_action == "play_hand:0,1,2,3,4"  # the leftmost five: legal
        assert reply.request_id == "req-42"
        # At the 30 ms limit, not at the caller's 5 s deadline (the policy sleeps 3 s).
        assert elapsed < 2, f"{decl.name}: fallback after {elapsed:.3f}s"


async def test_the_callers_deadline_bounds_a_policy_with_no_time_limit(
    nc: Client, names: Names, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The margin (min(REPLY_MARGIN, budget / 5) = 0.2 s here) must cover both NATS trips and
    # the scheduling of a loaded machine; 10 ms does not always. The policy sleeps 3 s.
    monkeypatch.setattr(decision, "REPLY_MARGIN", 0.25)
    decl = create_endpoint(load_policy(f"{HERE}:slow_async_policy"))
    async with running(decl, settings=settings, nc=nc):
        reply = await request(
            nc,
            names.subject(subjects.RPC_DECISION_GET),
            mod_request(time_limit_ms=0),
            LearningDecisionResponse,
            timeout=1.0,
        )
    # An answer, not a DeadlineExceeded: the service keeps time to reply within the budget.
    assert reply.strategy_name == "fallback:timeout"


async def test_a_raising_policy_gets_the_error_fallback(
    nc: Client, names: Names, settings: Settings
) -> None:
    decl = create_endpoint(load_policy(f"{HERE}:raising_policy"))
    async with running(decl, settings=settings, nc=nc):
        reply = await request(
            nc, names.subject(subjects.RPC_DECISION_GET), mod_request(), LearningDecisionResponse
        )
    assert reply.strategy_name == "fallback:error"
    assert reply.error_detail == "policy_error: RuntimeError"
    assert reply.confidence == 0.0
    assert reply.selected_action == "play_hand:0,1,2,3,4"


async def test_many_late_requests_at_once_all_get_their_fallback_in_time(
    nc: Client, names: Names, settings: Settings
) -> None:
    decl = create_endpoint(load_policy(f"{HERE}:slow_async_policy"))
    replies: list[LearningDecisionResponse] = []
    async with running(decl, settings=settings, nc=nc):

        async def ask() -> None:
            replies.append(
                await request(
                    nc,
                    names.subject(subjects.RPC_DECISION_GET),
                    mod_request(time_limit_ms=50),
                    LearningDecisionResponse,
                    timeout=5,
                )
            )

        # Well before the callers' 5 s deadline: each got its fallback at the 50 ms limit.
        with anyio.fail_after(3):
            async with anyio.create_task_group() as tg:
                for _ in range(40):
                    tg.start_soon(ask)
    assert len(replies) == 40
    assert {r.strategy_name for r in replies} == {"fallback:timeout"}
