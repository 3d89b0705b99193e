"""The knowledge graph over a real nats-server: updates, GraphQL over HTTP, the stored shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from google.protobuf.json_format import MessageToDict

import subjects
from bridge.gateway import Gateway, create_app
from handlers import ServiceError, publish, request
from handlers._knowledge import decode_node, node_key
from handlers.knowledge import learner, query_endpoint, update_consumer, update_endpoint
from schemas import create_event
from schemas.events_pb2 import (
    KnowledgeQuery,
    KnowledgeQueryResponse,
    KnowledgeRelationship,
    KnowledgeUpdate,
    UpdateResponse,
)
from tests.integration.helpers import running, wait_for_async

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

SPEC_QUERY = """
      query JokerSynergies($jokerName: String!) {
        joker(name: $jokerName) {
          synergies {
            target { name }
            strength
            conditions
          }
        }
      }
"""
"""The spec's example, verbatim (Knowledge Graph Interface, endpoint Query)."""

HANDLERS = (query_endpoint, update_endpoint, update_consumer, learner)


def joker_update(
    name: str,
    *edges: tuple[str, float, list[str]],
    operation: str = "upsert",
    **properties: str,
) -> KnowledgeUpdate:
    update = KnowledgeUpdate(
        entity_type="joker", entity_id=name, operation=operation, properties=properties
    )
    for target, strength, conditions in edges:
        update.relationships.append(
            KnowledgeRelationship(
                type="SYNERGY",
                target_type="joker",
                target_id=target,
                strength=strength,
                properties={"conditions": json.dumps(conditions)},
            )
        )
    return update


async def send_update(
    nc: Client, names: Names, update: KnowledgeUpdate, *, event_id: str | None = None
) -> str:
    """Publish a ``knowledge.update`` event (a new message each time); its event id."""
    event = create_event(update, source="pytest", event_id=event_id)
    await publish(
        nc.jetstream(),
        names.subject(subjects.KNOWLEDGE_UPDATE),
        event,
        msg_id=uuid.uuid4().hex,
        event_type="KNOWLEDGE_UPDATE",
    )
    return event.event_id


async def read_back(nc: Client, names: Names, written: UpdateResponse) -> None:
    """Return once the knowledge service's read cache holds the update ``written``."""
    query = KnowledgeQuery(query=SPEC_QUERY, variables={"jokerName": "-"})
    query.extra["min_revision"] = written.extra["revision"]
    subject = names.subject(subjects.RPC_KNOWLEDGE_QUERY)
    await request(nc, subject, query, KnowledgeQueryResponse, timeout=5)


