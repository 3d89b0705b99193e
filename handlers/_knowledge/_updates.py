"""What a ``KnowledgeUpdate`` asks for, checked, and how it changes one stored node.

Rules: ``entity_type`` and each ``target_type`` are ``joker`` (or empty); ``operation`` is
``upsert`` (the default; ``create``, ``update`` and ``merge`` mean the same) or ``delete``.
An upsert merges ``properties`` into the node and upserts each relationship: its ``type``
(default ``SYNERGY``, upper-cased), ``strength`` between 0 and 1 when given, and its
conditions, read from ``conditions`` (a JSON list, or one condition as text) next to the
relationship's fields or in its ``properties``. Targets that have no node yet get an empty one,
so ``joker(name:)`` finds them. A delete without relationships removes the node and every edge
into it; a delete with relationships removes just those edges.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict

from handlers._knowledge._model import (
    SYNERGY,
    Edge,
    Node,
    check_name,
    check_strength,
    remember,
)
from schemas import JimbotError

if TYPE_CHECKING:
    from google.protobuf.struct_pb2 import Struct

    from schemas.events_pb2 import KnowledgeRelationship, KnowledgeUpdate

_TYPE_RULE = re.compile(r"^[A-Z][A-Z0-9_]{0,47}$")
_UPSERT = frozenset({"", "upsert", "create", "update", "merge"})
_JOKER = frozenset({"", "joker", "jokers"})


class InvalidUpdate(JimbotError, ValueError):
    """Raised when a knowledge update cannot be applied; the message names the field."""


@dataclass(frozen=True, slots=True)
class EdgeChange:
    type: str
    target: str
    strength: float | None
    conditions: list[str] | None
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """One checked update of one node."""

    name: str
    op_id: str | None = None
    delete: bool = False
    properties: dict[str, Any] = field(default_factory=dict)
    edges: list[EdgeChange] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        """Every target named, once, in order."""
        return list(dict.fromkeys(edge.target for edge in self.edges))


def _extra(struct: Struct | None) -> dict[str, Any]:
    if struct is None or not struct.fields:
        return {}
    return MessageToDict(struct)


def _conditions(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidUpdate(f"{what} is not a JSON list: {exc}") from None
        else:
            return [text] if text else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidUpdate(f"{what} must be a list of strings (or one string)")
    return [v for v in value if v.strip()]


def _edge(rel: KnowledgeRelationship, index: int) -> EdgeChange:
    where = f"relationships[{index}]"
    kind = (rel.type or SYNERGY).strip().upper()
    if not _TYPE_RULE.match(kind):
        raise InvalidUpdate(f"{where}.type {rel.type!r}: use letters, digits and '_' (SYNERGY)")
    if rel.target_type.strip().lower() not in _JOKER:
        raise InvalidUpdate(
            f"{where}.target_type {rel.target_type!r}: the knowledge graph links jokers only"
        )
    try:
        target = check_name(rel.target_id, f"{where}.target_id")
        strength = (
            check_strength(rel.strength, f"{where}.strength") if rel.HasField("strength") else None
        )
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from None
    extra = _extra(rel.extra if rel.HasField("extra") else None)
    # The gateway keeps JSON that does not fit a typed field in `extra`: properties with
    # non-string values arrive there whole.
    properties: dict[str, Any] = dict(rel.properties)
    if isinstance(extra.get("properties"), dict):
        properties = dict(extra["properties"])
    conditions: list[str] | None = None
    if "conditions" in extra:
        conditions = _conditions(extra["conditions"], f"{where}.conditions")
    if "conditions" in properties:
        found = _conditions(properties.pop("conditions"), f"{where}.properties.conditions")
        conditions = found if conditions is None else conditions
    return EdgeChange(kind, target, strength, conditions, properties)


def plan_update(update: KnowledgeUpdate, *, op_id: str | None = None) -> Change:
    """The checked change ``update`` asks for.

    Raises:
        InvalidUpdate: naming the field that is wrong and what is expected.
    """
    if update.entity_type.strip().lower() not in _JOKER:
        raise InvalidUpdate(
            f"entity_type {update.entity_type!r}: the knowledge graph holds jokers (entity_type "
            '"joker")'
        )
    operation = update.operation.strip().lower()
    if operation not in _UPSERT and operation != "delete":
        raise InvalidUpdate(f"operation {update.operation!r}: use upsert or delete")
    try:
        name = check_name(update.entity_id, "entity_id")
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from None
    extra = _extra(update.extra if update.HasField("extra") else None)
    properties: dict[str, Any] = dict(update.properties)
    if isinstance(extra.get("properties"), dict):
        properties = dict(extra["properties"])
    edges = [_edge(rel, i) for i, rel in enumerate(update.relationships)]
    return Change(name, op_id, operation == "delete", properties, edges)


class Unchanged:
    """The answer of a change function that leaves the node as it is."""


UNCHANGED = Unchanged()


def apply_change(node: Node | None, change: Change, now: float) -> Node | Unchanged | None:
    """``node`` after ``change``; ``None`` deletes it."""
    if node is not None and change.op_id and change.op_id in node.applied:
        return UNCHANGED  # a redelivered update: applied already
    if change.delete:
        if node is None:
            return UNCHANGED
        if not change.edges:
            return None
        removed = False
        for gone in change.edges:
            removed |= node.edges.get(gone.type, {}).pop(gone.target, None) is not None
        for kind in [k for k, targets in node.edges.items() if not targets]:
            del node.edges[kind]
        if not removed:
            return UNCHANGED
    else:
        node = node or Node(name=change.name)
        node.properties.update(change.properties)
        for wanted in change.edges:
            targets = node.edges.setdefault(wanted.type, {})
            stored = targets.get(wanted.target) or Edge()
            if wanted.strength is not None:
                stored.strength = wanted.strength
            if wanted.conditions is not None:
                stored.conditions = wanted.conditions
            stored.properties.update(wanted.properties)
            stored.origin, stored.updated = "update", now
            targets[wanted.target] = stored
    remember(node, change.op_id)
    node.updated = now
    return node


def ensure_node(name: str, now: float) -> Node:
    return Node(name=name, updated=now)


def drop_edges_to(node: Node | None, target: str, now: float) -> Node | Unchanged:
    """``node`` without its edges (of any type) into ``target``."""
    if node is None:
        return UNCHANGED
    removed = False
    for kind in list(node.edges):
        removed |= node.edges[kind].pop(target, None) is not None
        if not node.edges[kind]:
            del node.edges[kind]
    if not removed:
        return UNCHANGED
    node.updated = now
    return node
