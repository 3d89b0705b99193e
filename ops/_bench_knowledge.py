"""Bench suite ``knowledge``: the spec's GraphQL query through the knowledge graph service,
against raw nats-py echo request-reply of the same request body.

The graph: :data:`JOKERS` jokers with :data:`EDGES_PER_JOKER` SYNERGY edges each (a few
thousand edges, random strengths and conditions, seeded), written straight into a fresh
prefix's ``KNOWLEDGE`` bucket in the handler's stored format. The request: the spec's
``JokerSynergies`` query, verbatim, for a joker picked round-robin. Pairings, as in the
decision suite:

- ``raw``: a plain ``nc.subscribe(cb=...)`` answering ``msg.respond(msg.data)``;
- ``runtime``: ``handlers.knowledge.query_endpoint`` in a :class:`handlers.Worker` (GraphQL
  parse cache, the read cache fed by a KV watch, graphql-core execution), called with
  :func:`handlers.request` as the gateway's ``/graphql`` calls it;
- ``runtime_server``: the same endpoint called with plain ``nc.request``.

The GraphQL execution alone (no NATS) is timed too, and the service's p99 with many callers
is judged against the spec's 50 ms ``query_timeout``.
"""

from __future__ import annotations

import uuid
from itertools import cycle
from random import Random
from typing import TYPE_CHECKING

import anyio

import subjects
from handlers import DEADLINE_HEADER, Settings, Worker, connect, request
from handlers._knowledge import Edge, Node, encode_json, node_key, run_query
from handlers.knowledge import query_endpoint
from ops._bench_consume import drop_prefix
from ops._bench_report import RAW, RUNTIME, Row
from ops._bench_rpc import TIMEOUT, RpcFigures, _drive, _until_answered, echo_raw, time_calls
from schemas import JimbotError
from schemas.events_pb2 import KnowledgeQuery, KnowledgeQueryResponse
from subjects import Names, provision

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from handlers._knowledge import GraphCache
    from ops._bench_report import Results

JOKERS = 150
EDGES_PER_JOKER = 20
SPEC_QUERY = """query JokerSynergies($jokerName: String!) {
  joker(name: $jokerName) {
    synergies {
      target { name }
      strength
      conditions
    }
  }
}"""
BUDGET = {DEADLINE_HEADER: str(int(TIMEOUT * 1000))}
CONDITIONS = ("a Pair in the played hand", "final hand of the round", "Kings held", "no discards")


def build_graph(seed: int = 5) -> list[Node]:
    """:data:`JOKERS` jokers, each with :data:`EDGES_PER_JOKER` synergies to others."""
    rng = Random(seed)
    names = [f"Bench Joker {i:03d}" for i in range(JOKERS)]
    nodes = []
    for name in names:
        targets = rng.sample([n for n in names if n != name], EDGES_PER_JOKER)
        edges = {
            target: Edge(
                strength=round(rng.random(), 4),
                conditions=rng.sample(CONDITIONS, rng.randint(0, 2)),
                games=rng.randint(0, 40),
            )
            for target in targets
        }
        nodes.append(
            Node(name=name, properties={"cost": rng.randint(2, 10)}, edges={"SYNERGY": edges})
        )
    return nodes


def queries(nodes: list[Node], *, cold: int = 0) -> list[KnowledgeQuery]:
    """The spec's query for each joker; with ``cold``, that many asks, each with an unused
    variable of its own, so none is answered from the service's answer cache (the work of a
    query after the graph changed)."""
    if not cold:
        return [
            KnowledgeQuery(query=SPEC_QUERY, language="graphql", variables={"jokerName": n.name})
            for n in nodes
        ]
    return [
        KnowledgeQuery(
            query=SPEC_QUERY,
            language="graphql",
            variables={"jokerName": nodes[i % len(nodes)].name, "nonce": str(i)},
        )
        for i in range(cold)
    ]


async def store_graph(nc: Client, names: Names, nodes: list[Node]) -> None:
    """Provision the prefix and write ``nodes`` into its KNOWLEDGE bucket."""
    js = nc.jetstream()
    await provision(js, names)
    kv = await js.key_value(names.bucket("KNOWLEDGE"))
    for node in nodes:
        await kv.put(node_key(node.name), encode_json(node))


class _Graph:
    """The nodes as the executor reads a cache."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {node.name: node for node in nodes}

    def find(self, name: str) -> Node | None:
        return self.nodes.get(name)


async def execution_alone(nodes: list[Node], total: int) -> RpcFigures:
    """graphql-core execution of the spec's query over the in-memory graph, no NATS."""
    graph: GraphCache = _Graph(nodes)  # type: ignore[assignment]
    names = cycle(node.name for node in nodes)

    def execute() -> None:
        answer, _late = run_query(graph, SPEC_QUERY, {"jokerName": next(names)}, deadline=1e18)
        if "errors" in answer:
            raise JimbotError(f"the bench query failed: {answer['errors']}")

    return time_calls(execute, total)


