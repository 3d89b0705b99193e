from __future__ import annotations

import pytest

from subjects import Names, event_subject, event_token


@pytest.mark.parametrize(
    ("event_type", "detail", "subject"),
    [
        ("GAME_STATE", None, "events.game.state.update"),
        ("HEARTBEAT", None, "events.system.heartbeat"),
        ("MONEY_CHANGED", None, "events.game.money.changed"),
        ("SCORING", "HAND_EVAL_START", "events.game.scoring.hand_eval_start"),
        ("SCORING", None, "events.game.scoring.unspecified"),
        ("connection_test", None, "events.system.connection_test"),
        ("METRIC", "latency.p99", "events.metrics.latency_p99"),
        ("ERROR", "mcp server", "events.error.mcp_server"),
        ("SOMETHING_NEW", None, "events.custom.something_new"),
        ("weird.*>type", None, "events.custom.weird_type"),
    ],
)
def test_every_type_has_a_subject_and_unknown_ones_are_kept(
    event_type: str, detail: str | None, subject: str
) -> None:
    assert event_subject(event_type, detail) == subject


def test_tokens_are_always_one_safe_subject_token() -> None:
    for text in ["", "...", "a b.c*d>e", "Ü" * 10, "x" * 200]:
        token = event_token(text)
        assert token and len(token) <= 64
        assert not set(token) & set(". *>")


def test_names_are_derived_from_the_prefix() -> None:
    n = Names("my-bot")
    assert n.events_stream == "MY_BOT_EVENTS"
    assert n.subject("events.>") == "my-bot.events.>"
    assert n.relative("my-bot.rpc.decision.get") == "rpc.decision.get"
    assert n.durable("score") == "my_bot_score"
    assert n.dlq_ingest_subject("http") == "my-bot.dlq.ingest.http"
    assert all("MY_BOT_" in s for s in n.advisory_subjects())
