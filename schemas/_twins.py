"""Best-effort values for the spec's narrow fields whose exact value lives in an ``_exact`` twin.

The spec types ``chips`` as int32 and ``score_history`` as ``map<string, float>``; late-game
scores pass 2^31 and reach infinity. The exact value goes to the twin; these functions fill
the spec's field as well as it can (saturating at the type's limits) so a reader that only
knows the spec still sees a sensible number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from schemas._values import (
    FLOAT_TYPES,
    from_value,
    is_number,
    number_out,
    to_float,
    to_value,
)

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

__all__ = ["COMPAT"]

_GAME_STATE = "jimbot.events.v1.GameStateEvent"


def _saturated(value: Any, low: int = -(2**31), high: int = 2**31 - 1) -> int | None:
    if not is_number(value) or math.isnan(value):
        return None
    return int(max(low, min(high, value)))


def _scalar_compat(name: str) -> Callable[[Message, Any], None]:
    """Fill an int32 / float spec field from the exact number, saturating."""

    def compat(msg: Message, value: Any) -> None:
        field = cast("Descriptor", msg.DESCRIPTOR).fields_by_name[name]
        if field.type in FLOAT_TYPES:
            if is_number(value):
                setattr(msg, name, to_float(value))
        elif (number := _saturated(value)) is not None:
            setattr(msg, name, number)

    return compat


def _shop_costs(msg: Message, value: Any) -> None:
    for key, item in value.items():
        cost = _saturated(item.get("cost")) if isinstance(item, Mapping) else None
        if cost is not None:
            msg.shop_items[str(key)] = cost  # type: ignore[attr-defined]


def _numeric_entries(msg: Message, value: Any) -> None:
    for key, item in value.items():
        if is_number(item):
            msg.score_history[str(key)] = to_float(item)  # type: ignore[attr-defined]


def _quick_text(value: Any) -> str | None:
    """What ``_as_text`` gives a bool or finite number, without the Value round trip and
    ``json.dumps`` (one per joker property, every GAME_STATE); None: take the long way."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int and -(2**53) <= value <= 2**53:
        return str(value)  # a double holds it exactly; json.dumps(int) is str(int)
    if kind is float and math.isfinite(value):
        return str(number_out(value))  # json.dumps(float) is float.__repr__, as str is
    return None


def _as_text(value: Any) -> str:
    """A property value as the spec's string: JSON text, numbers as the codec shows them
    (so the text is the same however often the value crosses JSON and back)."""
    if isinstance(value, str):
        return value
    quick = _quick_text(value)
    if quick is not None:
        return quick
    canonical = from_value(to_value(value))
    return json.dumps(
        canonical, ensure_ascii=False, separators=(",", ":"), allow_nan=True, sort_keys=True
    )


def _property_texts(msg: Message, value: Any) -> None:
    for key, item in value.items():
        if item is not None:
            msg.properties[str(key)] = _as_text(item)  # type: ignore[attr-defined]


# (message, spec field) -> fills the spec field from the value stored in its `_exact` twin.
COMPAT: dict[tuple[str, str], Callable[[Message, Any], None]] = {
    (_GAME_STATE, "chips"): _scalar_compat("chips"),
    (_GAME_STATE, "mult"): _scalar_compat("mult"),
    (_GAME_STATE, "money"): _scalar_compat("money"),
    (_GAME_STATE, "shop_items"): _shop_costs,
    (_GAME_STATE, "score_history"): _numeric_entries,
    (f"{_GAME_STATE}.Joker", "properties"): _property_texts,
    ("jimbot.events.v1.DecisionContext", "current_score"): _scalar_compat("current_score"),
    ("jimbot.events.v1.DecisionContext", "target_score"): _scalar_compat("target_score"),
}
