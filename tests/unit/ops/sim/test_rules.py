"""The game's rules and how it takes the mod's commands."""

from __future__ import annotations

import pytest

from ops.sim.autopilot import decide
from ops.sim.blinds import blind_target
from ops.sim.jokers import CATALOGUE, Joker
from ops.sim.poker import Card
from ops.sim.rules import Game, GameOptions


def play_to_end(game: Game, limit: int = 10_000) -> int:
    """Drive a game with the autopilot; returns the number of decisions."""
    for decisions in range(limit):
        if game.phase == "GAME_OVER":
            return decisions
        for command in decide(game):
            game.apply(command)
    raise AssertionError("the game did not end")


def in_round(seed: int = 1, **options: object) -> Game:
    game = Game(seed, GameOptions(**options))  # type: ignore[arg-type]
    assert game.apply("select_small_blind").ok
    return game


def set_hand(game: Game, ranks: list[int], suit: str = "Spades") -> None:
    game.hand = [Card(rank, suit, i / 10) for i, rank in enumerate(ranks)]
    game.highlighted = []


@pytest.mark.parametrize(
    ("ante", "targets"),
    [
        (1, (300, 450, 600)),
        (2, (800, 1200, 1600)),
        (3, (2000, 3000, 4000)),
        (4, (5000, 7500, 10000)),
        (5, (11000, 16500, 22000)),
        (6, (20000, 30000, 40000)),
        (7, (35000, 52500, 70000)),
        (8, (50000, 75000, 100000)),
    ],
)
def test_blind_targets(ante: int, targets: tuple[int, int, int]) -> None:
    assert tuple(blind_target(ante, kind) for kind in ("small", "big", "boss")) == targets


def test_new_game_waits_on_the_small_blind() -> None:
    game = Game(3)
    assert (game.phase, game.ante, game.money) == ("BLIND_SELECT", 1, 4)
    assert game.upcoming.name == "Small Blind"
    assert len(game.game_id) == 8
    assert len({(c.rank, c.suit) for c in game.full_deck}) == 52


def test_selecting_the_blind_deals_a_round() -> None:
    game = in_round()
    assert game.phase == "SELECTING_HAND"
    assert (len(game.hand), len(game.draw_pile)) == (8, 44)
    assert (game.hands_left, game.discards_left, game.round) == (4, 3, 1)


def test_only_the_upcoming_blind_can_be_selected_and_the_boss_not_skipped() -> None:
    game = Game(3)
    assert not game.apply("select_big_blind").ok
    assert game.apply("skip_blind").ok and game.money == 4 + 5
    assert game.upcoming.kind == "big"
    assert game.apply("skip_blind").ok
    assert not game.apply("skip_blind").ok
    assert game.upcoming.boss
    assert game.apply("select_boss_blind").ok
    assert game.invalid == {"select_big_blind": 1, "skip_blind": 1}


def test_select_card_is_zero_based_toggles_and_stops_at_five() -> None:
    game = in_round()
    for i in range(5):
        assert game.apply(f"select_card:{i}").ok
    assert not game.apply("select_card:5").ok
    assert game.apply("select_card:0").ok
    assert game.highlighted == game.hand[1:5]
    assert game.apply("select_card: 5 ").ok  # Lua's tonumber allows blanks
    assert not game.apply("select_card:8").ok
    assert not game.apply("select_card:x").ok
    assert not game.apply("select_card").ok


def test_playing_scores_refills_and_counts_hands() -> None:
    game = in_round()
    set_hand(game, [13, 13, 2, 3, 4, 6, 8, 9])
    game.apply("select_card:0")
    game.apply("select_card:1")
    outcome = game.apply("play_hand")
    assert outcome.scored is not None and outcome.scored.hand == "Pair"
    assert game.round_score == 60
    assert (game.hands_left, game.hands_played, len(game.hand)) == (3, 1, 8)


def test_discard_uses_a_discard_and_needs_a_selection() -> None:
    game = in_round()
    assert not game.apply("discard").ok
    game.apply("select_card:0")
    assert game.apply("discard").ok
    assert (game.discards_left, len(game.hand)) == (2, 8)
    game.discards_left = 0
    game.apply("select_card:0")
    assert not game.apply("discard").ok


def test_beating_the_blind_pays_reward_unused_hands_and_interest() -> None:
    game = in_round()
    game.money = 12  # interest $2
    set_hand(game, [14, 14, 14, 14, 13, 2, 3, 4])
    for i in range(4):
        game.apply(f"select_card:{i}")
    outcome = game.apply("play_hand")  # four aces: (60 + 44) x 7 = 728 >= 300
    assert outcome.round_complete
    assert game.phase == "ROUND_EVAL" and game.blind.defeated
    assert game.score_history == {"1": [728.0]}
    assert game.apply("go_to_shop").ok
    assert game.phase == "SHOP"
    assert game.money == 12 + 3 + 3 + 2  # small blind $3, 3 hands left, interest


