"""Dead-letter filtering, replay headers and body rendering, without a server."""

from __future__ import annotations

import pytest

import subjects
from ops._dlq import DeadLetter, Filter, replay_headers, subject_matches
from ops._dlq_cli import describe_body, hexdump, ls_line

NAMES = subjects.Names("shop")


def _letter(seq: int = 3, **headers: str) -> DeadLetter:
    base = {
        subjects.DLQ_REASON: "terminated",
        subjects.DLQ_CONSUMER: "shop_score",
        subjects.DLQ_SUBJECT: "shop.events.game.hand.played",
        subjects.DLQ_MSG_ID: "evt-1",
        subjects.DLQ_ERROR: "boom",
        "Nats-Msg-Id": "dlq:SHOP_EVENTS:9:shop_score",
        "traceparent": "00-abc-def-01",
        "Content-Type": "application/json",
    }
    base.update(headers)
    return DeadLetter(seq, "shop.dlq.consumer.shop_score", base, b"{}", 2)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.*.c", "a.b.c", True),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.*", "a.b.c", False),
        ("a.b", "a.b.c", False),
        ("a.b.c", "a.b", False),
    ],
)
def test_subject_matches_follows_nats_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def test_a_filter_matches_handler_or_durable_names_and_relative_subjects() -> None:
    letter = _letter()

    assert Filter().matches(letter, NAMES)
    assert Filter(consumer="score").matches(letter, NAMES)
    assert Filter(consumer="shop_score").matches(letter, NAMES)
    assert not Filter(consumer="other").matches(letter, NAMES)
    assert Filter(subject="events.game.>").matches(letter, NAMES)
    assert Filter(subject="shop.events.game.hand.*").matches(letter, NAMES)
    assert not Filter(subject="events.custom.>").matches(letter, NAMES)
    assert not Filter(reason="max_deliveries").matches(letter, NAMES)
    assert Filter(seqs=frozenset({3})).matches(letter, NAMES)
    assert not Filter(seqs=frozenset({4})).matches(letter, NAMES)
    assert Filter().is_empty and not Filter(reason="x").is_empty


def test_replay_headers_restore_the_original_with_an_id_derived_from_the_dlq_seq() -> None:
    headers = replay_headers(_letter(seq=12, **{subjects.REPLAY_OF: "5"}), dlq_stream="SHOP_DLQ")

    assert headers == {
        "traceparent": "00-abc-def-01",
        "Content-Type": "application/json",
        "Nats-Msg-Id": "evt-1:replay:12",
        subjects.REPLAY_OF: "12",
    }


def test_a_dead_letter_without_an_original_id_gets_one_from_stream_and_seq() -> None:
    letter = _letter(seq=4)
    del letter.headers[subjects.DLQ_MSG_ID]  # type: ignore[attr-defined]

    assert replay_headers(letter, dlq_stream="SHOP_DLQ")["Nats-Msg-Id"] == "SHOP_DLQ:4:replay:4"


def test_bodies_show_as_text_or_hex() -> None:
    assert describe_body({"Content-Type": "application/json"}, b'{"a": 1}') == '{"a": 1}'
    assert describe_body({}, b"") == "(empty body)"
    assert describe_body({"Content-Type": "text/plain"}, b"\xff\x01") == "(binary)\n00000000  ff 01"
    assert hexdump(bytes(range(18))).splitlines()[1] == "00000010  10 11"


def test_a_ls_line_names_seq_reason_consumer_subject_and_error() -> None:
    fields = ls_line(_letter()).split()
    assert fields[:4] == ["3", "terminated", "shop_score", "shop.events.game.hand.played"]
    assert fields[-1] == "boom"
