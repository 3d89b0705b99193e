from __future__ import annotations

import pytest

import schemas
from schemas import JimbotError, SchemaDecodeError


def test_schema_decode_error_builds_its_message_from_fields() -> None:
    error = SchemaDecodeError("payload of HAND_PLAYED", "Expected `int`", path="$.payload.ante")

    assert isinstance(error, JimbotError)
    assert str(error) == "cannot decode payload of HAND_PLAYED at $.payload.ante: Expected `int`"
    assert (error.what, error.reason, error.path) == (
        "payload of HAND_PLAYED",
        "Expected `int`",
        "$.payload.ante",
    )


def test_schema_decode_error_without_a_path() -> None:
    assert str(SchemaDecodeError("batch body", "not valid JSON")) == (
        "cannot decode batch body: not valid JSON"
    )


def test_error_tree_is_drawn_in_the_errors_module_docstring() -> None:
    doc = schemas._errors.__doc__ or ""
    assert "JimbotError" in doc
    assert "SchemaDecodeError" in doc


def test_jimbot_error_is_the_root_callers_can_catch() -> None:
    with pytest.raises(JimbotError) as caught:
        schemas.decode_batch(b"not json")
    assert isinstance(caught.value, SchemaDecodeError)
