"""The coordinator's pure rules: admission with priorities, expiry, retries, configuration."""

from __future__ import annotations

import random

import pytest

from handlers import ConfigError, ServiceError
from handlers._resources import (
    DEFAULT_CAPACITY,
    Lease,
    Pool,
    Ranking,
    ResourceConfig,
    Waiter,
    admit,
    decode,
    headroom,
    new_grant_id,
    parse_capacity,
    parse_timeout,
    prune,
    takers,
    type_of_grant,
)
from handlers._resources._checks import check_request
from handlers._resources._pool import AlreadyEnded, Granted, Waiting, release, scratch
from schemas import events_pb2 as pb

LOW, NORMAL, HIGH, CRITICAL = (
    pb.PRIORITY_LOW,
    pb.PRIORITY_NORMAL,
    pb.PRIORITY_HIGH,
    pb.PRIORITY_CRITICAL,
)


def waiter(rid: str, amount: int, priority: int = NORMAL, since: float = 100.0) -> Waiter:
    return Waiter(rid, "c", amount, priority, since, until=200.0)


def lease(rid: str, amount: int, expires_at: float = 150.0) -> Lease:
    return Lease(f"g-{rid}", rid, "c", amount, NORMAL, granted_at=100.0, expires_at=expires_at)


def test_a_request_that_fits_is_granted_and_counted() -> None:
    pool = Pool()
    outcome = admit(pool, 10, waiter("a", 6), lease("a", 6))
    assert isinstance(outcome, Granted) and outcome.new
    assert pool.allocated == 6
    assert isinstance(admit(pool, 10, waiter("b", 5), lease("b", 5)), Waiting)
    assert pool.allocated == 6 and [w.request_id for w in pool.waiters] == ["b"]


def test_a_lower_request_may_not_take_what_a_higher_waiter_needs() -> None:
    pool = Pool(leases=[lease("held", 6)])
    admit(pool, 10, waiter("high", 8, HIGH), lease("high", 8))  # waits: 4 free
    # 4 are free, but the waiting HIGH request needs 8 of them: LOW waits too.
    assert isinstance(admit(pool, 10, waiter("low", 4, LOW), lease("low", 4)), Waiting)
    assert headroom(pool, 10, waiter("low", 4, LOW)) == 4 - 8
    # A CRITICAL request outranks the HIGH waiter and takes the free capacity.
    assert isinstance(admit(pool, 10, waiter("crit", 4, CRITICAL), lease("crit", 4)), Granted)


def test_capacity_beyond_what_higher_waiters_need_may_be_used() -> None:
    pool = Pool(leases=[lease("held", 10)])
    admit(pool, 20, waiter("high", 12, HIGH), lease("high", 12))  # 10 free, needs 12: waits
    assert isinstance(admit(pool, 20, waiter("low", 1, LOW), lease("low", 1)), Waiting)
    pool.leases = []  # the held lease ends: 20 free, HIGH needs 12, 8 are left over
    assert isinstance(admit(pool, 20, waiter("low", 8, LOW), lease("low", 8)), Granted)


def test_equal_priorities_are_served_first_come() -> None:
    pool = Pool(leases=[lease("held", 10)])
    admit(pool, 10, waiter("first", 10, since=100.0), lease("first", 10))
    pool.leases = []
    later = waiter("second", 5, since=101.0)
    assert isinstance(admit(pool, 10, later, lease("second", 5)), Waiting)
    assert isinstance(admit(pool, 10, waiter("first", 10), lease("first", 10)), Granted)


def test_expired_leases_and_given_up_waiters_are_pruned() -> None:
    pool = Pool(
        leases=[lease("old", 3, expires_at=120.0), lease("new", 4, expires_at=180.0)],
        waiters=[Waiter("gone", "c", 1, NORMAL, 100.0, until=110.0)],
    )
    expired = prune(pool, now=130.0)
    assert [x.request_id for x in expired] == ["old"]
    assert pool.allocated == 4 and pool.waiters == []
    assert pool.ended_for(request_id="old") is not None


