"""The compact action grammar of ``selected_action``, and its expansion into mod commands.

One string per decision keeps ``LearningDecisionResponse`` readable in logs and lets a trained
model answer with a short token; the game director turns it into the mod's text lines::

    play_hand:0,2,3      select_card:0 / select_card:2 / select_card:3 / play_hand
    discard:1,4          select_card:1 / select_card:4 / discard
    buy_joker:1          buy_joker:1            (n = the shop key's number: joker_1)
    reroll_shop, skip_shop, go_to_shop, select_small_blind, select_big_blind,
    select_boss_blind, skip_blind, sort_hand     the same single line
    buy_booster:n, buy_voucher:n, sell_joker:n   the same single line (1-based, as the mod)
    none                 nothing to send

Card positions are 0-based positions in the hand (the mod's ``select_card:N``), 1 to 5 of
them, distinct.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import JimbotError

NONE = "none"
CARD_ACTIONS = frozenset({"play_hand", "discard"})
INDEXED_ACTIONS = frozenset({"buy_joker", "buy_booster", "buy_voucher", "sell_joker"})
SIMPLE_ACTIONS = frozenset(
    {
        "reroll_shop",
        "skip_shop",
        "go_to_shop",
        "select_small_blind",
        "select_big_blind",
        "select_boss_blind",
        "skip_blind",
        "sort_hand",
    }
)


class InvalidActionError(JimbotError, ValueError):
    """Raised when an action string does not follow the grammar; the message says the rule."""

    def __init__(self, action: str, rule: str) -> None:
        self.action = action
        super().__init__(f"invalid action {action!r}: {rule}")


def play_hand(positions: Iterable[int]) -> str:
    """``play_hand:0,2,3``."""
    return "play_hand:" + ",".join(str(p) for p in positions)


def discard(positions: Iterable[int]) -> str:
    """``discard:1,4``."""
    return "discard:" + ",".join(str(p) for p in positions)


def _positions(action: str, arg: str) -> list[int]:
    try:
        positions = [int(p) for p in arg.split(",")]
    except ValueError:
        raise InvalidActionError(action, "card positions are comma-separated integers") from None
    if not 1 <= len(positions) <= 5:
        raise InvalidActionError(action, "select 1 to 5 cards")
    if min(positions) < 0 or len(set(positions)) != len(positions):
        raise InvalidActionError(action, "card positions are distinct and 0-based")
    return positions


def expand_action(action: str) -> list[str]:
    """The mod's command lines for one action (empty for ``none``).

    Raises:
        InvalidActionError: for an unknown name or bad arguments.
    """
    text = action.strip()
    name, sep, arg = text.partition(":")
    if text in ("", NONE):
        return []
    if name in CARD_ACTIONS:
        return [f"select_card:{p}" for p in _positions(text, arg)] + [name]
    if name in INDEXED_ACTIONS:
        if not arg.isdigit() or int(arg) < 1:
            raise InvalidActionError(text, f"{name} takes a 1-based index, e.g. {name}:1")
        return [f"{name}:{int(arg)}"]
    if name in SIMPLE_ACTIONS:
        if sep:
            raise InvalidActionError(text, f"{name} takes no argument")
        return [name]
    raise InvalidActionError(text, "unknown action name")
