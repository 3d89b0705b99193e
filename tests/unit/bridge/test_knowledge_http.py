"""The /graphql and /ws/knowledge helpers of the gateway, without a server."""

from __future__ import annotations

import pytest

from bridge.gateway._graphql import (
    GRAPHQL_RESPONSE,
    JSON,
    BadGraphQLRequest,
    _integral,
    _media_type,
    _parse_body,
    change_message,
    unquote_key,
)
from handlers._knowledge import Edge, Node, encode_json, node_key, quote_key


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", JSON),
        ("application/json", JSON),
        ("*/*", JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/graphql-response+json", GRAPHQL_RESPONSE),
        ("text/html", None),
    ],
)
def test_the_response_type_follows_accept(accept: str, expected: str | None) -> None:
    assert _media_type(accept) == expected


def test_whole_numbers_from_a_struct_come_back_as_integers() -> None:
    value = {"games": 3.0, "strength": 0.75, "list": [1.0, 2.5], "inf": float("inf")}
    assert _integral(value) == {"games": 3, "strength": 0.75, "list": [1, 2.5], "inf": float("inf")}
    assert isinstance(_integral(3.0), int)


def test_a_json_body_and_a_graphql_body_are_read() -> None:
    body = b'{"query": "{ jokers { name } }", "variables": {"a": 1}, "operationName": "Q"}'
    assert _parse_body(body, "application/json; charset=utf-8") == (
        "{ jokers { name } }",
        {"a": 1},
        "Q",
    )
    assert _parse_body(b"{ jokers { name } }", "application/graphql") == (
        "{ jokers { name } }",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{", "application/json", "not JSON"),
        (b"[]", "application/json", "JSON object"),
        (b'{"variables": {}}', "application/json", "`query`"),
        (b'{"query": "{a}", "variables": [1]}', "application/json", "variables"),
        (b'{"query": "{a}", "operationName": 3}', "application/json", "operationName"),
        (b"query=x", "application/x-www-form-urlencoded", "Content-Type"),
    ],
)
def test_a_malformed_request_says_what_is_wrong(
    body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(BadGraphQLRequest) as caught:
        _parse_body(body, content_type)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["Mr. Bones", "Séance", "Ride the Bus", "=41"])
def test_the_gateway_reads_joker_names_from_keys_as_the_handler_writes_them(name: str) -> None:
    assert unquote_key(quote_key(name)) == name


def test_a_change_message_per_kind_of_entry() -> None:
    node = Node(name="Mr. Bones", edges={"SYNERGY": {"Joker": Edge()}}, applied=["update:1"])
    key = node_key("Mr. Bones")
    upsert = change_message(key, 7, None, encode_json(node))
    assert upsert is not None
    assert (upsert["type"], upsert["joker"], upsert["revision"]) == ("upsert", "Mr. Bones", 7)
    assert upsert["node"]["edges"] == {"SYNERGY": {"Joker": {}}}
    assert "applied" not in upsert["node"]
    assert change_message(key, 8, "DEL", b"") == {
        "type": "delete",
        "joker": "Mr. Bones",
        "revision": 8,
    }
    assert change_message("learned.x", 9, None, b"{}") is None
    assert change_message(key, 10, None, b"not json") is None
