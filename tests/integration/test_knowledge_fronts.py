"""The knowledge graph's other fronts: the /ws/knowledge change feed, the KnowledgeGraph gRPC
service and the knowledge_graph circuit breaker, over a real nats-server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import anyio
import grpc
import httpx
import pytest
import uvicorn
from google.protobuf.json_format import MessageToDict
from websockets.asyncio.client import ClientConnection, connect

import subjects
from bridge.gateway import Gateway, create_app
from bridge.gateway._serve import bind
from bridge.grpcfronts import knowledge as knowledge_front
from handlers import forget_breakers, request
from handlers.knowledge import query_endpoint, update_endpoint
from schemas import events_pb2_grpc
from schemas.events_pb2 import KnowledgeQuery, KnowledgeUpdate, UpdateResponse
from tests.integration.helpers import running, wait_for_async
from tests.integration.test_knowledge import SPEC_QUERY, joker_update

if TYPE_CHECKING:
    from litestar import Litestar
    from nats.aio.client import Client

    from handlers import Settings
    from schemas.events_pb2_grpc import KnowledgeGraphAsyncStub
    from subjects import Names


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    forget_breakers()
    yield
    forget_breakers()


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[int]:
    """The app on a real uvicorn server (WebSockets need one); its port."""
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            try:
                yield sock.getsockname()[1]
            finally:
                server.should_exit = True
    finally:
        sock.close()


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(10):
        message = json.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def until_ready(ws: ClientConnection) -> list[dict[str, Any]]:
    """The snapshot sent before ``ready``."""
    seen = []
    while (message := await next_message(ws))["type"] != "ready":
        seen.append(message)
    return seen


async def kv_consumers(nc: Client, names: Names) -> int:
    info = await nc.jetstream().stream_info(f"KV_{names.bucket('KNOWLEDGE')}")
    return info.state.consumer_count


async def test_the_websocket_pushes_the_graph_then_each_change(
    nc: Client, names: Names, settings: Settings
) -> None:
    subject = names.subject(subjects.RPC_KNOWLEDGE_UPDATE)
    async with running(update_endpoint, settings=settings, nc=nc):
        await request(
            nc, subject, joker_update("Blueprint", ("Brainstorm", 0.9, [])), UpdateResponse
        )
        # A delete reads the handler's cache: make it now, so it is part of the baseline.
        await request(
            nc, subject, KnowledgeUpdate(entity_id="Nobody", operation="delete"), UpdateResponse
        )
        baseline = await kv_consumers(nc, names)
        async with serving(create_app(Gateway(nc, names))) as port:
            async with connect(f"ws://127.0.0.1:{port}/ws/knowledge") as ws:
                snapshot = await until_ready(ws)
                assert await kv_consumers(nc, names) == baseline + 1  # this client's watch
                await request(
                    nc, subject, joker_update("Baron", ("Mime", 0.8, ["Kings"])), UpdateResponse
                )
                baron = await next_message(ws)
                mime = await next_message(ws)
                await request(
                    nc,
                    subject,
                    KnowledgeUpdate(entity_id="Mime", operation="delete"),
                    UpdateResponse,
                )
                changes = [await next_message(ws), await next_message(ws)]
            async with connect(f"ws://127.0.0.1:{port}/ws/knowledge?snapshot=false") as quiet:
                first = await next_message(quiet)

            async def watches_stopped() -> bool:
                return await kv_consumers(nc, names) == baseline

            await wait_for_async(watches_stopped)

    assert sorted(m["joker"] for m in snapshot) == ["Blueprint", "Brainstorm"]
    blueprint = next(m for m in snapshot if m["joker"] == "Blueprint")
    assert blueprint["type"] == "upsert" and blueprint["revision"] > 0
    assert blueprint["node"]["edges"]["SYNERGY"]["Brainstorm"]["strength"] == 0.9
    assert "applied" not in blueprint["node"]
    assert (baron["type"], baron["joker"]) == ("upsert", "Baron")
    assert baron["node"]["edges"]["SYNERGY"]["Mime"]["conditions"] == ["Kings"]
    assert (mime["type"], mime["joker"], mime["node"]["name"]) == ("upsert", "Mime", "Mime")
    by_joker = {m["joker"]: m for m in changes}
    assert by_joker["Mime"]["type"] == "delete"
    assert by_joker["Baron"]["type"] == "upsert"  # its edge into Mime went with Mime
    assert "SYNERGY" not in by_joker["Baron"]["node"].get("edges", {})
    assert first == {"type": "ready"}


@asynccontextmanager
async def front_channel(nc: Client, names: Names) -> AsyncIterator[grpc.aio.Channel]:
    """A gRPC server with just the KnowledgeGraph front; a channel to it."""
    server = grpc.aio.server()
    assert knowledge_front.add(server, nc, names) == "jimbot.events.v1.KnowledgeGraph"
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(grace=None)


@asynccontextmanager
async def grpc_front(nc: Client, names: Names) -> AsyncIterator[KnowledgeGraphAsyncStub]:
    async with front_channel(nc, names) as channel:
        yield cast("KnowledgeGraphAsyncStub", events_pb2_grpc.KnowledgeGraphStub(channel))


async def test_grpc_update_then_query_reads_the_write_back(
    nc: Client, names: Names, settings: Settings
) -> None:
    async with (
        running(query_endpoint, update_endpoint, settings=settings, nc=nc),
        grpc_front(nc, names) as stub,
    ):
        done = await stub.UpdateKnowledge(
            joker_update("Hiker", ("Dusk", 0.7, ["retriggers add chips"])), timeout=2
        )
        query = KnowledgeQuery(
            query=SPEC_QUERY, language="graphql", variables={"jokerName": "Hiker"}
        )
        query.extra["min_revision"] = done.extra["revision"]
        answer = await stub.Query(query, timeout=2)
    assert (done.success, done.nodes_affected) == (True, 2)
    assert answer.error == ""
    assert MessageToDict(answer.result) == {
        "data": {
            "joker": {
                "synergies": [
                    {
                        "target": {"name": "Dusk"},
                        "strength": 0.7,
                        "conditions": ["retriggers add chips"],
                    }
                ]
            }
        }
    }


async def test_grpc_errors_are_statuses_with_the_fix(
    nc: Client, names: Names, settings: Settings
) -> None:
    async with grpc_front(nc, names) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as nobody:
            await stub.Query(KnowledgeQuery(query="{ jokers { name } }"), timeout=2)
        async with running(query_endpoint, update_endpoint, settings=settings, nc=nc):
            with pytest.raises(grpc.aio.AioRpcError) as bad_update:
                await stub.UpdateKnowledge(joker_update("Joker", ("Mime", 7.0, [])), timeout=2)
            with pytest.raises(grpc.aio.AioRpcError) as cypher:
                await stub.Query(KnowledgeQuery(query="MATCH (j) RETURN j", language="cypher"))
            invalid = await stub.Query(KnowledgeQuery(query="{ joker { name } }"), timeout=2)
    assert nobody.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "jimbot run knowledge" in (nobody.value.details() or "")
    assert bad_update.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "strength" in (bad_update.value.details() or "")
    assert cypher.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "graphql" in (cypher.value.details() or "")
    # A query that does not validate is an answer, with GraphQL errors, as over HTTP.
    assert "is required" in invalid.error
    assert "data" not in invalid.result


async def test_a_body_that_is_not_the_message_is_invalid_argument(nc: Client, names: Names) -> None:
    async with front_channel(nc, names) as channel:
        call = channel.unary_unary("/jimbot.events.v1.KnowledgeGraph/UpdateKnowledge")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"\xff\xff\xff", timeout=2)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "KnowledgeUpdate" in (caught.value.details() or "")


async def test_the_breaker_opens_after_ten_failures_and_fails_fast(
    nc: Client, names: Names
) -> None:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    body = {"query": "{ jokers { name } }"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        failures = [await http.post("/graphql", json=body) for _ in range(10)]
        open_ = await http.post("/graphql", json=body)
    # No service: each ask fails at once (no responders), or, on a loaded machine, when its
    # 50 ms budget runs out first; both count as failures of the knowledge graph.
    codes = {(r.status_code, r.json()["errors"][0]["extensions"]["code"]) for r in failures}
    assert codes <= {(503, "UNAVAILABLE"), (504, "TIMEOUT")}
    assert open_.status_code == 503
    assert open_.json()["errors"][0]["extensions"]["code"] == "CIRCUIT_OPEN"
    assert "15s" in open_.json()["errors"][0]["message"]