def test_a_retried_request_gets_its_grant_or_hears_that_it_ended() -> None:
    pool = Pool()
    first = admit(pool, 10, waiter("r", 2), lease("r", 2))
    again = admit(pool, 10, waiter("r", 2), Lease("other", "r", "c", 2, NORMAL, 0, 1))
    assert isinstance(first, Granted) and isinstance(again, Granted)
    assert again.lease.grant_id == first.lease.grant_id and not again.new
    assert pool.allocated == 2
    release(pool, first.lease.grant_id)
    ended = admit(pool, 10, waiter("r", 2), lease("r", 2))
    assert isinstance(ended, AlreadyEnded) and ended.ended.how == "released"


def test_the_pool_round_trips_through_its_kv_encoding() -> None:
    from handlers._resources._pool import encode

    pool = Pool(leases=[lease("a", 1)], waiters=[waiter("b", 2)], updated_at=5.0)
    assert decode(encode(pool)) == pool
    assert decode(None) == Pool()


def test_capacities_come_from_the_environment_over_the_defaults() -> None:
    capacity = parse_capacity("GPU_COMPUTE=1000, memory_mb=16384")
    assert capacity[pb.GPU_COMPUTE] == 1000 and capacity[pb.MEMORY_MB] == 16384
    assert capacity[pb.CLAUDE_API_TOKENS] == DEFAULT_CAPACITY[pb.CLAUDE_API_TOKENS]
    assert DEFAULT_CAPACITY[pb.MEMORY_MB] == 32768  # the spec's 32 GB plan
    for bad in ("GPU=1", "MEMORY_MB", "MEMORY_MB=0", "MEMORY_MB=lots"):
        with pytest.raises(ConfigError, match="JIMBOT_RESOURCE_CAPACITY"):
            parse_capacity(bad)


def test_the_request_timeout_reads_like_the_spec() -> None:
    assert parse_timeout("5s") == 5.0
    assert parse_timeout("250ms") == 0.25
    assert parse_timeout("1m") == 60.0
    assert parse_timeout("2.5") == 2.5
    for bad in ("0s", "soon", "-1"):
        with pytest.raises(ConfigError, match="RESOURCE_REQUEST_TIMEOUT"):
            parse_timeout(bad)
    env = {"RESOURCE_REQUEST_TIMEOUT": "750ms", "JIMBOT_RESOURCE_CAPACITY": "GPU_COMPUTE=4"}
    config = ResourceConfig.from_env(env)
    assert config.request_timeout == 0.75 and config.capacity[pb.GPU_COMPUTE] == 4


def test_grant_ids_name_their_type() -> None:
    grant_id = new_grant_id(pb.CLAUDE_API_TOKENS)
    assert grant_id.startswith("claude_api_tokens-")
    assert type_of_grant(grant_id) == pb.CLAUDE_API_TOKENS
    for bad in ("", "nope", "gpu-" + "0" * 32, "memory_mb-xyz"):
        with pytest.raises(ServiceError, match="not a grant of this coordinator"):
            type_of_grant(bad)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"component": ""}, "component is required"),
        ({"component": "a\nb"}, "component"),
        ({"type": 7}, "type 7 is not a resource type"),
        ({"amount": 0}, "amount must be >= 1"),
        ({"duration_ms": 0}, "duration_ms"),
        ({"duration_ms": 10**12}, "duration_ms"),
        ({"priority": 9}, "priority 9"),
        ({"request_id": "x" * 200}, "request_id"),
    ],
)
def test_each_bad_field_is_a_400_naming_it(change: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"component": "c", "type": pb.MEMORY_MB, "amount": 1}
    fields.update({"duration_ms": 1000, "priority": NORMAL, **change})
    with pytest.raises(ServiceError, match=field) as caught:
        check_request(pb.ResourceRequest(**fields))  # type: ignore[arg-type]
    assert caught.value.code == "400"


