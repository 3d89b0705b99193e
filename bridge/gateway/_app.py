"""The HTTP gateway's routes: a drop-in for the old Rust bus, and better.

Why Litestar: its request and response models *are* msgspec Structs (the schemas package is
msgspec already), it runs on anyio, and it writes the OpenAPI document from those types.
Bodies from the mod are read raw and decoded tolerantly by ``schemas`` rather than by the
framework, because the mod's JSON is not JSON (bare ``inf``, ``{}`` for lists).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest

from bridge.gateway._commands import (
    SESSION_HEADER,
    CommandError,
    CommandQueue,
    parse_commands,
    session_token,
)
from bridge.gateway._features import feature_routes
from bridge.gateway._history import HistoryQueryError, parse_time, read_history
from bridge.gateway._ingest import Ingestor
from bridge.gateway._openapi import BatchOperation, EventOperation, add_schemas
from handlers import BusUnavailable, ErrorReporter
from schemas import SchemaDecodeError, decode_batch, decode_event, encode_json

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

VERSION = "0.1.0"
log = logging.getLogger("jimbot.gateway")
MAX_BODY = 10 * 1024 * 1024
"""The events stream's max message size; a bigger body gets 413."""

EVENTS = Counter(
    "jimbot_gateway_events_total",
    "Events received by the HTTP gateway, by what became of them.",
    ["outcome"],
)


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    title: str
    status: int
    detail: str
    type: str = "about:blank"


class Queued(msgspec.Struct):
    """The answer to ``POST /api/v1/commands``."""

    status: str
    session: str
    queued: int
    commands: list[str]


class Health(msgspec.Struct):
    """The old bus's ``/health`` shape, plus whether NATS and JetStream are reachable."""

    status: str
    version: str
    uptime_seconds: float
    metadata: dict[str, str]
    nats: dict[str, Any]
    jetstream: dict[str, Any]


