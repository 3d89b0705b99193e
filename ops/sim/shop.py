"""The shop between blinds: jokers for sale, a couple of packs and a voucher.

Its ``items`` are the mod's ``shop_items`` object, keyed ``joker_1``, ``booster_1``,
``voucher_1``… in shelf order; buying an item shifts the ones after it down, as ``ipairs``
over the shop's card areas does in the mod.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ops.sim.jokers import CATALOGUE, Joker

if TYPE_CHECKING:
    from random import Random

__all__ = ["BOOSTERS", "VOUCHERS", "Shop"]

BOOSTERS = (("Arcana Pack", 4), ("Celestial Pack", 4), ("Buffoon Pack", 4), ("Standard Pack", 4))
VOUCHERS = (("Overstock", 10), ("Clearance Sale", 10), ("Hone", 10), ("Grabber", 10))


@dataclass(slots=True)
class Shop:
    """What is on the shelves; empty outside the SHOP phase."""

    jokers: list[Joker] = field(default_factory=list)
    boosters: list[tuple[str, int]] = field(default_factory=list)
    vouchers: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def open(cls, rng: Random, *, ante: int, jokers: int) -> Shop:
        """A freshly stocked shop for ``ante``: the voucher changes once per ante."""
        shop = cls(
            boosters=[rng.choice(BOOSTERS) for _ in range(2)],
            vouchers=[VOUCHERS[(ante - 1) % len(VOUCHERS)]],
        )
        shop.restock(rng, jokers)
        return shop

    def restock(self, rng: Random, jokers: int) -> None:
        """Replace the jokers on sale (a new shop, or a reroll)."""
        self.jokers = [Joker(rng.choice(CATALOGUE), rng.random()) for _ in range(jokers)]

    def items(self) -> dict[str, dict[str, Any]]:
        """The mod's ``shop_items``: an object, never a list."""
        out: dict[str, dict[str, Any]] = {}
        for i, joker in enumerate(self.jokers, 1):
            kind = joker.kind
            out[f"joker_{i}"] = {"name": kind.name, "cost": kind.cost, "rarity": kind.rarity}
        for i, (name, cost) in enumerate(self.boosters, 1):
            out[f"booster_{i}"] = {"name": name, "cost": cost}
        for i, (name, cost) in enumerate(self.vouchers, 1):
            out[f"voucher_{i}"] = {"name": name, "cost": cost}
        return out
