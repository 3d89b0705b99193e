"""msgspec models of each payload the mod sends, and which one goes with which event type.

Names follow the event (``HandPlayed`` is the payload of ``HAND_PLAYED``). Every field is
optional because the mod leaves out what it could not read. ``GAME_STATE``'s parts are in
``schemas._state``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from schemas._models import Model
from schemas._state import GameState, Id, Joker, LearningDecision

__all__ = [
    "CardsDiscarded",
    "ChipsUpdate",
    "ConnectionTestData",
    "Diagnostic",
    "ErrorReport",
    "HandEvalComplete",
    "HandEvalStart",
    "HandPlayed",
    "Heartbeat",
    "JokerTrigger",
    "JokersChanged",
    "MoneyChanged",
    "MultUpdate",
    "Payload",
    "PhaseChanged",
    "RoundChanged",
    "RoundComplete",
    "ScoreChanged",
    "ScoreUpdate",
    "ScoringJoker",
    "ScoringJokerTrigger",
    "payload_model_for",
]


class Heartbeat(Model):
    """Payload of ``HEARTBEAT`` (every 5 s)."""

    version: str | None = None
    uptime: float | None = None
    """Milliseconds."""
    headless: bool | None = None
    game_state: str | int | float | None = None
    """Numeric state as a string, or ``"unknown"``."""


class MoneyChanged(Model):
    """Payload of ``MONEY_CHANGED``."""

    old_value: float | None = None
    new_value: float | None = None
    difference: float | None = None


class ScoreChanged(Model):
    """Payload of ``SCORE_CHANGED``."""

    old_chips: float | None = None
    new_chips: float | None = None
    old_mult: float | None = None
    new_mult: float | None = None


class HandPlayed(Model):
    """Payload of ``HAND_PLAYED``."""

    hands_remaining: int | None = None
    hand_number: int | None = None


class CardsDiscarded(Model):
    """Payload of ``CARDS_DISCARDED``."""

    discards_remaining: int | None = None


class JokersChanged(Model):
    """Payload of ``JOKERS_CHANGED``."""

    old_count: int | None = None
    new_count: int | None = None
    jokers: list[Joker] = []


class RoundChanged(Model):
    """Payload of ``ROUND_CHANGED``."""

    ante: int | None = None
    round: int | None = None


class PhaseChanged(Model):
    """Payload of ``PHASE_CHANGED``."""

    old_phase: str | None = None
    new_phase: str | None = None


class RoundComplete(Model):
    """Payload of ``ROUND_COMPLETE``."""

    ante: int | None = None
    round: int | None = None
    score: float | None = None
    money: float | None = None


class JokerTrigger(Model):
    """Payload of ``JOKER_TRIGGER`` (``priority: low``)."""

    joker_name: str | None = None
    context_type: bool | str | None = None
    """``true``, or the string ``"unknown"``."""
    timestamp: float | None = None


class HandEvalStart(Model):
    """Payload of ``SCORING`` / ``HAND_EVAL_START``."""

    starting_score: float | None = None
    ante: int | None = None
    round: int | None = None
    hand_number: int | None = None


class ScoreUpdate(Model):
    """Payload of ``SCORING`` / ``SCORE_UPDATE``."""

    previous_score: float | None = None
    new_score: float | None = None
    delta: float | None = None
    total_hand_delta: float | None = None
    context: str | None = None
    timestamp: float | None = None


class ScoringJoker(Model):
    """The joker of ``SCORING`` / ``JOKER_TRIGGER``."""

    name: str | None = None
    id: Id | None = None
    position: int | None = None


class ScoringJokerTrigger(Model):
    """Payload of ``SCORING`` / ``JOKER_TRIGGER``."""

    joker: ScoringJoker | None = None
    score_contribution: float | None = None
    current_total: float | None = None
    timestamp: float | None = None


class HandEvalComplete(Model):
    """Payload of ``SCORING`` / ``HAND_EVAL_COMPLETE`` (``priority: high``)."""

    starting_score: float | None = None
    final_score: float | None = None
    total_delta: float | None = None
    joker_triggers: int | None = None
    ante: int | None = None
    round: int | None = None
    hand_number: int | None = None


class MultUpdate(Model):
    """Payload of ``SCORING`` / ``MULT_UPDATE`` (defined by the mod)."""

    mult_before: float | None = None
    mult_after: float | None = None
    delta: float | None = None
    source: str | None = None
    timestamp: float | None = None


class ChipsUpdate(Model):
    """Payload of ``SCORING`` / ``CHIPS_UPDATE`` (defined by the mod)."""

    chips_before: float | None = None
    chips_after: float | None = None
    delta: float | None = None
    source: str | None = None
    timestamp: float | None = None


class ErrorReport(Model):
    """Payload of ``ERROR`` (defined by the mod, not sent today)."""

    message: str | None = None
    context: str | dict[str, Any] | None = None
    stack_trace: str | None = None


class Diagnostic(Model):
    """Payload of ``DIAGNOSTIC`` (defined by the mod, not sent today)."""

    message: str | None = None
    level: str | None = None


class ConnectionTestData(Model):
    """The ``data`` of the mod's ``connection_test``."""

    message: str | None = None


