"""The knowledge graph's GraphQL schema run against an in-memory graph (no NATS)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest

from handlers._knowledge import Edge, Node, run_query
from handlers._knowledge._graphql import MAX_ITEMS

if TYPE_CHECKING:
    from handlers._knowledge import GraphCache

SPEC_QUERY = """query JokerSynergies($jokerName: String!) {
  joker(name: $jokerName) {
    synergies {
      target { name }
      strength
      conditions
    }
  }
}"""


class Graph:
    """What the executor reads of a cache: ``nodes`` and ``find``."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = {node.name: node for node in nodes}

    def find(self, name: str) -> Node | None:
        return self.nodes.get(name) or next(
            (n for k, n in self.nodes.items() if k.casefold() == name.casefold()), None
        )


def graph() -> GraphCache:
    blueprint = Node(
        name="Blueprint",
        properties={"rarity": "Rare"},
        games=4,
        wins=1,
        edges={
            "SYNERGY": {
                "Baron": Edge(strength=0.4, conditions=["Kings"], games=4, wins=1),
                "Brainstorm": Edge(strength=0.9, conditions=["copy chain"], origin="update"),
                "Mime": Edge(strength=0.6, origin="learned"),
            },
            "ANTI_SYNERGY": {"Joker": Edge(strength=0.8)},
        },
    )
    baron = Node(name="Baron", edges={"SYNERGY": {"Blueprint": Edge(strength=0.95)}})
    return cast("GraphCache", Graph(blueprint, baron))


def run(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        answer, late = run_query(graph(), query, variables, deadline=math.inf, **kw)
        assert not late
        return answer

    return anyio.run(main)


def test_the_spec_query_lists_synergies_strongest_first() -> None:
    answer = run(SPEC_QUERY, {"jokerName": "Blueprint"})
    assert answer == {
        "data": {
            "joker": {
                "synergies": [
                    {
                        "target": {"name": "Brainstorm"},
                        "strength": 0.9,
                        "conditions": ["copy chain"],
                    },
                    {"target": {"name": "Mime"}, "strength": 0.6, "conditions": []},
                    {"target": {"name": "Baron"}, "strength": 0.4, "conditions": ["Kings"]},
                ]
            }
        }
    }


def test_arguments_filter_and_other_types_are_reachable() -> None:
    answer = run(
        """{ joker(name: "blueprint") {
              name properties games wins winRate
              strong: synergies(minStrength: 0.5, limit: 1) { target { name } origin }
              anti: synergies(type: "anti_synergy") { target { name } strength type }
              back: synergies(limit: 1) { target { synergies { target { name } } } }
            } }"""
    )
    joker = answer["data"]["joker"]
    assert (joker["name"], joker["properties"], joker["winRate"]) == (
        "Blueprint",
        {"rarity": "Rare"},
        0.25,
    )
    assert joker["strong"] == [{"target": {"name": "Brainstorm"}, "origin": "update"}]
    assert joker["anti"] == [{"target": {"name": "Joker"}, "strength": 0.8, "type": "ANTI_SYNERGY"}]
    # Brainstorm has no node of its own: a bare joker with no synergies.
    assert joker["back"] == [{"target": {"synergies": []}}]


def test_graph_wide_queries() -> None:
    answer = run(
        """{ jokers { name winRate }
             some: jokers(nameContains: "BAR") { name }
             strongestSynergies(limit: 2) { source { name } target { name } strength games } }"""
    )
    data = answer["data"]
    assert data["jokers"] == [
        {"name": "Baron", "winRate": None},
        {"name": "Blueprint", "winRate": 0.25},
    ]
    assert data["some"] == [{"name": "Baron"}]
    assert data["strongestSynergies"] == [
        {
            "source": {"name": "Baron"},
            "target": {"name": "Blueprint"},
            "strength": 0.95,
            "games": 0,
        },
        {
            "source": {"name": "Blueprint"},
            "target": {"name": "Brainstorm"},
            "strength": 0.9,
            "games": 0,
        },
    ]


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ joker(", None, "Syntax Error"),
        ("{ joker { name } }", None, "is required"),
        ("{ nothing }", None, "Cannot query field"),
        (SPEC_QUERY, {}, "jokerName"),
        (SPEC_QUERY, {"jokerName": 3}, "jokerName"),
        ("query A { jokers { name } } query B { jokers { name } }", None, "operation name"),
    ],
)
def test_a_request_error_has_errors_and_no_data(
    query: str, variables: dict[str, Any] | None, message: str
) -> None:
    answer = run(query, variables)
    assert "data" not in answer
    assert message in answer["errors"][0]["message"]


def test_a_field_error_keeps_the_data_beside_it() -> None:
    answer = run(
        """{ a: joker(name: "Blueprint") { name }
             b: joker(name: "Baron") { synergies(limit: -1) { strength } } }"""
    )
    assert answer["data"] == {"a": {"name": "Blueprint"}, "b": None}
    assert "limit must be between" in answer["errors"][0]["message"]
    assert answer["errors"][0]["path"] == ["b", "synergies"]


def test_the_operation_name_picks_the_operation() -> None:
    query = 'query A { jokers { name } } query B { joker(name: "Baron") { name } }'
    assert run(query, operation_name="B") == {"data": {"joker": {"name": "Baron"}}}


def test_a_query_that_lists_too_much_is_stopped() -> None:
    names = [f"J{i}" for i in range(40)]
    nodes = [Node(name=n, edges={"SYNERGY": {t: Edge() for t in names if t != n}}) for n in names]
    big = cast("GraphCache", Graph(*nodes))
    nested = (
        "{ jokers { synergies { target { synergies { target { synergies { strength } } } } } } }"
    )

    async def main() -> tuple[dict[str, Any], bool]:
        return run_query(big, nested, deadline=math.inf)

    answer, late = anyio.run(main)
    assert not late
    assert any(f"more than {MAX_ITEMS}" in e["message"] for e in answer["errors"])


def test_a_query_past_its_deadline_says_so() -> None:
    async def main() -> tuple[dict[str, Any], bool]:
        return run_query(graph(), SPEC_QUERY, {"jokerName": "Blueprint"}, deadline=0.0)

    _, late = anyio.run(main)
    assert late
