"""The knowledge graph over HTTP: GraphQL at ``/graphql``, changes pushed at ``/ws/knowledge``.

``/graphql`` speaks GraphQL over HTTP: ``POST`` a JSON body ``{query, variables,
operationName}`` (or an ``application/graphql`` body holding the query), or ``GET`` with
``query``, ``variables`` (JSON) and ``operationName`` in the query string. The query goes to
``rpc.knowledge.query`` (the ``knowledge`` handler) within the spec's 50 ms, guarded by the
``knowledge_graph`` circuit breaker (10 failures, 15 s open).

Status codes follow the GraphQL-over-HTTP specification: a client that accepts
``application/graphql-response+json`` gets that type, 200 when the query ran (field errors
included, next to ``data``) and 400 when the request itself is wrong (syntax, validation,
variables: only ``errors``). A client that only accepts ``application/json`` (older clients)
gets 200 for every well-formed request, because such clients read ``errors`` from the body and
some intermediaries drop 4xx bodies. A malformed HTTP request (no query, body not JSON,
variables not an object) is 400 either way. The graph unreachable or the breaker open is 503
with ``Retry-After``; no answer in time is 504; all with GraphQL ``errors`` bodies.

``/ws/knowledge`` pushes each change of the graph as one JSON text message: ``{"type":
"upsert", "joker", "revision", "node"}`` or ``{"type": "delete", "joker", "revision"}``,
first the current node of every joker (unless ``?snapshot=false``), then ``{"type":
"ready"}``, then changes as they happen. Each connection holds its own KV watch on the
``KNOWLEDGE`` bucket, started when it connects and stopped when it leaves.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from google.protobuf.json_format import MessageToDict
from litestar import Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import WebSocketDisconnect

import subjects
from handlers import (
    BusUnavailable,
    CircuitBreakerError,
    DeadlineExceeded,
    ServiceError,
    breaker,
    request,
)
from schemas.events_pb2 import KnowledgeQuery, KnowledgeQueryResponse

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from subjects import Names

log = logging.getLogger("jimbot.gateway")

QUERY_TIMEOUT = 0.050
"""The spec's ``query_timeout``: NATS round trip and query together."""
BREAKER = "knowledge_graph"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_WATCHERS = 64
"""WebSocket clients at once; each holds a KV watch (an ephemeral consumer)."""
WATCH_LINGER = 2.0
"""Seconds the server keeps a departed client's watch consumer."""
NODE_PREFIX = "joker."
_DELETES = frozenset({"DEL", "PURGE"})
_INTERNAL_NODE_FIELDS = ("applied",)


class BadGraphQLRequest(Exception):
    """Raised when an HTTP request is not a GraphQL request; the message says what is wrong."""