Payload: TypeAlias = (
    GameState
    | Heartbeat
    | MoneyChanged
    | ScoreChanged
    | HandPlayed
    | CardsDiscarded
    | JokersChanged
    | RoundChanged
    | PhaseChanged
    | RoundComplete
    | JokerTrigger
    | HandEvalStart
    | ScoreUpdate
    | ScoringJokerTrigger
    | HandEvalComplete
    | MultUpdate
    | ChipsUpdate
    | LearningDecision
    | ErrorReport
    | Diagnostic
    | ConnectionTestData
)
"""Any typed payload model."""

_BY_TYPE: dict[str, type[Payload]] = {
    "GAME_STATE": GameState,
    "HEARTBEAT": Heartbeat,
    "MONEY_CHANGED": MoneyChanged,
    "SCORE_CHANGED": ScoreChanged,
    "HAND_PLAYED": HandPlayed,
    "CARDS_DISCARDED": CardsDiscarded,
    "JOKERS_CHANGED": JokersChanged,
    "ROUND_CHANGED": RoundChanged,
    "PHASE_CHANGED": PhaseChanged,
    "ROUND_COMPLETE": RoundComplete,
    "JOKER_TRIGGER": JokerTrigger,
    "ERROR": ErrorReport,
    "DIAGNOSTIC": Diagnostic,
    "CONNECTION_TEST": ConnectionTestData,
}
_BY_SUBTYPE: dict[tuple[str, str], type[Payload]] = {
    ("SCORING", "HAND_EVAL_START"): HandEvalStart,
    ("SCORING", "SCORE_UPDATE"): ScoreUpdate,
    ("SCORING", "JOKER_TRIGGER"): ScoringJokerTrigger,
    ("SCORING", "HAND_EVAL_COMPLETE"): HandEvalComplete,
    ("SCORING", "MULT_UPDATE"): MultUpdate,
    ("SCORING", "CHIPS_UPDATE"): ChipsUpdate,
    ("LEARNING_DECISION", "REQUEST"): LearningDecision,
    ("LEARNING_DECISION", ""): LearningDecision,
}


def payload_model_for(event_type: str, subtype: str | None = None) -> type[Payload] | None:
    """The model of a payload, by the mod's type string (any case) and subtype.

    Returns ``None`` for a type or subtype nobody modelled: such events are kept as they are.
    """
    key = event_type.strip().upper()
    found = _BY_TYPE.get(key)
    if found is not None:
        return found
    return _BY_SUBTYPE.get((key, (subtype or "").strip().upper()))
