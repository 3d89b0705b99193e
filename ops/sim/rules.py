"""The game: a small, seeded Balatro that applies the mod's text commands.

Eight antes of Small, Big and Boss blinds (Balatro's base targets), 4 hands and 3 discards a
round with 8 cards in hand, the poker hand table, money (blind rewards, $1 per unused hand,
interest), and a shop of jokers. Phases carry the mod's names. Commands are the lines the
mod reads from its poll (``select_card:0``, ``play_hand``, ``buy_joker:1``…); one that does
not fit the current state is ignored and counted, never fatal. ``max_steps`` bounds a game so
that no sequence of commands can keep it alive forever.

Indexes: ``select_card:N`` is 0-based (the mod adds 1); ``buy_joker:N``, ``buy_booster:N``,
``buy_voucher:N`` and ``sell_joker:N`` are the mod's 1-based Lua indexes (``buy_joker:1`` is
the shop's ``joker_1``; no index means 1). The real mod loses those indexes in parsing (it
always buys the first joker and never sells); the simulator does what the command says.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import dataclass, replace

from ops.sim.blinds import BASE_TARGETS, BOSS_NAMES, FINAL_BOSSES, KINDS, REWARD, Blind, make_blind
from ops.sim.commands import lua_index, lua_tonumber, parse_command
from ops.sim.jokers import Joker, Scored, score_hand
from ops.sim.poker import SUITS, Card
from ops.sim.shop import Shop

__all__ = ["PHASES", "STATE_NUMBERS", "Game", "GameOptions", "Outcome"]

PHASES = ("BLIND_SELECT", "SELECTING_HAND", "ROUND_EVAL", "SHOP", "GAME_OVER")
STATE_NUMBERS = {"SELECTING_HAND": 1, "GAME_OVER": 4, "SHOP": 5, "BLIND_SELECT": 7, "ROUND_EVAL": 8}
"""Phase → Balatro's ``G.STATE`` number, sent as ``ui_state`` and in heartbeats."""


@dataclass(frozen=True, kw_only=True)
class GameOptions:
    """Rule settings; the defaults are Balatro's (White Stake, Red Deck without its bonus)."""

    hand_size: int = 8
    hands: int = 4
    discards: int = 3
    start_money: int = 4
    max_jokers: int = 5
    shop_jokers: int = 2
    reroll_cost: int = 5
    skip_reward: int = 5
    """Money for skipping a Small or Big blind (stands in for Balatro's skip tags)."""
    score_multiplier: float = 1.0
    """Scales every hand's score; 1e308 overflows scores to ``inf`` as late-game runs do."""
    max_steps: int = 3000
    """Commands a game accepts (valid or not) before it ends as ``stalled``."""


@dataclass(slots=True)
class Outcome:
    """What a command did, for the mod's hooks (scoring events, ROUND_COMPLETE…)."""

    ok: bool
    scored: Scored | None = None
    round_complete: bool = False
    bought: bool = False