def _errors(message: str, **extensions: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if extensions:
        error["extensions"] = extensions
    return {"errors": [error]}


def _media_type(accept: str) -> str | None:
    """The response type for an ``Accept`` header; ``None`` when it allows neither."""
    if not accept.strip():
        return JSON  # no Accept: the specification says to answer application/json
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if GRAPHQL_RESPONSE in kinds:
        return GRAPHQL_RESPONSE
    if kinds & {JSON, "application/*", "*/*"}:
        return JSON
    return None


def _integral(value: Any) -> Any:
    """A Struct's numbers are all doubles: give whole ones back as integers (``games: 3``)."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _variables(raw: object) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise BadGraphQLRequest(f"variables are not JSON: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise BadGraphQLRequest("variables must be a JSON object")
    return raw


def _operation(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise BadGraphQLRequest("operationName must be a string")
    return raw


def _parse_body(body: bytes, content_type: str) -> tuple[str, dict[str, Any] | None, str | None]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/graphql":
        return body.decode("utf-8", errors="replace"), None, None
    if kind not in (JSON, ""):
        raise BadGraphQLRequest(
            f"Content-Type {content_type!r}: send application/json ({{query, variables, "
            "operationName}}) or application/graphql"
        )
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadGraphQLRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadGraphQLRequest("the body must be a JSON object {query, variables, operationName}")
    query = payload.get("query")
    if not isinstance(query, str):
        raise BadGraphQLRequest("the body has no `query` string")
    return query, _variables(payload.get("variables")), _operation(payload.get("operationName"))


class GraphQLFront:
    """Forwards GraphQL requests to the knowledge graph service over NATS."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc, self.names = nc, names
        self.subject = names.subject(subjects.RPC_KNOWLEDGE_QUERY)

    async def ask(
        self, query: str, variables: dict[str, Any] | None, operation: str | None
    ) -> KnowledgeQueryResponse | ServiceError:
        """The service's answer, or the error it refused the query with (a 4xx).

        Raises:
            CircuitBreakerError, DeadlineExceeded, ServiceError (5xx), BusUnavailable.
        """
        message = KnowledgeQuery(query=query, language="graphql")
        if variables:
            message.extra["variables"] = variables
            message.variables.update({k: v for k, v in variables.items() if isinstance(v, str)})
        if operation:
            message.extra["operation_name"] = operation
        with breaker(BREAKER).calling():
            try:
                return await request(
                    self.nc, self.subject, message, KnowledgeQueryResponse, timeout=QUERY_TIMEOUT
                )
            except ServiceError as exc:
                if exc.code.startswith("4"):
                    return exc  # the query's fault, not the graph's: the breaker ignores it
                raise

    async def answer(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation: str | None,
        media_type: str,
    ) -> Response[bytes]:
        try:
            reply = await self.ask(query, variables, operation)
        except CircuitBreakerError:
            cb = breaker(BREAKER)
            return _reply(
                503,
                _errors(
                    f"the knowledge graph failed {cb.fail_max} times in a row; calls fail fast "
                    f"for up to {cb.reset_timeout:g}s",
                    code="CIRCUIT_OPEN",
                ),
                media_type,
            )
        except DeadlineExceeded:
            body = _errors(
                f"no answer from the knowledge graph within {QUERY_TIMEOUT * 1000:.0f} ms",
                code="TIMEOUT",
            )
            return _reply(504, body, media_type)
        except BusUnavailable as exc:
            return _reply(503, _errors(str(exc), code="UNAVAILABLE"), media_type)
        except ServiceError as exc:
            if exc.code == "503":
                detail = (
                    "no knowledge graph service answers: start it with `jimbot run knowledge` "
                    "(or `jimbot up`)"
                )
                return _reply(503, _errors(detail, code="UNAVAILABLE"), media_type)
            if exc.code == "504":
                return _reply(504, _errors(exc.description, code="TIMEOUT"), media_type)
            return _reply(502, _errors(exc.description, code="GRAPH_ERROR"), media_type)
        if isinstance(reply, ServiceError):
            return _reply(400, _errors(reply.description, code="BAD_REQUEST"), media_type)
        result = _integral(MessageToDict(reply.result))
        if "data" in result:
            return _reply(200, result, media_type)
        # A request error (syntax, validation, variables): 400 only for clients that said
        # they read application/graphql-response+json.
        return _reply(400 if media_type == GRAPHQL_RESPONSE else 200, result, media_type)


def _reply(status: int, body: dict[str, Any], media_type: str) -> Response[bytes]:
    headers = {"Retry-After": "1"} if status == 503 else {}
    return Response(
        msgspec.json.encode(body), status_code=status, media_type=media_type, headers=headers
    )


def unquote_key(token: str) -> str:
    """A joker name from its KV key token: bytes outside ``A-Z a-z 0-9 - _`` are ``=XX``.

    The same quoting as the knowledge handler's keys (the bucket's documented format; an edge
    never imports a handler).
    """
    out = bytearray()
    raw = token.encode()
    i = 0
    while i < len(raw):
        pair = raw[i + 1 : i + 3]
        if raw[i] == ord("=") and len(pair) == 2:
            try:
                out.append(int(pair, 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return out.decode(errors="replace")


def change_message(
    key: str, revision: int, operation: str | None, value: bytes | None
) -> dict[str, Any] | None:
    """The JSON pushed for one KV entry; ``None`` for a key that is not a joker node."""
    if not key.startswith(NODE_PREFIX):
        return None
    name = unquote_key(key[len(NODE_PREFIX) :])
    if operation in _DELETES:
        return {"type": "delete", "joker": name, "revision": revision}
    try:
        node = msgspec.json.decode(value or b"")
    except msgspec.DecodeError:
        log.warning("knowledge feed: %s does not hold JSON; not pushed", key)
        return None
    if isinstance(node, dict):
        for internal in _INTERNAL_NODE_FIELDS:
            node.pop(internal, None)
    return {"type": "upsert", "joker": name, "revision": revision, "node": node}


class ChangeFeed:
    """The ``/ws/knowledge`` side: one KV watch per connected client."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc, self.names = nc, names
        self.watchers = 0

    async def _bucket(self) -> KeyValue:
        return await self.nc.jetstream().key_value(self.names.bucket("KNOWLEDGE"))

    async def serve(self, socket: WebSocket[Any, Any, Any]) -> None:
        snapshot = socket.query_params.get("snapshot", "true").lower() not in ("false", "0", "no")
        if self.watchers >= MAX_WATCHERS:
            await socket.close(code=1013, reason=f"at most {MAX_WATCHERS} watchers; retry later")
            return
        self.watchers += 1
        try:
            await socket.accept()
            try:
                kv = await self._bucket()
                # The server drops a watch's consumer this long after its client is gone.
                watcher = await kv.watch(f"{NODE_PREFIX}>", inactive_threshold=WATCH_LINGER)
            except Exception as exc:
                log.warning("knowledge feed: cannot watch the bucket: %r", exc)
                await socket.close(code=1011, reason="the knowledge bucket cannot be watched")
                return
            try:
                await self._pump_until_gone(socket, watcher, snapshot)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await watcher.stop()  # type: ignore[no-untyped-call]
        finally:
            self.watchers -= 1

    async def _pump_until_gone(
        self, socket: WebSocket[Any, Any, Any], watcher: KeyValue.KeyWatcher, snapshot: bool
    ) -> None:
        async with anyio.create_task_group() as tg:

            async def pump() -> None:
                initial = True
                try:
                    async for entry in watcher:
                        if entry is None:  # the current values are all in
                            initial = False
                            await socket.send_text('{"type":"ready"}')
                            continue
                        if initial and not snapshot:
                            continue
                        message = change_message(
                            entry.key, entry.revision or 0, entry.operation, entry.value
                        )
                        if message is not None:
                            await socket.send_text(msgspec.json.encode(message).decode())
                except WebSocketDisconnect:
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(pump)
            try:
                while True:  # nothing to read; receiving is how a close is noticed
                    await socket.receive_data(mode="text")
            except WebSocketDisconnect:
                pass
            tg.cancel_scope.cancel()


def routes(nc: Client, names: Names) -> list[Any]:
    """The ``/graphql`` and ``/ws/knowledge`` route handlers for one gateway."""
    front = GraphQLFront(nc, names)
    feed = ChangeFeed(nc, names)

    @post("/graphql", status_code=200, summary="GraphQL query of the knowledge graph")
    async def graphql_post(request: Request[Any, Any, Any]) -> Response[bytes]:
        """The spec's ``JokerSynergies`` query, and any other query of the schema."""
        media_type = _media_type(request.headers.get("accept", ""))
        if media_type is None:
            return _reply(406, _errors(f"Accept: send {GRAPHQL_RESPONSE} or {JSON}"), JSON)
        try:
            query, variables, operation = _parse_body(
                await request.body(), request.headers.get("content-type", "")
            )
        except BadGraphQLRequest as exc:
            return _reply(400, _errors(str(exc), code="BAD_REQUEST"), media_type)
        return await front.answer(query, variables, operation, media_type)

    @get("/graphql", summary="GraphQL query of the knowledge graph (query string)")
    async def graphql_get(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``?query=...&variables=<JSON>&operationName=...``."""
        media_type = _media_type(request.headers.get("accept", ""))
        if media_type is None:
            return _reply(406, _errors(f"Accept: send {GRAPHQL_RESPONSE} or {JSON}"), JSON)
        params = request.query_params
        try:
            query = params.get("query")
            if not query:
                raise BadGraphQLRequest("no `query` parameter: GET /graphql?query={...}")
            variables = _variables(params.get("variables"))
            operation = _operation(params.get("operationName"))
        except BadGraphQLRequest as exc:
            return _reply(400, _errors(str(exc), code="BAD_REQUEST"), media_type)
        return await front.answer(query, variables, operation, media_type)

    @websocket("/ws/knowledge")
    async def knowledge_changes(socket: WebSocket[Any, Any, Any]) -> None:
        await feed.serve(socket)

    return [graphql_post, graphql_get, knowledge_changes]
