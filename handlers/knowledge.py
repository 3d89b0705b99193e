"""The knowledge graph: joker synergies, written by updates, learned from games, read by GraphQL.

Stored in the ``KNOWLEDGE`` KV bucket, one key per joker (``joker.<name>``) holding its
properties and outgoing edges (strength 0..1, conditions, games, wins), so any copy can
answer; see ``handlers/_knowledge/_model.py`` for the format. Every write is a
compare-and-set on one key, so concurrent writers never lose a change, and records the id of
the operation in the node, so a redelivered update or game is applied once.

Declared here (``jimbot run knowledge`` runs all four; each copy shares the work):

- ``query_endpoint`` answers ``rpc.knowledge.query`` (``KnowledgeQuery`` →
  ``KnowledgeQueryResponse``): GraphQL (``language`` empty or ``graphql``; the variables in
  ``extra.variables`` as JSON, else the string map ``variables``; the operation in
  ``extra.operation_name``). ``result`` is the GraphQL response (``data`` and ``errors``;
  only ``errors`` when the request itself is wrong, then ``error`` says why too). Reads an
  in-memory cache kept current by a KV watch; ``extra.min_revision`` waits until it holds a
  given write. Budget 50 ms when the caller sends none, 100 queries at once (the spec's).
- ``update_endpoint`` answers ``rpc.knowledge.update`` (``KnowledgeUpdate`` →
  ``UpdateResponse``; a bad update is error 400 naming the field), within 200 ms.
- ``update_consumer`` applies ``knowledge.update`` events (a bad one is dead-lettered).
- ``learner`` reads game-over GAME_STATEs and learns from each game once (see
  ``handlers/_knowledge/_learning.py`` for the rule), marking it ``learned.<game>`` in KV.

Publishes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from google.protobuf.json_format import MessageToDict
from nats.js.errors import KeyNotFoundError

import subjects
from handlers import (
    Consumer,
    Context,
    Endpoint,
    PermanentError,
    RetryableError,
    ServiceError,
    run,
)
from handlers._knowledge import (
    Change,
    CorruptNode,
    InvalidUpdate,
    LearnedGame,
    Outcome,
    WriteConflict,
    apply_change,
    drop_edges_to,
    encode_json,
    ensure_node,
    game_outcome,
    learn,
    learned_key,
    mutate,
    node_key,
    open_cache,
    plan_update,
    run_query,
)
from handlers._knowledge._updates import UNCHANGED
from schemas import SchemaDecodeError, unpack_payload
from schemas.events_pb2 import (
    Event,
    KnowledgeQuery,
    KnowledgeQueryResponse,
    KnowledgeUpdate,
    UpdateResponse,
)

if TYPE_CHECKING:
    from handlers._knowledge import GraphCache, Node

BUCKET = "KNOWLEDGE"
QUERY_TIMEOUT = 0.050
MUTATION_TIMEOUT = 0.200
MAX_CONCURRENT_QUERIES = 100
_ANSWER_KEY = msgspec.json.Encoder(order="sorted").encode


async def _cache(ctx: Context) -> GraphCache:
    cache = await open_cache(ctx.nc, ctx.js, ctx.names.bucket(BUCKET))
    await cache.wait_ready()
    return cache


def _extra(request: KnowledgeQuery) -> dict[str, Any]:
    return MessageToDict(request.extra) if request.HasField("extra") else {}


async def query(request: KnowledgeQuery, ctx: Context) -> KnowledgeQueryResponse:
    """Run a GraphQL query against the graph."""
    language = (request.language or "graphql").strip().lower()
    if language != "graphql":
        raise ServiceError(
            "400", f"language {request.language!r} is not served: send GraphQL (language graphql)"
        )
    if not request.query.strip():
        raise ServiceError("400", "the query is empty: send GraphQL text in `query`")
    extra = _extra(request)
    variables = extra.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ServiceError("400", "extra.variables must be a JSON object")
    if variables is None:
        variables = dict(request.variables) or None
    operation = extra.get("operation_name") or extra.get("operationName")
    cache = await _cache(ctx)
    min_revision = extra.get("min_revision")
    if isinstance(min_revision, int | float) and min_revision > 0:
        await cache.wait_revision(int(min_revision))
    key = (request.query, _ANSWER_KEY(variables), str(operation or ""))
    revision = cache.revision
    response = KnowledgeQueryResponse()
    known = cache.answers.get(key, revision)
    if known is not None:
        response.CopyFrom(known)
    else:
        answer, late = run_query(
            cache,
            request.query,
            variables,
            str(operation) if operation else None,
            deadline=ctx.deadline,
        )
        if late:
            raise ServiceError("504", "the query ran out of time; ask for less (a `limit`)")
        response.result.update(answer)
        if "data" not in answer:
            response.error = "; ".join(str(e.get("message")) for e in answer["errors"])[:1000]
        cache.answers.put(key, revision, response)
    if request.query_id:
        response.query_id = request.query_id
    return response


async def _write(ctx: Context, key: str, change: Any) -> int | None:
    """One compare-and-set write (its revision, ``None`` when nothing changed), its failures
    mapped to the runtime's outcomes."""
    kv = await ctx.kv(BUCKET)
    try:
        return await mutate(kv, key, change)
    except WriteConflict as exc:
        raise RetryableError(str(exc)) from exc
    except CorruptNode as exc:
        raise PermanentError(str(exc)) from exc


