"""Percept payload formats: what each reads, what each refuses and why, and plug-ins."""

from __future__ import annotations

import re

import pytest

from schemas import PerceptFormatError, percept_format


def shout(payload: str) -> str:
    """A plug-in format: upper-cased text, refusing digits."""
    if any(c.isdigit() for c in payload):
        raise ValueError("digits are not allowed")
    return payload.upper()


NOT_CALLABLE = 42


def test_text_reads_any_string_as_itself() -> None:
    text = percept_format("")
    assert text.name == "text"
    assert text.read('temperature=32C {"') == 'temperature=32C {"'
    assert text.check("\x00 anything") is None


def test_json_reads_the_value_and_refuses_what_is_not_json() -> None:
    fmt = percept_format("json")
    assert fmt.read('{"temperature": 32, "door": ["open"]}') == {
        "temperature": 32,
        "door": ["open"],
    }
    assert fmt.read("[1, 2]") == [1, 2]
    reason = fmt.check("temperature=32C")
    assert reason is not None and reason.startswith("percept payload is not json: not JSON")
    assert fmt.read("temperature=32C") is None


@pytest.mark.parametrize(
    ("payload", "pairs"),
    [
        ("temperature=32C", {"temperature": "32C"}),
        ("temperature = 32C; battery=12%", {"temperature": "32C", "battery": "12%"}),
        ("a=1,b=2&c=3\nd=", {"a": "1", "b": "2", "c": "3", "d": ""}),
        ("a=1;;a=2;", {"a": "2"}),
        ("", {}),
        ("url=x=y", {"url": "x=y"}),
    ],
)
def test_kv_reads_key_value_items(payload: str, pairs: dict[str, str]) -> None:
    assert percept_format("kv").read(payload) == pairs


@pytest.mark.parametrize(("payload", "why"), [("hot", "'hot'"), ("=3", "'=3'")])
def test_kv_refuses_an_item_without_a_key(payload: str, why: str) -> None:
    assert percept_format("kv").check(payload) == f"percept payload is not kv: not key=value: {why}"


def test_a_plugin_format_is_loaded_by_import_path() -> None:
    fmt = percept_format(f"{__name__}:shout")
    assert fmt.read("door open") == "DOOR OPEN"
    why = fmt.check("room 101")
    assert why == f"percept payload is not {__name__}:shout: digits are not allowed"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("xml", "'xml' is not a percept format (text, json, kv or module:attr)"),
        ("no.such.module:parse", "does not load"),
        (f"{__name__}:missing", "does not load"),
        (f"{__name__}:NOT_CALLABLE", "is not callable"),
    ],
)
def test_a_format_that_does_not_load_says_why(spec: str, message: str) -> None:
    with pytest.raises(PerceptFormatError, match=re.escape(message)):
        percept_format(spec)