class Game:
    """One seeded run. Read its attributes; change it only through :meth:`apply`."""

    def __init__(self, seed: int, options: GameOptions | None = None) -> None:
        self.options = options or GameOptions()
        self.seed = seed
        self.rng = random.Random(seed)
        alphabet = string.ascii_uppercase + string.digits
        self.game_id = "".join(self.rng.choice(alphabet) for _ in range(8))
        self.phase = "BLIND_SELECT"
        self.outcome: str | None = None
        """``won``, ``lost`` or ``stalled`` once the game is over."""
        self.ante, self.blind_index, self.round = 1, 0, 0
        self.money = self.options.start_money
        self.hands_left, self.discards_left, self.hands_played = 0, 0, 0
        self.round_score, self.last_chips, self.last_mult = 0.0, 0.0, 0.0
        self.full_deck = [Card(r, s, self.rng.random()) for s in SUITS for r in range(2, 15)]
        self.draw_pile: list[Card] = []
        self.hand: list[Card] = []
        self.highlighted: list[Card] = []
        self.jokers: list[Joker] = []
        self.shop = Shop()
        self.bosses = [self.rng.choice(BOSS_NAMES) for _ in range(7)]
        self.bosses.append(self.rng.choice(FINAL_BOSSES))
        self.played: Blind | None = None
        self.pending_cash = 0
        self.score_history: dict[str, list[float]] = {}
        self.steps = 0
        self.invalid: Counter[str] = Counter()

    @property
    def upcoming(self) -> Blind:
        """The next blind to select (what BLIND_SELECT offers)."""
        return make_blind(self.ante, KINDS[self.blind_index], self.bosses[self.ante - 1])

    @property
    def blind(self) -> Blind:
        """The blind to show: the upcoming one while choosing, else the one played."""
        if self.phase == "BLIND_SELECT" or self.played is None:
            return self.upcoming
        return self.played

    def apply(self, command: str) -> Outcome:
        """Apply one command line (``name`` or ``name:params``), as the mod parses it."""
        if self.phase == "GAME_OVER":
            self.invalid[command.partition(":")[0]] += 1
            return Outcome(False)
        self.steps += 1
        name, params = parse_command(command)
        handler = getattr(self, f"_cmd_{name}", None)
        result = handler(params) if handler is not None and name else Outcome(False)
        if not result.ok:
            self.invalid[name] += 1
        if self.steps >= self.options.max_steps and self.phase != "GAME_OVER":
            self._end("stalled")
        return result

    # -- blind selection -------------------------------------------------------------------

    def _select(self, kind: str) -> Outcome:
        if self.phase != "BLIND_SELECT" or KINDS[self.blind_index] != kind:
            return Outcome(False)
        self.played = self.upcoming
        self.round += 1
        self.phase = "SELECTING_HAND"
        self.hands_left, self.discards_left = self.options.hands, self.options.discards
        self.hands_played, self.round_score, self.last_chips, self.last_mult = 0, 0.0, 0.0, 0.0
        self.draw_pile = self.full_deck[:]
        self.rng.shuffle(self.draw_pile)
        self.hand, self.highlighted = [], []
        self._draw()
        return Outcome(True)

    def _cmd_select_small_blind(self, _: str) -> Outcome:
        return self._select("small")

    def _cmd_select_big_blind(self, _: str) -> Outcome:
        return self._select("big")

    def _cmd_select_boss_blind(self, _: str) -> Outcome:
        return self._select("boss")

    def _cmd_skip_blind(self, _: str) -> Outcome:
        if self.phase != "BLIND_SELECT" or KINDS[self.blind_index] == "boss":
            return Outcome(False)
        self.money += self.options.skip_reward
        self.blind_index += 1
        return Outcome(True)

    # -- playing a round -------------------------------------------------------------------

    def _draw(self) -> None:
        while len(self.hand) < self.options.hand_size and self.draw_pile:
            self.hand.append(self.draw_pile.pop())

    def _cmd_select_card(self, params: str) -> Outcome:
        index = lua_tonumber(params)
        if self.phase != "SELECTING_HAND" or index is None or not 0 <= index < len(self.hand):
            return Outcome(False)
        card = self.hand[index]
        if card in self.highlighted:
            self.highlighted.remove(card)
        elif len(self.highlighted) < 5:
            self.highlighted.append(card)
        else:
            return Outcome(False)
        return Outcome(True)

    def _take_highlighted(self) -> list[Card]:
        cards = [card for card in self.hand if card in self.highlighted]
        self.hand = [card for card in self.hand if card not in self.highlighted]
        self.highlighted = []
        return cards

    def _cmd_play_hand(self, _: str) -> Outcome:
        if self.phase != "SELECTING_HAND" or not self.highlighted:
            return Outcome(False)
        played = self._take_highlighted()
        scored = score_hand(
            played,
            self.jokers,
            discards_left=self.discards_left,
            score_multiplier=self.options.score_multiplier,
        )
        self.round_score += scored.score
        self.last_chips, self.last_mult = scored.chips, scored.mult
        self.hands_left -= 1
        self.hands_played += 1
        self._draw()
        assert self.played is not None
        if self.round_score >= self.played.chips:
            self._win_round()
            return Outcome(True, scored=scored, round_complete=True)
        if self.hands_left == 0:
            self._end("lost")
        return Outcome(True, scored=scored)

    def _cmd_discard(self, _: str) -> Outcome:
        if self.phase != "SELECTING_HAND" or not self.highlighted or self.discards_left <= 0:
            return Outcome(False)
        self._take_highlighted()
        self.discards_left -= 1
        self._draw()
        return Outcome(True)

    def _cmd_sort_hand(self, _: str) -> Outcome:
        if self.phase != "SELECTING_HAND":
            return Outcome(False)
        self.hand.sort(key=lambda card: (-card.rank, SUITS.index(card.suit)))
        return Outcome(True)

    def _win_round(self) -> None:
        assert self.played is not None
        blind = self.played
        self.played = replace(blind, defeated=True)
        self.score_history.setdefault(str(self.ante), []).append(self.round_score)
        self.hand, self.draw_pile = [], []
        if blind.boss and self.ante == len(BASE_TARGETS):
            self._end("won")
            return
        interest = min(self.money // 5, 5)
        self.pending_cash = REWARD[blind.kind] + self.hands_left + interest
        self.phase = "ROUND_EVAL"
        self.blind_index += 1
        if self.blind_index == len(KINDS):
            self.ante, self.blind_index = self.ante + 1, 0

    def _end(self, outcome: str) -> None:
        self.phase, self.outcome = "GAME_OVER", outcome

    # -- cash out and shop -----------------------------------------------------------------

    def _cash_out(self) -> None:
        self.money += self.pending_cash
        self.pending_cash = 0

    def _cmd_go_to_shop(self, params: str) -> Outcome:
        if self.phase == "SHOP":
            return self._cmd_skip_shop(params)
        if self.phase != "ROUND_EVAL":
            return Outcome(False)
        self._cash_out()
        self.shop = Shop.open(self.rng, ante=self.ante, jokers=self.options.shop_jokers)
        self.phase = "SHOP"
        return Outcome(True)

    def _cmd_skip_shop(self, _: str) -> Outcome:
        if self.phase == "ROUND_EVAL":
            self._cash_out()
        elif self.phase != "SHOP":
            return Outcome(False)
        self.shop = Shop()
        self.phase = "BLIND_SELECT"
        return Outcome(True)

    def _cmd_reroll_shop(self, _: str) -> Outcome:
        if self.phase != "SHOP" or self.money < self.options.reroll_cost:
            return Outcome(False)
        self.money -= self.options.reroll_cost
        self.shop.restock(self.rng, self.options.shop_jokers)
        return Outcome(True)

    def _cmd_buy_joker(self, params: str) -> Outcome:
        i = lua_index(params)
        if self.phase != "SHOP" or i is None or not 0 <= i < len(self.shop.jokers):
            return Outcome(False)
        joker = self.shop.jokers[i]
        if self.money < joker.kind.cost or len(self.jokers) >= self.options.max_jokers:
            return Outcome(False)
        self.money -= joker.kind.cost
        self.jokers.append(self.shop.jokers.pop(i))
        return Outcome(True, bought=True)

    def _cmd_buy_booster(self, params: str) -> Outcome:
        # Packs and vouchers are accepted but do nothing: the simulator has no consumables.
        i = lua_index(params)
        ok = self.phase == "SHOP" and i is not None and 0 <= i < len(self.shop.boosters)
        return Outcome(ok, bought=ok)

    def _cmd_buy_voucher(self, params: str) -> Outcome:
        i = lua_index(params)
        ok = self.phase == "SHOP" and i is not None and 0 <= i < len(self.shop.vouchers)
        return Outcome(ok, bought=ok)

    def _cmd_sell_joker(self, params: str) -> Outcome:
        i = lua_index(params)
        if i is None or not 0 <= i < len(self.jokers):
            return Outcome(False)
        self.money += self.jokers.pop(i).kind.sell_value
        return Outcome(True)