@dataclass
class Written:
    """What one update or game wrote: how many nodes, and the last revision."""

    nodes: int = 0
    revision: int = 0

    def add(self, revision: int | None) -> None:
        if revision is not None:
            self.nodes += 1
            self.revision = max(self.revision, revision)


async def apply(ctx: Context, change: Change) -> Written:
    """Apply one checked update."""
    written = Written()
    written.add(
        await _write(ctx, node_key(change.name), lambda n, now: apply_change(n, change, now))
    )
    if change.delete and not change.edges:
        # The node is gone: so are the edges into it, which live in other nodes.
        cache = await _cache(ctx)
        sources = [
            node.name
            for node in list(cache.nodes.values())
            if any(change.name in targets for targets in node.edges.values())
        ]
        for source in sources:
            written.add(
                await _write(
                    ctx, node_key(source), lambda n, now: drop_edges_to(n, change.name, now)
                )
            )
    elif not change.delete:
        for target in change.targets:
            written.add(
                await _write(
                    ctx,
                    node_key(target),
                    lambda n, now, t=target: UNCHANGED if n is not None else ensure_node(t, now),
                )
            )
    return written


async def update(request: KnowledgeUpdate, ctx: Context) -> UpdateResponse:
    """Apply a ``KnowledgeUpdate`` now and say how many nodes it wrote."""
    try:
        change = plan_update(
            request, op_id=f"update:{request.update_id}" if request.update_id else None
        )
    except InvalidUpdate as exc:
        raise ServiceError("400", str(exc)) from None
    try:
        written = await apply(ctx, change)
    except RetryableError as exc:
        raise ServiceError("503", str(exc)) from None
    except PermanentError as exc:
        raise ServiceError("500", str(exc)) from None
    verb = "deleted" if change.delete else "upserted"
    response = UpdateResponse(
        success=True,
        update_id=request.update_id,
        message=f"{verb} joker {change.name!r}",
        nodes_affected=written.nodes,
    )
    if written.revision:
        # Pass it as a query's extra.min_revision to read this write back.
        response.extra["revision"] = written.revision
    return response


async def on_update_event(event: Event, ctx: Context) -> None:
    """Apply a ``knowledge.update`` event (once, even when it is delivered again)."""
    try:
        payload = unpack_payload(event)
    except SchemaDecodeError as exc:
        raise PermanentError(str(exc)) from exc
    if not isinstance(payload, KnowledgeUpdate):
        raise PermanentError("a knowledge.update event must carry a KnowledgeUpdate payload")
    op_id = f"update:{payload.update_id or event.event_id or ctx.msg_id or ''}"
    try:
        change = plan_update(payload, op_id=op_id if op_id != "update:" else None)
    except InvalidUpdate as exc:
        raise PermanentError(str(exc)) from exc
    written = await apply(ctx, change)
    ctx.logger.debug("knowledge update of %r wrote %d nodes", change.name, written.nodes)


async def learn_outcome(ctx: Context, outcome: Outcome) -> Written:
    """Learn from one finished game, unless it was learned already."""
    kv = await ctx.kv(BUCKET)
    marker = learned_key(outcome.game)
    try:
        await kv.get(marker)
        return Written()  # this game's end arrived again (a heartbeat's copy, or a redelivery)
    except KeyNotFoundError:
        pass
    written = Written()
    for name, partners in outcome.partners().items():

        def change(
            node: Node | None, now: float, name: str = name, partners: list[str] = partners
        ) -> Any:
            return learn(node, name, partners, outcome, now)

        written.add(await _write(ctx, node_key(name), change))
    # Written last: a crash before it leaves no marker, and the nodes' own records of
    # applied games keep a second pass from counting the game twice.
    record = LearnedGame(outcome.game, outcome.won, outcome.jokers, time.time())
    await kv.put(marker, encode_json(record))
    return written


async def on_game_state(event: Event, ctx: Context) -> None:
    """Learn from a game-over state; every other state is ignored."""
    outcome = game_outcome(event)
    if outcome is None:
        return
    written = await learn_outcome(ctx, outcome)
    if written.nodes:
        ctx.logger.info(
            "learned from game %s (%s, %d jokers)",
            outcome.game,
            "won" if outcome.won else "lost",
            len(outcome.jokers),
        )


query_endpoint = Endpoint(
    name="knowledge_query",
    subject=subjects.RPC_KNOWLEDGE_QUERY,
    handle=query,
    concurrency=MAX_CONCURRENT_QUERIES,
    timeout=QUERY_TIMEOUT,
    description="jimbot knowledge graph: GraphQL KnowledgeQuery -> KnowledgeQueryResponse",
)
update_endpoint = Endpoint(
    name="knowledge_update",
    subject=subjects.RPC_KNOWLEDGE_UPDATE,
    handle=update,
    concurrency=32,
    timeout=MUTATION_TIMEOUT,
    description="jimbot knowledge graph: KnowledgeUpdate -> UpdateResponse",
)
update_consumer = Consumer(
    name="knowledge_updates",
    subjects=[subjects.KNOWLEDGE_UPDATE],
    handle=on_update_event,
    concurrency=16,
)
learner = Consumer(
    name="knowledge_learner",
    subjects=[subjects.GAME_STATE_UPDATE],
    handle=on_game_state,
    concurrency=32,
)

if __name__ == "__main__":
    raise SystemExit(run([query_endpoint, update_endpoint, update_consumer, learner]))
