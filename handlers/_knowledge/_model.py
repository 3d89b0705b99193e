"""The stored shape of the knowledge graph: one KV entry per joker, holding its outgoing edges.

Bucket ``<PREFIX>_KNOWLEDGE``, key ``joker.<name>`` (the name quoted to fit KV's key alphabet:
every byte outside ``A-Z a-z 0-9 - _`` becomes ``=XX``, so ``Mr. Bones`` is
``joker.Mr=2E=20Bones``), value the JSON of :class:`Node`. Keeping a node's outgoing edges in
the node makes "the synergies of X" one read, and each write one compare-and-set on one key.
Games already learned from are marked under ``learned.<quoted game key>``.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

NODE_PREFIX = "joker."
LEARNED_PREFIX = "learned."
SYNERGY = "SYNERGY"
PRIOR = 0.5
"""Strength of an edge nobody has said anything about: as likely to help as to hurt."""
MAX_APPLIED = 64
"""Recent operation ids kept per node, so a redelivered update or game is applied once."""
MAX_NAME = 200
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Edge(msgspec.Struct, omit_defaults=True):
    """One directed relationship from a node to a target joker."""

    strength: float = PRIOR
    """0 (the pair loses) .. 1 (the pair wins); learning moves it toward game outcomes."""
    conditions: list[str] = msgspec.field(default_factory=list)
    """When the synergy holds, in words (``"played hand contains a Pair"``)."""
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    games: int = 0
    """Finished games in which both jokers were held."""
    wins: int = 0
    origin: str = "update"
    """``update`` (written by a knowledge update) or ``learned`` (made by a game outcome)."""
    updated: float = 0.0
    """Epoch seconds of the last change."""


class Node(msgspec.Struct, omit_defaults=True):
    """One joker: its properties, outgoing edges by type then target, and what games said."""

    name: str
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    edges: dict[str, dict[str, Edge]] = msgspec.field(default_factory=dict)
    games: int = 0
    wins: int = 0
    applied: list[str] = msgspec.field(default_factory=list)
    """Ids of the last :data:`MAX_APPLIED` operations applied to this node."""
    updated: float = 0.0


class LearnedGame(msgspec.Struct):
    """The marker of one game already learned from."""

    game: str
    won: bool
    jokers: list[str]
    at: float


_encode = msgspec.json.Encoder().encode
_decode_node = msgspec.json.Decoder(Node).decode


def encode_node(node: Node) -> bytes:
    return _encode(node)


def decode_node(data: bytes) -> Node:
    """Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a value that is not a node."""
    return _decode_node(data)


def encode_json(value: object) -> bytes:
    return _encode(value)


def quote_key(text: str) -> str:
    """``text`` in KV's key alphabet, reversibly (see the module docstring)."""
    return "".join(chr(b) if b in _SAFE else f"={b:02X}" for b in text.encode())


def unquote_key(token: str) -> str:
    """The inverse of :func:`quote_key`."""
    out = bytearray()
    raw = token.encode()
    i = 0
    while i < len(raw):
        pair = raw[i + 1 : i + 3]
        if raw[i] == ord("=") and len(pair) == 2 and all(c in _HEX for c in pair):
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors="replace")


def node_key(name: str) -> str:
    return NODE_PREFIX + quote_key(name)


def name_of_key(key: str) -> str | None:
    """The joker name of a node key; ``None`` for any other key."""
    if not key.startswith(NODE_PREFIX):
        return None
    return unquote_key(key[len(NODE_PREFIX) :])


def learned_key(game: str) -> str:
    return LEARNED_PREFIX + quote_key(game)


def check_name(name: str, what: str) -> str:
    """A usable joker name, or ``ValueError`` saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise ValueError(f"{what} is empty: name the joker")
    if len(name) > MAX_NAME:
        raise ValueError(f"{what} is {len(name)} characters long; at most {MAX_NAME}")
    return name


def check_strength(value: float, what: str) -> float:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} is {value}; a strength is between 0 and 1")
    return float(value)


def remember(node: Node, op_id: str | None) -> None:
    """Record ``op_id`` as applied to ``node`` (the oldest ids fall off)."""
    if op_id:
        node.applied.append(op_id)
        del node.applied[:-MAX_APPLIED]
