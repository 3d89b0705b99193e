"""The shim vouches for a percept digest only when it is the KV's current value from this shim."""

from __future__ import annotations

from bridge.agentbridge._stored import StoredPercepts


def test_the_newest_revision_wins_whatever_order_the_acks_come_in() -> None:
    stored = StoredPercepts()
    first, second = stored.begin("a"), stored.begin("a")
    stored.stored(second, 11, "d11")
    stored.stored(first, 10, "d10")  # acked later, stored earlier
    assert stored.digest("a") == "d11"
    assert stored.digest("b") is None


def test_a_failed_store_forgets_the_agent_and_the_stores_in_flight_with_it() -> None:
    stored = StoredPercepts()
    stored.stored(stored.begin("a"), 1, "d1")
    in_flight, failing = stored.begin("a"), stored.begin("a")
    stored.failed(failing)
    assert stored.digest("a") is None
    stored.stored(in_flight, 3, "d3")  # its order against the failed one is unknown
    assert stored.digest("a") is None
    stored.stored(stored.begin("a"), 4, "d4")  # begun after the failure: trusted again
    assert stored.digest("a") == "d4"


def test_clear_forgets_everything_including_stores_in_flight() -> None:
    stored = StoredPercepts()
    stored.stored(stored.begin("a"), 1, "d1")
    in_flight = stored.begin("b")
    stored.clear()
    stored.stored(in_flight, 2, "d2")
    assert (stored.digest("a"), stored.digest("b")) == (None, None)


def test_the_table_is_bounded_least_recently_stored_first() -> None:
    stored = StoredPercepts(max_agents=2)
    for revision, agent in enumerate(("a", "b", "c"), start=1):
        stored.stored(stored.begin(agent), revision, f"d{agent}")
    assert [stored.digest(a) for a in ("a", "b", "c")] == [None, "db", "dc"]
