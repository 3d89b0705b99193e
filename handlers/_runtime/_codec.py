"""Body codecs chosen from a handler's annotations: protobuf, msgspec, JSON, bytes or text.

The runtime decodes input from the annotation (as FastStream does) so a handler receives a
typed value; a body that does not decode is a permanent error, never a retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message

from handlers._runtime._errors import PermanentError

PROTOBUF = "application/protobuf"
JSON = "application/json"
BYTES = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Codec:
    """How to turn one Python type into bytes and back."""

    type: Any
    content_type: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _identity(data: bytes) -> bytes:
    return bytes(data)


def _protobuf(cls: type[Message]) -> Codec:
    def decode(data: bytes) -> Message:
        value = cls()
        try:
            value.ParseFromString(data)
        except (ProtoDecodeError, ValueError) as exc:
            raise PermanentError(
                f"body is not a valid {cls.DESCRIPTOR.full_name} protobuf: {exc}"
            ) from exc
        return value

    return Codec(
        cls, f"{PROTOBUF}; messageType={cls.DESCRIPTOR.full_name}", decode, _serialize_proto
    )


def _serialize_proto(value: Any) -> bytes:
    data: bytes = value.SerializeToString()
    return data


def _json(tp: Any) -> Codec:
    decoder = msgspec.json.Decoder(tp)
    encoder = msgspec.json.Encoder()

    def decode(data: bytes) -> Any:
        try:
            return decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise PermanentError(f"body does not decode as {_name(tp)}: {exc}") from exc

    return Codec(tp, JSON, decode, encoder.encode)


def _text_decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PermanentError(f"body is not UTF-8 text: {exc}") from exc


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


@lru_cache(maxsize=256)
def codec_for(tp: Any) -> Codec:
    """The codec for an annotation: a protobuf message, ``bytes``, ``str``, or anything
    msgspec can decode from JSON (Structs, dataclasses, dicts, lists, ``Any``)."""
    if isinstance(tp, type) and issubclass(tp, Message):
        return _protobuf(tp)
    if tp is bytes:
        return Codec(bytes, BYTES, _identity, _identity)
    if tp is str:
        return Codec(str, TEXT, _text_decode, lambda v: str(v).encode())
    return _json(tp)


def encode_any(value: object) -> tuple[bytes, str]:
    """Encode a value whose codec is chosen from its runtime type (for ``ctx.publish``)."""
    if isinstance(value, Message):
        return value.SerializeToString(), f"{PROTOBUF}; messageType={value.DESCRIPTOR.full_name}"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), BYTES
    if isinstance(value, str):
        return value.encode(), TEXT
    return msgspec.json.encode(value), JSON