def _random_pool(rng: random.Random, now: float) -> tuple[Pool, list[Waiter]]:
    """A pool with live and expired leases and waiters, and some requests not yet in it."""
    priorities = (LOW, NORMAL, HIGH, CRITICAL)
    pool = Pool(
        leases=[
            Lease(f"g{i}", f"l{i}", "c", rng.randint(1, 4), NORMAL, 0.0, now + rng.uniform(-5, 5))
            for i in range(rng.randint(0, 6))
        ],
        waiters=[
            Waiter(
                f"w{i}",
                "c",
                rng.randint(1, 6),
                rng.choice(priorities),
                since=rng.choice((1.0, 2.0, 3.0)),
                until=now + rng.uniform(-5, 5),
            )  # fmt: skip
            for i in range(rng.randint(0, 8))
        ],
    )
    outside = [
        Waiter(
            f"n{i}",
            "c",
            rng.randint(1, 6),
            rng.choice(priorities),
            rng.choice((1.25, 2.75)),
            now + 9,
        )
        for i in range(3)
    ]
    # The same request registered by another copy with another `since`:
    mine = [
        Waiter(w.request_id, "c", w.amount, w.priority, w.since + 0.5, w.until)
        for w in pool.waiters
    ]
    return pool, outside + pool.waiters + mine + [Waiter("l0", "c", 1, LOW, 9.0, now + 9)]


def test_the_ranking_agrees_with_the_admission_rule_on_random_pools() -> None:
    rng = random.Random(7)
    outcomes: dict[str, int] = {"granted": 0, "waits": 0, "own entry earlier": 0}
    for _ in range(1000):
        now = 100.0
        pool, candidates = _random_pool(rng, now)
        capacity = rng.randint(5, 20)
        ranking = Ranking.of(pool, now)
        expected, waiting = set(), []
        for candidate in candidates:
            draft = scratch(pool)
            prune(draft, now)
            lease = Lease("new", candidate.request_id, "c", candidate.amount, NORMAL, now, now + 1)
            outcome = admit(draft, capacity, candidate, lease)
            if isinstance(outcome, AlreadyEnded):
                continue  # answered at once, never waits: nothing to wake
            waiting.append(candidate)
            granted = isinstance(outcome, Granted)
            assert ranking.takes(candidate, capacity) == granted, (pool, candidate, capacity)
            outcomes["granted" if granted else "waits"] += 1
            if granted and candidate.since % 1 == 0.5:
                outcomes["own entry earlier"] += 1
            if granted:
                expected.add(candidate.request_id)
        assert takers(pool, capacity, waiting, now) == expected
        live = [x.expires_at for x in pool.leases if x.expires_at > now]
        live += [w.until for w in pool.waiters if w.until > now]
        assert ranking.valid_until == min(live, default=float("inf"))
    # Every branch was exercised, including a request whose own entry (registered by another
    # copy, with an earlier `since`) must not count against it.
    assert min(outcomes.values()) > 50, outcomes


def test_rules_never_change_the_lists_of_the_pool_they_were_given() -> None:
    """A draft (``scratch``) shares the lists of the pool another task may be reading."""
    pool = Pool(
        leases=[lease("a", 3, expires_at=120.0), lease("b", 3, expires_at=180.0)],
        waiters=[Waiter("gone", "c", 1, NORMAL, 100.0, until=110.0)],
    )
    before = (list(pool.leases), list(pool.waiters), list(pool.ended))
    draft = scratch(pool)
    prune(draft, now=130.0)
    admit(draft, 10, waiter("c", 2), lease("c", 2))
    admit(draft, 10, waiter("d", 9), lease("d", 9))
    release(draft, "g-b")
    draft.updated_at = 5.0
    assert (pool.leases, pool.waiters, pool.ended) == before
    assert pool.updated_at == 0.0
    assert [x.request_id for x in draft.leases] == ["c"] and draft.waiters[0].request_id == "d"