def test_interest_is_capped_at_five() -> None:
    game = in_round()
    game.money = 100
    game.round_score = 10_000.0
    set_hand(game, [2, 3, 4, 5, 7, 9, 11, 13])
    game.apply("select_card:0")
    game.apply("play_hand")
    game.apply("skip_shop")  # cash out and skip the shop
    assert game.phase == "BLIND_SELECT"
    assert game.money == 100 + 3 + 3 + 5


def test_running_out_of_hands_loses() -> None:
    game = in_round()
    for _ in range(4):
        set_hand(game, [2, 3, 4, 5, 7, 9, 11, 13], "Hearts")
        game.apply("select_card:0")
        game.apply("play_hand")
    assert (game.phase, game.outcome) == ("GAME_OVER", "lost")
    assert not game.apply("select_small_blind").ok


def shop(game: Game) -> None:
    game.phase, game.pending_cash = "ROUND_EVAL", 0
    assert game.apply("go_to_shop").ok


def test_shop_buy_sell_and_reroll() -> None:
    game = Game(5)
    game.money = 20
    shop(game)
    items = game.shop.items()
    assert set(items) == {"joker_1", "joker_2", "booster_1", "booster_2", "voucher_1"}
    first, second = game.shop.jokers
    assert game.apply("buy_joker:2").ok
    assert game.jokers == [second]
    assert game.money == 20 - second.kind.cost
    assert list(game.shop.items())[:1] == ["joker_1"] and game.shop.jokers == [first]
    assert not game.apply("buy_joker:2").ok  # gone
    money = game.money
    assert game.apply("sell_joker:1").ok
    assert game.money == money + max(1, second.kind.cost // 2) and game.jokers == []
    assert not game.apply("sell_joker:1").ok
    money = game.money
    assert game.apply("reroll_shop").ok and game.money == money - 5
    assert len(game.shop.jokers) == 2
    assert game.apply("buy_booster:1").ok and game.apply("buy_voucher").ok
    assert game.money == money - 5  # packs and vouchers do nothing here
    assert game.apply("skip_shop").ok and game.phase == "BLIND_SELECT"


def test_shop_refuses_what_cannot_be_afforded_or_held() -> None:
    game = Game(5)
    game.money = 0
    shop(game)
    assert not game.apply("buy_joker:1").ok
    assert not game.apply("reroll_shop").ok
    game.money = 100
    game.jokers = [Joker(CATALOGUE[0], i / 10) for i in range(5)]
    assert not game.apply("buy_joker:1").ok
    assert game.apply("go_to_shop").ok and game.phase == "BLIND_SELECT"


def test_invalid_commands_are_ignored_and_counted() -> None:
    game = Game(9)
    before = (game.phase, game.money)
    for command in ["play_hand", "fly_away", ":3", "buy_joker:1", "discard", "go_to_shop", ""]:
        assert not game.apply(command).ok
    assert (game.phase, game.money) == before
    assert sum(game.invalid.values()) == 7
    assert game.invalid["fly_away"] == 1


def test_a_game_cannot_be_kept_alive_forever() -> None:
    game = Game(2, GameOptions(max_steps=50))
    for _ in range(200):
        game.apply("sort_hand")
    assert (game.phase, game.outcome, game.steps) == ("GAME_OVER", "stalled", 50)


def test_seeded_autopilot_game_finishes_the_same_way_twice() -> None:
    first, second = Game(11), Game(11)
    decisions = play_to_end(first)
    assert play_to_end(second) == decisions
    assert first.outcome in {"won", "lost"}
    assert (first.outcome, first.ante, first.money, first.round) == (
        second.outcome,
        second.ante,
        second.money,
        second.round,
    )
    assert first.steps < GameOptions().max_steps
    assert not first.invalid


def test_many_seeded_games_all_end_with_a_result() -> None:
    antes = set()
    for seed in range(40):
        game = Game(seed)
        play_to_end(game)
        assert game.outcome in {"won", "lost"}
        antes.add(game.ante)
    assert len(antes) > 1  # decisions matter: runs end at different antes


def test_beating_ante_eight_boss_wins() -> None:
    game = Game(4, GameOptions(score_multiplier=1e308))
    play_to_end(game)
    assert (game.outcome, game.ante, game.round) == ("won", 8, 24)
    assert game.score_history["8"][-1] == float("inf")
