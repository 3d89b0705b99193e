"""The knowledge graph's GraphQL schema and how a query runs against the read cache.

Served with graphql-core (the reference implementation) from the SDL below; the spec's
``JokerSynergies`` query runs verbatim. Every resolver reads memory, so a query never waits;
what bounds its cost is :data:`MAX_ITEMS` synergies per query and the caller's deadline, both
checked as synergies are listed (a deeply nested query is refused, not left to run).
Parsed and validated documents are kept by text (LRU), so a repeated query skips both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import anyio
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSyntaxError,
    build_schema,
    execute,
    parse,
    validate,
)

from handlers._knowledge._model import SYNERGY, Edge, Node

if TYPE_CHECKING:
    from typing import TypeAlias

    from graphql import DocumentNode, GraphQLResolveInfo

    from handlers._knowledge._cache import GraphCache

    Info: TypeAlias = "GraphQLResolveInfo[_Run]"

SDL = '''
"""Any JSON value (a joker's or an edge's free-form properties)."""
scalar JSON

type Query {
  """One joker by name (exact, else ignoring case); null when the graph does not know it."""
  joker(name: String!): Joker
  """Every joker known, by name; `nameContains` filters ignoring case."""
  jokers(nameContains: String, limit: Int): [Joker!]!
  """The strongest edges of the whole graph."""
  strongestSynergies(type: String = "SYNERGY", minGames: Int = 0, limit: Int = 10): [Synergy!]!
}

"""A joker and what is known about it."""
type Joker {
  name: String!
  properties: JSON!
  """Finished games in which it was held at the end."""
  games: Int!
  wins: Int!
  """wins / games; null before any game."""
  winRate: Float
  """Its outgoing edges of `type`, strongest first."""
  synergies(type: String = "SYNERGY", minStrength: Float = 0, limit: Int): [Synergy!]!
}

"""A directed edge: how well `source` does with `target`."""
type Synergy {
  source: Joker!
  target: Joker!
  type: String!
  """0 (the pair loses) .. 1 (the pair wins); 0.5 is neutral."""
  strength: Float!
  """When the synergy holds, in words."""
  conditions: [String!]!
  """Finished games in which both were held; wins among them."""
  games: Int!
  wins: Int!
  """"update" (set by a knowledge update) or "learned" (from game outcomes)."""
  origin: String!
  properties: JSON!
}
'''

MAX_ITEMS = 20_000
"""Synergies one query may list in all; past that it gets an error asking for a `limit`."""
MAX_LIMIT = 10_000
MAX_QUERY_CHARS = 20_000


class QueryTooLarge(GraphQLError):
    """Raised when a query would list more than :data:`MAX_ITEMS` synergies."""


class OutOfTime(GraphQLError):
    """Raised when a query runs past its deadline."""


@dataclass(slots=True)
class _Run:
    """One query's view of the cache and its budget."""

    cache: GraphCache
    deadline: float
    listed: int = 0
    timed_out: bool = False
    stubs: dict[str, Node] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        found = self.cache.nodes.get(name)
        if found is not None:
            return found
        # A target nobody described yet: a bare joker with just its name.
        return self.stubs.setdefault(name, Node(name=name))

    def spend(self, count: int) -> None:
        self.listed += count
        if self.listed > MAX_ITEMS:
            raise QueryTooLarge(
                f"the query lists more than {MAX_ITEMS} synergies: nest less or pass `limit`"
            )
        if anyio.current_time() > self.deadline:
            self.timed_out = True
            raise OutOfTime("the query ran out of time")


class SynergyView:
    """One edge as the ``Synergy`` type shows it."""

    __slots__ = ("_edge", "source_name", "target_name", "type")

    def __init__(self, source: str, target: str, kind: str, edge: Edge) -> None:
        self.source_name, self.target_name, self.type, self._edge = source, target, kind, edge

    @property
    def strength(self) -> float:
        return self._edge.strength

    @property
    def conditions(self) -> list[str]:
        return self._edge.conditions

    @property
    def games(self) -> int:
        return self._edge.games

    @property
    def wins(self) -> int:
        return self._edge.wins

    @property
    def origin(self) -> str:
        return self._edge.origin

    @property
    def properties(self) -> dict[str, Any]:
        return self._edge.properties


