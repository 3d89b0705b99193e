"""msgspec models of the ``GAME_STATE`` payload and its parts.

Every field is optional because the mod leaves out what it could not read. Ids are
``float | str``: the mod sends ``Card.unique_val`` (a float such as ``0.5123``) and falls back
to a string such as ``"joker_1"``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from schemas._models import Model

__all__ = [
    "Blind",
    "Card",
    "Consumable",
    "Deck",
    "GameState",
    "Joker",
    "LearningDecision",
    "ShopItem",
]

Id: TypeAlias = float | str


class Joker(Model):
    """A joker the player holds (``position`` is 0-based)."""

    id: Id | None = None
    name: str | None = None
    position: int | None = None
    rarity: str | int | None = None
    properties: dict[str, Any] = {}
    """``mult``, ``chips``, ``cost``, ``sell_value``, ``edition``."""


class Card(Model):
    """A playing card; ``rank`` is ``"Ace"``, ``"King"``, ``"10"``..."""

    id: Id | None = None
    rank: str | int | None = None
    suit: str | None = None
    enhancement: str | None = None
    edition: str | None = None
    seal: str | None = None
    position: int | None = None


class Deck(Model):
    """The mod's ``deck`` object."""

    remaining_count: int | None = None
    cards_remaining: list[Card] = []
    """The top of the draw pile (at most 5 cards)."""
    full_deck: list[Card] = []
    """Every card the player owns."""


class Consumable(Model):
    """A tarot, planet or spectral card held."""

    id: Id | None = None
    name: str | None = None
    card_type: str | None = None
    position: int | None = None
    properties: dict[str, Any] = {}


class ShopItem(Model):
    """One entry of the ``shop_items`` object (keyed ``joker_1``, ``booster_1``...)."""

    name: str | None = None
    cost: float | None = None
    rarity: str | int | float | None = None


class Blind(Model):
    """The blind being played."""

    name: str | None = None
    chips: float | None = None
    chip_text: str | None = None
    mult: float | None = None
    defeated: bool | None = None
    boss: bool | None = None


class GameState(Model):
    """Payload of ``GAME_STATE``. Out of a run only ``in_game``, ``timestamp``, ``phase``."""

    in_game: bool | None = None
    game_id: str | None = None
    ante: int | None = None
    round: int | None = None
    hand_number: int | None = None
    chips: float | None = None
    """May exceed 2^31 or be infinite late in a run."""
    mult: float | None = None
    money: float | None = None
    hand_size: int | None = None
    hands_remaining: int | None = None
    discards_remaining: int | None = None
    score_history: dict[str, Any] = {}
    jokers: list[Joker] = []
    hand: list[Card] = []
    deck: Deck | list[Card] | None = None
    consumables: list[Consumable] = []
    shop_items: dict[str, ShopItem] = {}
    game_state: str | None = None
    """Phase name: ``BLIND_SELECT``, ``SHOP``, ``SELECTING_HAND``, ``UNKNOWN_STATE_<n>``..."""
    ui_state: str | None = None
    blind: Blind | None = None
    timestamp: float | None = None
    """Epoch SECONDS (``os.time()``), unlike the envelope's timestamp."""
    frame_count: int | None = None
    phase: str | None = None
    """Out of a run: ``"MENU"``."""


class LearningDecision(Model):
    """Payload of ``LEARNING_DECISION`` / ``REQUEST`` (defined by the mod, not sent today)."""

    request_id: str | None = None
    game_state: GameState | None = None
    available_actions: list[str] = []
    time_limit_ms: float | None = None
