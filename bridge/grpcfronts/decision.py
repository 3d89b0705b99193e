"""The spec's learning orchestration ``GetDecision`` / ``StreamDecisions`` over gRPC.

Each request is a NATS request to ``rpc.decision.get`` (the ``decision`` handler serves it)
within a budget: the client's deadline less a few milliseconds to answer, else
:data:`DEFAULT_BUDGET` (longer when the request's ``time_limit_ms`` asks for more). The budget
travels in the request's deadline header, so the service stops working when it runs out.

Errors are gRPC statuses with a detail: nobody serving the subject, NATS down, or an open
circuit breaker → ``UNAVAILABLE``; no answer in time → ``DEADLINE_EXCEEDED``; the service
refusing the request (4xx) → ``INVALID_ARGUMENT``; it failing otherwise → ``INTERNAL``. Calls
go through the ``decision`` circuit breaker that guards every :func:`handlers.request` (the
spec's 5 failures / 30 s / 3 half-open successes, ``JIMBOT_BREAKER_DECISION`` overrides): once
open, requests fail at once with "circuit open". A refused or cancelled request is not a
failure of the service.

``StreamDecisions`` answers up to :data:`STREAM_WINDOW` requests concurrently and writes the
responses in request order; it reads no further while the window is full, so a client that does
not read its answers stops being read. The first request that fails ends the stream with its
status, after every response before it was written.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import grpc
from nats.errors import NoRespondersError

import subjects
from bridge._budget import call_budget
from bridge.grpcfronts._rejects import InvalidInput, Rejects, parse
from bridge.grpcfronts._tracectx import continued, trace_metadata
from handlers import (
    BusUnavailable,
    CircuitOpen,
    DeadlineExceeded,
    ServiceError,
    request,
)
from schemas import events_pb2

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from google.protobuf.message import Message
    from nats.aio.client import Client

    from subjects import Names

log = logging.getLogger("jimbot.grpcfronts")

SERVICE = events_pb2.DESCRIPTOR.services_by_name["DecisionService"].full_name
REQUEST_TYPE = events_pb2.LearningDecisionRequest.DESCRIPTOR.full_name
DEFAULT_BUDGET = 1.0
"""Seconds a request may take when the client set no deadline."""
REPLY_MARGIN = 0.01
"""Seconds kept from the client's deadline to send the answer (at most a fifth of it)."""
STREAM_WINDOW = 16
"""Requests of one ``StreamDecisions`` call in flight at once."""

Request = events_pb2.LearningDecisionRequest
Response = events_pb2.LearningDecisionResponse


@dataclass
class Failed(Exception):
    """Raised when a request gets no decision; carries the gRPC status to end the call with."""

    code: grpc.StatusCode
    detail: str