def _limit(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 0 and {MAX_LIMIT}")
    return value


def _strongest(views: list[SynergyView], limit: int | None) -> list[SynergyView]:
    views.sort(key=lambda v: (-v.strength, v.target_name))
    return views if limit is None else views[:limit]


def _joker(_: None, info: Info, name: str) -> Node | None:
    run = info.context
    return run.cache.find(name)


def _jokers(
    _: None, info: Info, nameContains: str | None = None, limit: int | None = None
) -> list[Node]:
    run = info.context
    wanted = nameContains.casefold() if nameContains else None
    nodes = [
        node
        for name, node in sorted(run.cache.nodes.items())
        if wanted is None or wanted in name.casefold()
    ]
    limit = _limit(limit)
    nodes = nodes if limit is None else nodes[:limit]
    run.spend(len(nodes))
    return nodes


def _strongest_synergies(
    _: None, info: Info, type: str, minGames: int, limit: int
) -> list[SynergyView]:
    run = info.context
    kind = type.upper()
    views = [
        SynergyView(node.name, target, kind, edge)
        for node in run.cache.nodes.values()
        for target, edge in node.edges.get(kind, {}).items()
        if edge.games >= minGames
    ]
    chosen = _strongest(views, _limit(limit))
    run.spend(len(chosen))
    return chosen


def _synergies(
    node: Node,
    info: Info,
    type: str = SYNERGY,
    minStrength: float = 0.0,
    limit: int | None = None,
) -> list[SynergyView]:
    run = info.context
    kind = type.upper()
    views = [
        SynergyView(node.name, target, kind, edge)
        for target, edge in node.edges.get(kind, {}).items()
        if edge.strength >= minStrength
    ]
    chosen = _strongest(views, _limit(limit))
    run.spend(len(chosen))
    return chosen


def _win_rate(node: Node, _: Info) -> float | None:
    return node.wins / node.games if node.games else None


def _source(view: SynergyView, info: Info) -> Node:
    run = info.context
    return run.node(view.source_name)


def _target(view: SynergyView, info: Info) -> Node:
    run = info.context
    return run.node(view.target_name)


def _make_schema() -> Any:
    schema = build_schema(SDL)
    json_scalar = schema.type_map["JSON"]
    assert isinstance(json_scalar, GraphQLScalarType)
    json_scalar.serialize = lambda value: value  # type: ignore[method-assign]
    resolvers = {
        ("Query", "joker"): _joker,
        ("Query", "jokers"): _jokers,
        ("Query", "strongestSynergies"): _strongest_synergies,
        ("Joker", "synergies"): _synergies,
        ("Joker", "winRate"): _win_rate,
        ("Synergy", "source"): _source,
        ("Synergy", "target"): _target,
    }
    for (type_name, field_name), resolve in resolvers.items():
        owner = schema.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        owner.fields[field_name].resolve = resolve
    return schema


SCHEMA = _make_schema()


@lru_cache(maxsize=256)
def prepare(query: str) -> DocumentNode | tuple[GraphQLError, ...]:
    """The parsed, validated document for ``query``, or its request errors."""
    if len(query) > MAX_QUERY_CHARS:
        return (GraphQLError(f"the query is longer than {MAX_QUERY_CHARS} characters"),)
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        return (exc,)
    errors = validate(SCHEMA, document)
    return tuple(errors) if errors else document


def run_query(
    cache: GraphCache,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    deadline: float,
) -> tuple[dict[str, Any], bool]:
    """The GraphQL response for ``query`` (``{"data", "errors"}``, or only ``errors`` for a
    request error, as GraphQL-over-HTTP wants) and whether it ran out of time."""
    prepared = prepare(query)
    if isinstance(prepared, tuple):
        return {"errors": [error.formatted for error in prepared]}, False
    run = _Run(cache, deadline)
    result = execute(
        SCHEMA,
        prepared,
        context_value=run,
        variable_values=variables,
        operation_name=operation_name,
    )
    if anyio.current_time() > deadline:
        run.timed_out = True
    assert isinstance(result, ExecutionResult), "every resolver is synchronous"
    errors = [error.formatted for error in result.errors or ()]
    data = result.data
    if data is None and errors and all("path" not in error for error in errors):
        # Variables that do not fit, or no operation chosen: the request failed before
        # execution, so there is no `data` at all.
        return {"errors": errors}, run.timed_out
    answer: dict[str, Any] = {"data": data}
    if errors:
        answer["errors"] = errors
    return answer, run.timed_out
