"""The advisor's small parts: reading the model's answer, the settings, cache keys, refills."""

from __future__ import annotations

import pytest

from handlers import ConfigError
from handlers._strategy import ProviderError, StrategyConfig, cache_key, parse_answer, refill
from schemas import events_pb2
from subjects import BucketState, RateLimits


def test_the_models_json_is_read_even_inside_a_code_fence() -> None:
    text = (
        'Sure!\n```json\n{"recommended_action": "discard:1,4", "reasoning": "dig for the flush",'
        ' "confidence": 1.7, "action_values": {"discard:1,4": 210, "play_hand:0": "x"}}\n```'
    )
    answer = parse_answer(text, ["play_hand", "discard"])
    assert answer.recommended_action == "discard:1,4"
    assert answer.reasoning == "dig for the flush"
    assert answer.confidence == 1.0  # clamped to [0, 1]
    assert dict(answer.action_values) == {"discard:1,4": 210.0}  # the bad value is dropped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("play the pair", "no JSON object"),
        ('{"recommended_action": ', "no JSON object"),
        ('{"recommended_action": "x",}', "does not parse"),
        ('{"reasoning": "no action"}', "no recommended_action"),
        ('{"recommended_action": "buy_joker:1"}', "does not offer"),
    ],
)
def test_an_unusable_answer_is_a_provider_error(text: str, message: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_answer(text, ["play_hand", "discard"])
    assert message in str(caught.value)


def test_any_action_goes_when_the_request_offers_none() -> None:
    answer = parse_answer('{"recommended_action": "skip_blind", "confidence": "high"}', [])
    assert answer.recommended_action == "skip_blind" and answer.confidence == 0.5


def test_the_provider_is_claude_only_with_a_key() -> None:
    assert not StrategyConfig.from_env({}).uses_claude
    config = StrategyConfig.from_env(
        {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    )
    assert config.uses_claude and config.base_url == "http://127.0.0.1:9"
    assert config.timeout == 5.0 and config.model == "claude-haiku-4-5"
    offline = {"ANTHROPIC_API_KEY": "k", "JIMBOT_STRATEGY_PROVIDER": "offline"}
    assert not StrategyConfig.from_env(offline).uses_claude


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIMBOT_STRATEGY_PROVIDER": "gpt"}, "use auto, offline, claude"),
        ({"JIMBOT_STRATEGY_PROVIDER": "claude"}, "needs ANTHROPIC_API_KEY"),
        ({"JIMBOT_STRATEGY_CACHE_TTL": "1e9"}, "JIMBOT_STRATEGY_CACHE_TTL='1e9': use a number"),
        ({"JIMBOT_STRATEGY_TIMEOUT": "soon"}, "JIMBOT_STRATEGY_TIMEOUT='soon'"),
        ({"ANTHROPIC_BASE_URL": "localhost:8080"}, "use an http:// or https:// URL"),
    ],
)
def test_a_bad_setting_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StrategyConfig.from_env(env)
    assert message in str(caught.value)


def _request(money: int = 10, question: str = "what now?") -> events_pb2.StrategyRequest:
    req = events_pb2.StrategyRequest(request_id="a", question=question)
    state = req.game_state
    state.in_game, state.game_state, state.money = True, "SELECTING_HAND", money
    state.hand.add(rank="Ace", suit="Spades", id=0.123)
    req.available_actions.extend(["play_hand", "discard"])
    return req


def test_cache_keys_ignore_clocks_ids_and_order_but_not_the_question_or_provider() -> None:
    base = cache_key(_request(), "offline-v1")
    moved = _request()
    moved.request_id = "b"
    moved.game_state.timestamp, moved.game_state.frame_count = 99.0, 12345
    moved.game_state.hand[0].id = 0.987
    moved.question = "  what   now? "
    del moved.available_actions[:]
    moved.available_actions.extend(["discard", "play_hand"])
    assert cache_key(moved, "offline-v1") == base
    assert cache_key(_request(question="why?"), "offline-v1") != base
    assert cache_key(_request(money=11), "offline-v1") != base
    assert cache_key(_request(), "claude:claude-haiku-4-5") != base
    assert len(base) == 40


def test_refill_adds_each_buckets_rate_up_to_its_capacity() -> None:
    limits = RateLimits(capacity=100, refill_per_hour=360, burst_capacity=10,
                        burst_refill_per_minute=6)  # fmt: skip
    state = refill(BucketState(5.0, 0.0, 1000.0), limits, 1010.0)
    assert state.tokens == pytest.approx(6.0) and state.burst_tokens == pytest.approx(1.0)
    full = refill(BucketState(99.0, 9.0, 1000.0), limits, 100_000.0)
    assert (full.tokens, full.burst_tokens) == (100.0, 10.0)
    # A clock behind the stored time refills nothing and never moves the time back.
    behind = refill(BucketState(5.0, 1.0, 1000.0), limits, 900.0)
    assert (behind.tokens, behind.burst_tokens, behind.updated_at) == (5.0, 1.0, 1000.0)
