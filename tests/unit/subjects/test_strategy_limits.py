"""Rate-limit updates: partial, in the spec's shape too, and refused with the rule they break."""

from __future__ import annotations

import pytest

from subjects import RateLimits, RateLimitsError, decode_rate_limits, merge_rate_limits


def test_the_defaults_are_the_specs_numbers() -> None:
    limits = RateLimits()
    assert (limits.capacity, limits.refill_per_hour, limits.burst_capacity) == (100, 100.0, 10)
    assert limits.problems() == []


def test_fields_left_out_keep_their_value() -> None:
    current = RateLimits(capacity=50, refill_per_hour=20.0, burst_capacity=5)
    merged = merge_rate_limits(current, {"burst_capacity": 8})
    assert merged == RateLimits(capacity=50, refill_per_hour=20.0, burst_capacity=8)


@pytest.mark.parametrize(
    ("update", "per_hour", "per_minute"),
    [
        ({"refill_rate": "100/hour"}, 100.0, 10.0),
        ({"refill_rate": "2/minute"}, 120.0, 10.0),
        ({"refill_rate": "1/second"}, 3600.0, 10.0),
        ({"refill_rate": 30}, 30.0, 10.0),
        ({"burst_refill_per_minute": "1/second"}, 100.0, 60.0),
        ({"burst_refill_per_minute": "120/hour"}, 100.0, 2.0),
    ],
)
def test_rates_may_be_written_as_the_spec_writes_them(
    update: dict[str, object], per_hour: float, per_minute: float
) -> None:
    merged = merge_rate_limits(RateLimits(), update)
    assert merged.refill_per_hour == pytest.approx(per_hour)
    assert merged.burst_refill_per_minute == pytest.approx(per_minute)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ("capacity=5", "JSON object"),
        ({"capacity": True}, "capacity must be an integer"),
        ({"burst_capacity": 2_000_000}, "from 0 to 1000000"),
        ({"refill_per_hour": float("inf")}, "finite number"),
        ({"refill_rate": "10 per hour"}, "like '100/hour'"),
        ({"capacity": 3}, "burst_capacity (10) cannot exceed capacity (3)"),
        ({"tokens": 100}, "unknown field 'tokens'"),
    ],
)
def test_a_bad_update_names_the_rule_it_breaks(update: object, message: str) -> None:
    with pytest.raises(RateLimitsError) as caught:
        merge_rate_limits(RateLimits(), update)
    assert message in str(caught.value)


def test_stored_limits_that_do_not_parse_or_break_a_rule_read_as_the_defaults() -> None:
    assert decode_rate_limits(None) == RateLimits()
    assert decode_rate_limits(b"{nope") == RateLimits()
    assert decode_rate_limits(b'{"capacity": 1, "burst_capacity": 5}') == RateLimits()
    assert decode_rate_limits(b'{"capacity": 7, "burst_capacity": 5}').capacity == 7
