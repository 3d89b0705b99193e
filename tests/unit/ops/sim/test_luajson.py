"""The mod's hand-made encoder, byte for byte (``EventBusClient:table_to_json``)."""

from __future__ import annotations

import json
import math
import random

import pytest

from ops.sim.luajson import FrozenArray, FrozenTable, LuaEncoder, encode, lua_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (300, "300"),
        (300.0, "300"),
        (-4, "-4"),
        (0.5123, "0.5123"),
        (45231.7734, "45231.7734"),
        (1 / 3, "0.33333333333333"),
        (1e15, "1e+15"),
        (123456789012345.0, "1.2345678901234e+14"),
        (1e-5, "1e-05"),
        (10**20, "1e+20"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
        (math.copysign(math.nan, -1.0), "-nan"),
        (-0.0, "-0"),
    ],
)
def test_numbers_are_lua_tostring(value: float, text: str) -> None:
    assert lua_number(value) == text


def test_object_with_scalars() -> None:
    table = {"type": "HEARTBEAT", "uptime": 5012.25, "headless": True, "version": 1}
    assert encode(table) == '{"type":"HEARTBEAT","uptime":5012.25,"headless":true,"version":1}'


def test_empty_list_is_an_empty_object() -> None:
    assert encode({"jokers": [], "hand": (), "shop_items": {}}) == (
        '{"jokers":{},"hand":{},"shop_items":{}}'
    )


def test_primitives_inside_arrays_are_strings() -> None:
    table = {"a": [1, 2], "b": [True, False], "c": [0.25, math.inf], "d": ["x"]}
    assert encode(table) == '{"a":["1","2"],"b":["true","false"],"c":["0.25","inf"],"d":["x"]}'


def test_strings_inside_arrays_are_not_escaped_but_fields_are() -> None:
    table = {"name": 'say "hi"\n', "list": ['say "hi"']}
    assert encode(table) == '{"name":"say \\"hi\\"\\n","list":["say "hi""]}'


def test_tables_in_arrays_and_nested_arrays() -> None:
    table = {"cards": [{"rank": "Ace", "id": 0.5}], "grid": [[1, "a"], []]}
    assert encode(table) == ('{"cards":[{"rank":"Ace","id":0.5}],"grid":[{"1":1,"2":"a"},{}]}')


def test_nil_fields_are_absent() -> None:
    assert encode({"a": None, "b": 1, "c": [None]}) == '{"b":1,"c":{}}'


def test_non_finite_numbers_are_bare_tokens_so_the_text_is_not_json() -> None:
    nan = math.copysign(math.nan, -1.0)  # what inf - inf gives on x86
    text = encode({"chips": math.inf, "delta": -math.inf, "total_delta": nan})
    assert text == '{"chips":inf,"delta":-inf,"total_delta":-nan}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_finite_output_is_json_with_the_same_values() -> None:
    table = {"payload": {"money": 4, "chips": 1e15, "hand": [{"id": 0.123, "rank": "10"}]}}
    assert json.loads(encode(table)) == table


def test_key_order_is_shuffled_but_stable_per_shape() -> None:
    encoder = LuaEncoder(random.Random(7))
    keys = [f"k{i}" for i in range(12)]
    first = encoder.encode(dict.fromkeys(keys, 1))
    again = encoder.encode({key: 1 for key in reversed(keys)})
    same_shape = encoder.encode(dict.fromkeys(keys, 2))
    assert json.loads(first) == dict.fromkeys(keys, 1)
    assert list(json.loads(first)) != keys  # 1 in 12! that a shuffle keeps the order
    assert list(json.loads(same_shape)) == list(json.loads(first))
    assert list(json.loads(again)) != list(json.loads(first))


def test_frozen_tables_and_arrays_encode_like_plain_ones() -> None:
    card = FrozenTable(id=0.25, rank="King")
    deck = FrozenArray([card, card])
    encoder = LuaEncoder()
    plain = encoder.encode({"deck": [{"id": 0.25, "rank": "King"}] * 2, "card": {"id": 0.25}})
    frozen = encoder.encode({"deck": deck, "card": FrozenTable(id=0.25)})
    assert frozen == plain
    assert (
        encoder.encode({"deck": deck})
        == '{"deck":[{"id":0.25,"rank":"King"},{"id":0.25,"rank":"King"}]}'
    )


def test_frozen_tables_are_shuffled_like_plain_ones() -> None:
    keys = [f"k{i}" for i in range(12)]
    encoder = LuaEncoder(random.Random(3))
    plain = encoder.encode(dict.fromkeys(keys, 1))
    assert encoder.encode({"t": FrozenTable(dict.fromkeys(keys, 1))}) == f'{{"t":{plain}}}'
