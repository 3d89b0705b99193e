"""Cached strategies in the ``STRATEGY_CACHE`` bucket, keyed by what the answer depends on.

The key is a digest of the provider's name, the game state without what changes while nothing
happens (clocks, frame counter, UI state, card and joker ids, the run's id), the offered
actions (as a set), the question (whitespace folded) and the decision context without its
history. Two copies asking the same thing find the same key; a different model asks anew.

An entry (:class:`subjects.CacheEntry`) counts until its ``expires_at`` (the advisor's TTL,
``JIMBOT_STRATEGY_CACHE_TTL``, default one hour); the bucket's max age (one day) deletes it.
An entry that does not parse is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
from google.protobuf import json_format
from nats.js.errors import KeyNotFoundError

from handlers.policies import game_phase
from schemas import events_pb2
from subjects import CacheEntry

if TYPE_CHECKING:
    from nats.js.kv import KeyValue


def cache_key(request: events_pb2.StrategyRequest, provider: str) -> str:
    """The KV key of ``request``'s answer from ``provider`` (40 hex characters)."""
    stable = events_pb2.StrategyRequest()
    state = stable.game_state
    state.CopyFrom(request.game_state)
    for volatile in ("timestamp", "frame_count", "ui_state", "game_id"):
        state.ClearField(volatile)
    for card in (*state.hand, *state.deck, *state.deck_info.cards_remaining):
        card.ClearField("id")
    for joker in state.jokers:
        joker.ClearField("id")
    for consumable in state.consumables:
        consumable.ClearField("id")
    stable.available_actions.extend(sorted(set(request.available_actions)))
    if request.question:
        stable.question = " ".join(request.question.split())
    stable.context.CopyFrom(request.context)
    stable.context.ClearField("recent_actions")
    digest = hashlib.sha256(provider.encode() + b"\0")
    digest.update(stable.SerializeToString(deterministic=True))
    return digest.hexdigest()[:40]


class StrategyCache:
    """Reads and writes cached answers; ``ttl`` of 0 turns caching off."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock

    async def get(self, kv: KeyValue, key: str) -> events_pb2.StrategyResponse | None:
        """The cached answer (``cached=true``), or ``None`` when absent or expired."""
        if self.ttl <= 0:
            return None
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None
        try:
            cached = msgspec.json.decode(entry.value or b"", type=CacheEntry)
            if cached.expires_at <= self.clock():
                return None
            response = json_format.ParseDict(
                cached.strategy, events_pb2.StrategyResponse(), ignore_unknown_fields=True
            )
        except (msgspec.DecodeError, json_format.ParseError):
            return None
        response.cached = True
        return response

    async def put(
        self,
        kv: KeyValue,
        key: str,
        response: events_pb2.StrategyResponse,
        *,
        request: events_pb2.StrategyRequest,
        provider: str,
    ) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        stored = events_pb2.StrategyResponse()
        stored.CopyFrom(response)
        stored.ClearField("request_id")  # the next asker's id goes in, not this one's
        stored.ClearField("cached")
        entry = CacheEntry(
            key=key,
            provider=provider,
            created_at=round(now, 3),
            expires_at=round(now + self.ttl, 3),
            strategy=json_format.MessageToDict(stored, preserving_proto_field_name=True),
            question=request.question[:500],
            phase=game_phase(request.game_state),
        )
        await kv.put(key, msgspec.json.encode(entry))