async def knowledge_service(
    url: str, names: Names, nodes: list[Node], total: int, callers: int, *, cold: bool = False
) -> dict[str, RpcFigures]:
    """``handlers.knowledge.query_endpoint`` in a worker, called typed and then plainly;
    ``cold``: every ask a different one (computed, not answered from the answer cache)."""
    server = await connect(url, name="bench-knowledge-server")
    client = await connect(url, name="bench-knowledge-client")
    subject = names.subject(subjects.RPC_KNOWLEDGE_QUERY)
    if cold:  # separate asks for the two callers, so neither meets the other's answers
        made = queries(nodes, cold=2 * total + 16)
        asks, plain_asks = made[: total + 8], made[total + 8 :]
    else:
        asks = plain_asks = queries(nodes)
    next_ask = cycle(asks).__next__
    next_body = cycle([ask.SerializeToString() for ask in plain_asks]).__next__
    settings = Settings(nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0)
    worker = Worker([query_endpoint], settings=settings, nc=server)

    async def typed() -> KnowledgeQueryResponse:
        answer = await request(client, subject, next_ask(), KnowledgeQueryResponse, timeout=TIMEOUT)
        if answer.error:
            raise JimbotError(f"the knowledge service failed: {answer.error}")
        return answer

    async def plain() -> Msg:
        # The same budget as the typed calls (else the endpoint's own 50 ms applies, and a
        # late answer is an error rather than a figure).
        reply = await client.request(subject, next_body(), timeout=TIMEOUT, headers=BUDGET)
        if reply.headers and "Nats-Service-Error" in reply.headers:
            raise JimbotError(f"the knowledge service failed: {reply.headers}")
        return reply

    try:
        await store_graph(server, names, nodes)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await server.flush()
            await _until_answered(typed)  # the first answer loads the read cache
            if not cold:
                for _ in asks:  # each question once: what follows is answered from the cache
                    await typed()
            out = {
                "runtime": await _drive(typed, total, callers),
                "runtime_server": await _drive(plain, total, callers),
            }
            worker.stop()
        await drop_prefix(server.jetstream(), names)
        return out
    finally:
        await client.close()
        await server.close()


CASES = (
    ("knowledge1", "1 caller", False),
    ("knowledgen", "{callers} callers", False),
    ("knowledge1cold", "1 caller, computed", False),
    ("knowledgencold", "{callers} callers, computed", False),
)


def rows(callers: int) -> list[Row]:
    out: list[Row] = []
    for case, who, _ in CASES:
        who = who.format(callers=callers)
        out += [
            Row(f"{case}.p50_us", f"knowledge query (spec GraphQL), {who}, p50 µs"),
            Row(f"{case}.p99_us", f"knowledge query (spec GraphQL), {who}, p99 µs"),
            Row(f"{case}.req_per_s", f"knowledge query (spec GraphQL), {who}, req/s"),
            Row(f"{case}.cpu_us", f"knowledge query (spec GraphQL), {who}, CPU µs/req"),
        ]
    for case, who in (("knowledgen", ""), ("knowledgencold", ", computed")):
        out.append(
            Row(
                f"{case}.p99_ms",
                f"knowledge query, {callers} callers{who}, p99 ms (spec query_timeout 50 ms)",
                goal_max=50.0,
                absolute=True,
            )
        )
    out += [
        Row("graphql.p50_us", "knowledge GraphQL execution alone (no NATS), p50 µs"),
        Row("graphql.p99_us", "knowledge GraphQL execution alone (no NATS), p99 µs"),
    ]
    return out


def _record(results: Results, case: str, side: str, figures: RpcFigures) -> None:
    results.add_figures(case, side, figures)
    if case in ("knowledgen", "knowledgencold") and side == RUNTIME:
        results.add(f"{case}.p99_ms", RUNTIME, figures.p99_us / 1000)


async def measure(
    url: str, results: Results, *, requests: int, callers: int, rounds: int, warmup: bool
) -> str:
    """``rounds`` rounds, raw and the service alternating which goes first."""
    nodes = build_graph()
    bodies = [ask.SerializeToString() for ask in queries(nodes)]
    alone = await execution_alone(nodes, requests)
    results.add("graphql.p50_us", RUNTIME, alone.p50_us)
    results.add("graphql.p99_us", RUNTIME, alone.p99_us)

    def fresh() -> Names:
        return Names(f"benchk{uuid.uuid4().hex[:10]}")

    if warmup:
        await echo_raw(
            url, fresh().subject(subjects.RPC_KNOWLEDGE_QUERY), bodies, max(requests // 10, 1), 1
        )
        await knowledge_service(url, fresh(), nodes, max(requests // 10, 1), 1)
    for index in range(rounds):
        for case, n, total in (
            ("knowledge1", 1, requests),
            ("knowledgen", callers, 4 * requests),
            ("knowledge1cold", 1, requests),
            ("knowledgencold", callers, 4 * requests),
        ):
            cold = case.endswith("cold")
            for side in (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW):
                if side == RAW:
                    _record(
                        results,
                        case,
                        RAW,
                        await echo_raw(
                            url, fresh().subject(subjects.RPC_KNOWLEDGE_QUERY), bodies, total, n
                        ),
                    )
                    continue
                service = await knowledge_service(url, fresh(), nodes, total, n, cold=cold)
                for kind, figures in service.items():
                    _record(results, case, kind, figures)
    edges = sum(len(targets) for node in nodes for targets in node.edges.values())
    return (
        f"Knowledge: `handlers.knowledge.query_endpoint` in a worker vs a raw echo responder, "
        f"the same request bodies (the spec's `JokerSynergies` query verbatim, ~{len(bodies[0])} "
        f"B) over a graph of {len(nodes)} jokers and {edges:,} edges in KV; {requests:,} "
        f"requests with 1 caller, {4 * requests:,} with {callers}, median of {rounds}. Rows "
        'without "computed": the steady state, each question asked before and answered from '
        'the service\'s answer cache (valid until the graph next changes). "computed": every '
        "ask new (an unused variable of its own), so each is executed by graphql-core."
    )