@pytest.fixture
async def http(nc: Client, names: Names) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def synergies_of(http: httpx.AsyncClient, joker: str) -> list[dict[str, Any]] | None:
    reply = await http.post(
        "/graphql", json={"query": SPEC_QUERY, "variables": {"jokerName": joker}}
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert "errors" not in body, body
    found = body["data"]["joker"]
    return None if found is None else list(found["synergies"])


async def test_the_spec_query_returns_the_synergies_written_by_update_events(
    nc: Client, names: Names, settings: Settings, http: httpx.AsyncClient
) -> None:
    async with running(*HANDLERS, settings=settings, nc=nc):
        await send_update(
            nc,
            names,
            joker_update(
                "Blueprint",
                ("Brainstorm", 0.9, ["Brainstorm copies Blueprint's copy"]),
                ("Baron", 0.7, ["many Kings held in hand"]),
                rarity="Rare",
            ),
        )
        await send_update(nc, names, joker_update("Baron", ("Mime", 0.8, [])))

        async def written() -> bool:
            # Brainstorm too: the consumer may apply the Baron event before the Blueprint
            # event's write of its target node is in the read cache.
            return (
                (await synergies_of(http, "Blueprint")) is not None
                and bool(await synergies_of(http, "Baron"))
                and (await synergies_of(http, "Brainstorm")) is not None
            )

        await wait_for_async(written)
        blueprint = await synergies_of(http, "Blueprint")
        baron = await synergies_of(http, "Baron")
        brainstorm = await synergies_of(http, "Brainstorm")
    assert blueprint == [
        {
            "target": {"name": "Brainstorm"},
            "strength": 0.9,
            "conditions": ["Brainstorm copies Blueprint's copy"],
        },
        {"target": {"name": "Baron"}, "strength": 0.7, "conditions": ["many Kings held in hand"]},
    ]
    assert baron == [{"target": {"name": "Mime"}, "strength": 0.8, "conditions": []}]
    assert brainstorm == []  # a target gets a node of its own, with no edges yet


async def test_get_graphql_answers_the_spec_query_from_the_query_string(
    nc: Client, names: Names, settings: Settings, http: httpx.AsyncClient
) -> None:
    async with running(*HANDLERS, settings=settings, nc=nc):
        done = await request(
            nc,
            names.subject(subjects.RPC_KNOWLEDGE_UPDATE),
            joker_update("Joker", ("Jolly Joker", 0.6, ["a Pair"])),
            UpdateResponse,
        )
        assert done.success and done.nodes_affected == 2
        params = {
            "query": SPEC_QUERY,
            "variables": json.dumps({"jokerName": "Joker"}),
            "operationName": "JokerSynergies",
        }
        accept = {"Accept": "application/graphql-response+json"}

        async def get() -> httpx.Response:
            return await http.get("/graphql", params=params, headers=accept)

        async def cached() -> bool:  # the read cache trails the write by one watch delivery
            return bool((await get()).json().get("data", {}).get("joker"))

        await wait_for_async(cached, timeout=10)
        reply = await get()
    assert reply.status_code == 200
    assert reply.json() == {
        "data": {
            "joker": {
                "synergies": [
                    {"target": {"name": "Jolly Joker"}, "strength": 0.6, "conditions": ["a Pair"]}
                ]
            }
        }
    }


async def test_a_query_with_min_revision_reads_the_update_just_written(
    nc: Client, names: Names, settings: Settings
) -> None:
    async with running(*HANDLERS, settings=settings, nc=nc):
        for strength in (0.1, 0.2, 0.3, 0.4):
            done = await request(
                nc,
                names.subject(subjects.RPC_KNOWLEDGE_UPDATE),
                joker_update("Cavendish", ("Gros Michel", strength, [])),
                UpdateResponse,
            )
            query = KnowledgeQuery(query=SPEC_QUERY, variables={"jokerName": "Cavendish"})
            query.extra["min_revision"] = done.extra["revision"]
            answer = await request(
                nc,
                names.subject(subjects.RPC_KNOWLEDGE_QUERY),
                query,
                KnowledgeQueryResponse,
                timeout=5,
            )
            synergies = MessageToDict(answer.result)["data"]["joker"]["synergies"]
            assert [s["strength"] for s in synergies] == [strength]


async def test_graphql_errors_follow_graphql_over_http(
    nc: Client, names: Names, settings: Settings, http: httpx.AsyncClient
) -> None:
    new_style = {"Accept": "application/graphql-response+json"}
    async with running(*HANDLERS, settings=settings, nc=nc):
        # A query that does not validate: no data, 200 for application/json clients...
        legacy = await http.post("/graphql", json={"query": "{ joker { name } }"})
        # ...and 400 for clients that read application/graphql-response+json.
        modern = await http.post(
            "/graphql", json={"query": "{ joker { name } }"}, headers=new_style
        )
        syntax = await http.post("/graphql", json={"query": "{ joker("}, headers=new_style)
        missing = await http.post(
            "/graphql", json={"query": SPEC_QUERY, "variables": {}}, headers=new_style
        )
        not_json = await http.post(
            "/graphql", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        no_query = await http.get("/graphql")
        bad_vars = await http.get("/graphql", params={"query": SPEC_QUERY, "variables": "[1]"})
        unknown = await http.post(
            "/graphql", json={"query": SPEC_QUERY, "variables": {"jokerName": "Nobody"}}
        )
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith("application/json")
    assert "data" not in legacy.json()
    assert "is required" in legacy.json()["errors"][0]["message"]
    assert modern.status_code == 400
    assert modern.headers["content-type"].startswith("application/graphql-response+json")
    assert syntax.status_code == 400 and "Syntax Error" in syntax.json()["errors"][0]["message"]
    assert missing.status_code == 400 and "jokerName" in missing.json()["errors"][0]["message"]
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["errors"][0]["message"]
    assert no_query.status_code == 400 and "query" in no_query.json()["errors"][0]["message"]
    assert bad_vars.status_code == 400 and "object" in bad_vars.json()["errors"][0]["message"]
    assert unknown.status_code == 200 and unknown.json() == {"data": {"joker": None}}


async def test_graphql_without_a_knowledge_service_is_503_with_the_fix(
    http: httpx.AsyncClient,
) -> None:
    reply = await http.post("/graphql", json={"query": "{ jokers { name } }"})
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "1"
    assert "jimbot run knowledge" in reply.json()["errors"][0]["message"]


async def test_concurrent_updates_of_one_joker_lose_nothing(
    nc: Client, names: Names, settings: Settings
) -> None:
    targets = [f"Partner {i}" for i in range(24)]
    subject = names.subject(subjects.RPC_KNOWLEDGE_UPDATE)
    async with running(*HANDLERS, settings=settings, nc=nc):

        async def add(target: str) -> None:
            update = joker_update("Hub", (target, 0.5, []), **{target: "yes"})
            await request(nc, subject, update, UpdateResponse, timeout=5.0)

        async with anyio.create_task_group() as tg:
            for target in targets:
                tg.start_soon(add, target)
    kv = await nc.jetstream().key_value(names.bucket("KNOWLEDGE"))
    hub = decode_node((await kv.get(node_key("Hub"))).value or b"")
    assert sorted(hub.edges["SYNERGY"]) == sorted(targets)
    assert sorted(hub.properties) == sorted(targets)


async def test_a_bad_update_is_refused_with_the_field_named(
    nc: Client, names: Names, settings: Settings
) -> None:
    subject = names.subject(subjects.RPC_KNOWLEDGE_UPDATE)
    cases = [
        (KnowledgeUpdate(entity_type="planet", entity_id="Pluto"), "entity_type"),
        (KnowledgeUpdate(entity_type="joker", entity_id=" "), "entity_id"),
        (KnowledgeUpdate(entity_id="Joker", operation="rename"), "operation"),
        (joker_update("Joker", ("Mime", 1.5, [])), "strength"),
    ]
    async with running(*HANDLERS, settings=settings, nc=nc):
        for update, field in cases:
            with pytest.raises(ServiceError) as caught:
                await request(nc, subject, update, UpdateResponse)
            assert caught.value.code == "400"
            assert field in caught.value.description


async def test_deleting_a_joker_removes_the_edges_into_it(
    nc: Client, names: Names, settings: Settings, http: httpx.AsyncClient
) -> None:
    subject = names.subject(subjects.RPC_KNOWLEDGE_UPDATE)
    async with running(*HANDLERS, settings=settings, nc=nc):
        await request(
            nc, subject, joker_update("A", ("B", 0.9, []), ("C", 0.4, [])), UpdateResponse
        )
        c = await request(nc, subject, joker_update("C", ("B", 0.3, [])), UpdateResponse)
        # The delete finds the edges into B in the read cache: wait until it holds them.
        await read_back(nc, names, c)
        gone = await request(
            nc, subject, KnowledgeUpdate(entity_id="B", operation="delete"), UpdateResponse
        )
        assert gone.nodes_affected == 3  # B itself, and the edges of A and C into it
        edge_gone = KnowledgeUpdate(entity_id="A", operation="delete")
        edge_gone.relationships.add(target_id="C")
        await request(nc, subject, edge_gone, UpdateResponse)

        async def settled() -> bool:
            return (await synergies_of(http, "A")) == [] and (await synergies_of(http, "B")) is None

        await wait_for_async(settled)
        assert await synergies_of(http, "C") == []


async def test_an_update_from_the_mod_as_json_reaches_the_graph(
    nc: Client, names: Names, settings: Settings, http: httpx.AsyncClient
) -> None:
    event = {
        "type": "KNOWLEDGE_UPDATE",
        "source": "curator",
        "event_id": "9b1f7a5e-2c11-4d2b-8f0e-5d1b2f6a7c01",
        "timestamp": 1700000000000,
        "version": 1,
        "payload": {
            "entity_type": "joker",
            "entity_id": "Hack",
            "relationships": [
                {
                    "target_id": "Dusk",
                    "strength": 0.85,
                    "conditions": ["2s to 5s retriggered", "final hand"],
                    "properties": {"source": "wiki", "confidence": 2},
                }
            ],
        },
    }
    async with running(*HANDLERS, settings=settings, nc=nc):
        stored = await http.post("/api/v1/events", json=event)
        assert stored.status_code == 200, stored.text

        async def arrived() -> bool:
            return bool(await synergies_of(http, "Hack"))

        await wait_for_async(arrived)
        reply = await http.post(
            "/graphql",
            json={"query": '{ joker(name: "hack") { name synergies { origin properties } } }'},
        )
        hack = await synergies_of(http, "Hack")
    assert hack == [
        {
            "target": {"name": "Dusk"},
            "strength": 0.85,
            "conditions": ["2s to 5s retriggered", "final hand"],
        }
    ]
    joker = reply.json()["data"]["joker"]
    assert joker["name"] == "Hack"  # found ignoring case
    assert joker["synergies"] == [
        {"origin": "update", "properties": {"source": "wiki", "confidence": 2}}
    ]
