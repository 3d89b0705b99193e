"""Blinds: the three per ante, their chip targets, rewards and boss names.

Targets are Balatro's base amounts (White Stake): the Small blind's chips per ante, with the
Big blind at 1.5× and the Boss at 2×. Beating a blind pays $3, $4 or $5.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BASE_TARGETS",
    "BOSS_NAMES",
    "FINAL_BOSSES",
    "KINDS",
    "REWARD",
    "Blind",
    "blind_target",
    "make_blind",
]

BASE_TARGETS = (300, 800, 2000, 5000, 11000, 20000, 35000, 50000)
"""Small blind chips for antes 1–8."""
KINDS = ("small", "big", "boss")
SCALE = {"small": 1.0, "big": 1.5, "boss": 2.0}
REWARD = {"small": 3, "big": 4, "boss": 5}
BOSS_NAMES = (
    "The Hook", "The Ox", "The House", "The Wall", "The Wheel", "The Arm", "The Club",
    "The Fish", "The Psychic", "The Goad", "The Water", "The Window", "The Manacle",
    "The Eye", "The Mouth", "The Plant", "The Serpent", "The Pillar", "The Needle",
    "The Head", "The Tooth", "The Flint", "The Mark",
)  # fmt: skip
FINAL_BOSSES = ("Amber Acorn", "Verdant Leaf", "Violet Vessel", "Crimson Heart", "Cerulean Bell")
"""Ante 8's boss is one of these, as in Balatro."""


def blind_target(ante: int, kind: str) -> int:
    """Chips needed to beat blind ``kind`` (small, big, boss) of ``ante`` (1–8)."""
    return int(BASE_TARGETS[ante - 1] * SCALE[kind])


@dataclass(frozen=True, slots=True)
class Blind:
    """A blind as the mod's ``blind`` object shows it."""

    kind: str
    name: str
    chips: int
    mult: float
    boss: bool
    defeated: bool = False


def make_blind(ante: int, kind: str, boss_name: str, *, defeated: bool = False) -> Blind:
    """The blind ``kind`` of ``ante``; ``boss_name`` names it when it is the boss."""
    boss = kind == "boss"
    name = boss_name if boss else f"{kind.title()} Blind"
    return Blind(kind, name, blind_target(ante, kind), SCALE[kind], boss, defeated)