class DecisionFront:
    """Serves ``jimbot.events.v1.DecisionService`` on one NATS connection under one prefix."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc = nc
        self.names = names
        self.subject = names.subject(subjects.RPC_DECISION_GET)
        self.rejects = Rejects(nc, names, consumer="grpc_decision")

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to a ``grpc.aio`` server (requests arrive as bytes)."""

        def out(message: Message) -> bytes:
            return message.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "GetDecision": grpc.unary_unary_rpc_method_handler(
                    self.get_decision, response_serializer=out
                ),
                "StreamDecisions": grpc.stream_stream_rpc_method_handler(
                    self.stream_decisions, response_serializer=out
                ),
            },
        )

    async def get_decision(self, body: bytes, context: grpc.aio.ServicerContext) -> Response:
        """One decision within the client's deadline."""
        req = await self._parse(body, context, "GetDecision")
        budget = _budget(req, context.time_remaining())
        try:
            return await self.decide(req, budget, trace_metadata(context))
        except Failed as failed:
            await context.abort(failed.code, failed.detail)
            raise AssertionError("context.abort returned") from None

    async def stream_decisions(
        self, bodies: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> None:
        """Answers in request order, up to :data:`STREAM_WINDOW` worked on at once."""
        carrier = trace_metadata(context)
        # The reader may run STREAM_WINDOW - 1 slots ahead of the one being awaited.
        send, receive = anyio.create_memory_object_stream[_Slot](STREAM_WINDOW - 1)
        failed: Failed | None = None
        rejected: tuple[bytes, str] | None = None

        async with anyio.create_task_group() as tg:

            async def read() -> None:
                nonlocal rejected
                async with send:
                    index = 0
                    async for body in bodies:
                        index += 1
                        slot = _Slot()
                        try:
                            req = parse(Request, body)
                        except InvalidInput as exc:
                            rejected = (body, f"request {index}: {exc}")
                            slot.finish(Failed(grpc.StatusCode.INVALID_ARGUMENT, rejected[1]))
                            await send.send(slot)
                            return
                        budget = _budget(req, context.time_remaining())
                        tg.start_soon(slot.run, self.decide(req, budget, carrier))
                        await send.send(slot)

            tg.start_soon(read)
            async with receive:
                async for slot in receive:
                    result = await slot.wait()
                    if isinstance(result, Failed):
                        failed = result
                        break
                    await context.write(result)
            tg.cancel_scope.cancel()
        if rejected is not None:
            await self.rejects.keep(_path("StreamDecisions"), REQUEST_TYPE, *rejected)
        if failed is not None:
            await context.abort(failed.code, failed.detail)

    async def _parse(self, body: bytes, context: grpc.aio.ServicerContext, method: str) -> Request:
        try:
            return parse(Request, body)
        except InvalidInput as exc:
            await self.rejects.refuse(
                context, _path(method), REQUEST_TYPE, body, str(exc), intended=self.subject
            )

    async def decide(self, req: Request, budget: float, carrier: dict[str, str]) -> Response:
        """The decision service's answer to ``req`` within ``budget`` seconds.

        Raises:
            Failed: with the gRPC status and detail to answer instead.
        """
        if not self.nc.is_connected:
            raise Failed(grpc.StatusCode.UNAVAILABLE, "the event bus (NATS) is not connected")
        try:
            with continued(carrier):
                return await request(
                    self.nc, self.subject, req, Response, timeout=budget, headers=carrier
                )
        except CircuitOpen as exc:
            # handlers.request guards every call with the `decision` breaker.
            raise Failed(grpc.StatusCode.UNAVAILABLE, exc.description) from None
        except DeadlineExceeded:
            raise Failed(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no decision within {budget * 1000:.0f} ms from {self.subject}",
            ) from None
        except ServiceError as exc:
            raise _service_failure(exc, self.subject) from None
        except BusUnavailable as exc:
            raise Failed(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        except Exception as exc:
            log.warning("decision request failed: %r", exc)
            raise Failed(
                grpc.StatusCode.INTERNAL,
                f"the decision service's answer is not a {Response.DESCRIPTOR.full_name} "
                f"({type(exc).__name__})",
            ) from None


class _Slot:
    """One request of a stream: its response or failure, once ready."""

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._result: Response | Failed | None = None

    def finish(self, result: Response | Failed) -> None:
        self._result = result
        self._done.set()

    async def run(self, work: Awaitable[Response]) -> None:
        try:
            self.finish(await work)
        except Failed as failed:
            self.finish(failed)

    async def wait(self) -> Response | Failed:
        await self._done.wait()
        assert self._result is not None
        return self._result


def _service_failure(exc: ServiceError, subject: str) -> Failed:
    if isinstance(exc.__cause__, NoRespondersError):
        return Failed(
            grpc.StatusCode.UNAVAILABLE,
            f"no decision service answers {subject}: start it with `jimbot run decision` "
            "(or `jimbot up`)",
        )
    if exc.code.startswith("4"):
        return Failed(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the decision service refused the request: {exc.description}",
        )
    if exc.code == "503":
        return Failed(grpc.StatusCode.UNAVAILABLE, f"the decision service: {exc.description}")
    return Failed(
        grpc.StatusCode.INTERNAL, f"the decision service failed ({exc.code}): {exc.description}"
    )


def _budget(req: Request, remaining: float | None) -> float:
    """Seconds for one request: the client's deadline less the reply margin, else the default
    (or the request's own ``time_limit_ms`` plus a margin, when it asks for more)."""
    limit = req.time_limit_ms
    default = DEFAULT_BUDGET
    if req.HasField("time_limit_ms") and math.isfinite(limit) and limit > 0:
        default = max(DEFAULT_BUDGET, limit / 1000 + 0.1)
    return call_budget(remaining, default, REPLY_MARGIN)


def _path(method: str) -> str:
    return f"/{SERVICE}/{method}"


def add(server: grpc.aio.Server, nc: Client, names: Names) -> str:
    """Serve ``DecisionService`` on ``server``; its full service name."""
    server.add_generic_rpc_handlers((DecisionFront(nc, names).handler(),))
    return SERVICE