def problem(status: int, title: str, detail: str) -> Response[bytes]:
    body = msgspec.json.encode(Problem(title=title, status=status, detail=detail))
    headers = {"Retry-After": "1"} if status == HTTP_503_SERVICE_UNAVAILABLE else {}
    return Response(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


@dataclass
class Gateway:
    """What the routes share: the connection, the names, the ingest and command services."""

    nc: Client
    names: Names
    errors: ErrorReporter | None = None
    """Where unexpected errors are published as error events (``events.error.gateway``)."""
    started: float = field(default_factory=time.monotonic)
    ingest: Ingestor = field(init=False)
    commands: CommandQueue = field(init=False)

    def __post_init__(self) -> None:
        self.ingest = Ingestor(self.nc, self.names)
        self.commands = CommandQueue(self.nc, self.names)

    def session(self, request: Request[Any, Any, Any]) -> str:
        return session_token(
            request.headers.get(SESSION_HEADER) or request.query_params.get("session")
        )

    async def store(self, out: list[Any], batch_id: str | None, received: int) -> Response[bytes]:
        try:
            report = await self.ingest.store(out, batch_id, received)
        except BusUnavailable as exc:
            EVENTS.labels("refused").inc(received)
            return problem(HTTP_503_SERVICE_UNAVAILABLE, "event bus unavailable", f"{exc}; retry")
        EVENTS.labels("stored").inc(report.stored)
        EVENTS.labels("duplicate").inc(report.duplicates)
        EVENTS.labels("dead_lettered").inc(len(report.dead_lettered))
        return Response(msgspec.json.encode(report), media_type="application/json")

    async def unparsable(self, body: bytes, exc: SchemaDecodeError) -> Response[bytes]:
        """Not JSON at all: keep the raw body in the dead-letter stream, answer 400."""
        try:
            await self.ingest.store(self.ingest.plan_unparsable(body, str(exc)), None, 1)
        except BusUnavailable as bus:
            return problem(HTTP_503_SERVICE_UNAVAILABLE, "event bus unavailable", f"{bus}; retry")
        EVENTS.labels("dead_lettered").inc()
        return problem(
            HTTP_400_BAD_REQUEST,
            "body is not a JSON event",
            f"{exc} (kept in the dead-letter stream)",
        )


def create_app(gateway: Gateway) -> Litestar:
    """The Litestar application for one gateway."""

    @post(
        "/api/v1/events/batch",
        status_code=200,
        summary="Store a batch of mod events",
        operation_class=BatchOperation,
    )
    async def post_batch(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Every event is stored or dead-lettered before the answer; 503 means retry."""
        body = await request.body()
        try:
            batch = decode_batch(body)
        except SchemaDecodeError as exc:
            return await gateway.unparsable(body, exc)
        out = gateway.ingest.plan(batch.results, batch, session=gateway.session(request))
        return await gateway.store(out, batch.batch_id, len(batch.results))

    @post(
        "/api/v1/events",
        status_code=200,
        summary="Store one event (the mod's connection test)",
        operation_class=EventOperation,
    )
    async def post_event(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await request.body()
        try:
            decoded = decode_event(body)
        except SchemaDecodeError as exc:
            try:
                batch = decode_batch(b'{"events":[' + body + b"]}")
            except SchemaDecodeError:
                return await gateway.unparsable(body, exc)
            out = gateway.ingest.plan(batch.results, None, session=gateway.session(request))
            return await gateway.store(out, None, 1)
        out = gateway.ingest.plan([decoded], None, session=gateway.session(request))
        return await gateway.store(out, None, 1)

    @get("/api/v1/commands/poll", summary="Commands queued for the game, one per line")
    async def poll(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Never waits: what is queued now as ``text/plain`` lines, or an empty body."""
        try:
            lines = await gateway.commands.poll(gateway.session(request))
        except BusUnavailable as exc:
            return problem(HTTP_503_SERVICE_UNAVAILABLE, "event bus unavailable", str(exc))
        text = "".join(f"{line}\n" for line in lines)
        return Response(text.encode(), media_type="text/plain; charset=utf-8")

    @post("/api/v1/commands", status_code=202, summary="Queue commands for the game")
    async def post_commands(request: Request[Any, Any, Any]) -> Response[bytes]:
        """The helper tool's JSON (``{"type", "payload": {"index"}}``) or ``name:params`` lines."""
        body = await request.body()
        try:
            lines = parse_commands(body, request.headers.get("content-type", ""))
        except CommandError as exc:
            return problem(HTTP_400_BAD_REQUEST, "not a command", str(exc))
        session = gateway.session(request)
        try:
            queued = await gateway.commands.enqueue(
                session, lines, msg_id=request.headers.get("idempotency-key")
            )
        except (BusUnavailable, TimeoutError) as exc:
            return problem(HTTP_503_SERVICE_UNAVAILABLE, "event bus unavailable", f"{exc}; retry")
        answer = Queued(status="queued", session=session, queued=queued, commands=lines)
        return Response(msgspec.json.encode(answer), status_code=202, media_type="application/json")

    @get("/api/v1/events", summary="Event history by time range and type")
    async def history(
        request: Request[Any, Any, Any],
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: Annotated[str | None, QueryParameter()] = None,
        event_type: Annotated[str | None, QueryParameter(name="type")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[bytes]:
        """``from``/``to`` in epoch milliseconds or ISO 8601; ``type`` as the mod names it."""
        try:
            events = await read_history(
                gateway.nc,
                gateway.names,
                start=parse_time("from", from_),
                end=parse_time("to", to),
                event_type=event_type,
                limit=limit,
            )
        except HistoryQueryError as exc:
            return problem(HTTP_400_BAD_REQUEST, "bad query", str(exc))
        # encode_json keeps Infinity / NaN: an infinite score reads back infinite.
        return Response(
            encode_json({"events": events, "count": len(events)}), media_type="application/json"
        )

    @get("/health", summary="Liveness, with NATS and JetStream reachability")
    async def health() -> Response[bytes]:
        nc = gateway.nc
        jetstream: dict[str, Any] = {"reachable": False}
        if nc.is_connected:
            try:
                with anyio.fail_after(1):
                    info = await nc.jetstream().stream_info(gateway.names.events_stream)
                jetstream = {"reachable": True, "events": info.state.messages}
            except Exception as exc:
                jetstream = {"reachable": False, "error": type(exc).__name__}
        healthy = nc.is_connected and jetstream["reachable"]
        body = Health(
            status="healthy" if healthy else "degraded",
            version=VERSION,
            uptime_seconds=round(time.monotonic() - gateway.started, 3),
            # pid: which of several gateway workers (JIMBOT_HTTP_WORKERS) answered.
            metadata={
                "prefix": gateway.names.prefix,
                "component": "gateway",
                "pid": str(os.getpid()),
            },
            nats={
                "connected": nc.is_connected,
                "url": nc.connected_url.netloc if nc.connected_url else None,
            },
            jetstream=jetstream,
        )
        return Response(
            msgspec.json.encode(body),
            status_code=200 if healthy else HTTP_503_SERVICE_UNAVAILABLE,
            media_type="application/json",
        )

    @get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response[bytes]:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def log_unexpected(exc: Exception, scope: Any) -> None:
        if not isinstance(exc, HTTPException):
            method, path = scope.get("method"), scope.get("path")
            log.error("unexpected error on %s %s", method, path, exc_info=exc)
            if gateway.errors is not None:
                gateway.errors.report(
                    severity="ERROR",
                    action="ESCALATE",
                    message=f"unexpected error on {method} {path}: {type(exc).__name__}: {exc}",
                    error_type=type(exc).__name__,
                    exc=exc,
                    context={"method": str(method), "path": str(path)},
                )

    app = Litestar(
        route_handlers=[
            post_batch,
            post_event,
            poll,
            post_commands,
            history,
            health,
            metrics,
            *feature_routes(gateway.nc, gateway.names),
        ],
        after_exception=[log_unexpected],
        openapi_config=OpenAPIConfig(title="jimbot gateway", version=VERSION, path="/schema"),
        request_max_body_size=MAX_BODY,
        debug=False,
        logging_config=None,  # the process's JSON logging stays as configured
    )
    add_schemas(app)
    return app
