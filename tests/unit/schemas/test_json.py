"""The mod's hand-made JSON: bare non-finite tokens, unescaped strings, Lua number formats."""

from __future__ import annotations

import math

import msgspec
import pytest

from schemas import SchemaDecodeError, decode_json, encode_json


def test_valid_json_takes_the_fast_path_unchanged() -> None:
    assert decode_json(b'{"a": [1, 2.5, "inf", true, null]}') == {"a": [1, 2.5, "inf", True, None]}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (b"inf", math.inf),
        (b"-inf", -math.inf),
        (b"Infinity", math.inf),
        (b"-Infinity", -math.inf),
        (b"1.#INF", math.inf),
        (b"-1.#INF", -math.inf),
    ],
)
def test_bare_infinities_become_floats(token: bytes, expected: float) -> None:
    assert decode_json(b'{"score": ' + token + b', "list": [' + token + b"]}") == {
        "score": expected,
        "list": [expected],
    }


@pytest.mark.parametrize("token", [b"nan", b"-nan", b"NaN", b"-1.#IND", b"1.#QNAN"])
def test_bare_nans_become_floats(token: bytes) -> None:
    value = decode_json(b'{"delta":' + token + b"}")["delta"]
    assert isinstance(value, float)
    assert math.isnan(value)


def test_tokens_inside_strings_are_left_alone() -> None:
    body = b'{"name": "inf", "note": "nan and -inf", "x": inf, "esc": "say \\"inf\\""}'
    assert decode_json(body) == {
        "name": "inf",
        "note": "nan and -inf",
        "x": math.inf,
        "esc": 'say "inf"',
    }


def test_lua_exponent_floats_are_numbers() -> None:
    assert decode_json(b"[1e+15, 1.5e-07, -1e+308]") == [1e15, 1.5e-07, -1e308]


def test_numbers_past_the_double_range_saturate() -> None:
    assert decode_json(b"[1e+400, -2e+308, 1e-400, inf]") == [math.inf, -math.inf, 0.0, math.inf]


def test_raw_control_characters_and_stray_backslashes_in_strings_are_repaired() -> None:
    body = b'{"available_actions": ["line\none", "C:\\path\\x"], "x": -inf}'
    assert decode_json(body) == {
        "available_actions": ["line\none", "C:\\path\\x"],
        "x": -math.inf,
    }


def test_not_json_raises_a_clear_error_chained_from_msgspec() -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        decode_json(b"<html>502 Bad Gateway</html>", what="batch body")
    error = caught.value
    assert str(error).startswith("cannot decode batch body: not valid JSON")
    assert "byte 0" in str(error)
    assert isinstance(error.__cause__, msgspec.DecodeError)


def test_truncated_json_with_repairs_still_fails_clearly() -> None:
    with pytest.raises(SchemaDecodeError) as caught:
        decode_json(b'{"score": inf, "events": [')
    assert "not valid JSON" in str(caught.value)
    assert isinstance(caught.value.__cause__, msgspec.DecodeError)


def test_encode_json_keeps_non_finite_numbers_and_reads_back() -> None:
    data = {"a": math.inf, "b": [-math.inf], "c": "x"}
    encoded = encode_json(data)
    assert encoded == b'{"a":Infinity,"b":[-Infinity],"c":"x"}'
    assert decode_json(encoded) == data
    assert math.isnan(decode_json(encode_json({"n": math.nan}))["n"])


def test_tokens_inside_strings_without_any_escapes_are_left_alone() -> None:
    body = b'{"a":"inf","b":[nan,"x nan y"],"c":"-inf","d":-inf}'
    decoded = decode_json(body)
    assert decoded["a"] == "inf" and decoded["c"] == "-inf" and decoded["d"] == -math.inf
    assert math.isnan(decoded["b"][0]) and decoded["b"][1] == "x nan y"


def test_words_that_contain_the_tokens_are_not_numbers() -> None:
    assert decode_json(b'{"info": inf, "financial": "nan"}') == {
        "info": math.inf,
        "financial": "nan",
    }
