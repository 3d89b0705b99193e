"""The spec's ``KnowledgeGraph`` gRPC service: ``UpdateKnowledge`` and ``Query`` over NATS.

``UpdateKnowledge`` is a request to ``rpc.knowledge.update`` and ``Query`` one to
``rpc.knowledge.query`` (both served by the ``knowledge`` handler), each within the client's
deadline less a few milliseconds, else the spec's budget: 200 ms for a mutation, 50 ms for a
query. Both go through the ``knowledge_graph`` circuit breaker (the spec's 10 failures / 15 s,
``JIMBOT_BREAKER_KNOWLEDGE_GRAPH`` overrides).

Errors are gRPC statuses with a detail: a body that is not the message, or an update the
graph refuses (unknown entity type, strength outside 0..1, ...) → ``INVALID_ARGUMENT``;
nobody serving, NATS down or the breaker open → ``UNAVAILABLE``; no answer in time →
``DEADLINE_EXCEEDED``; anything else → ``INTERNAL``. A GraphQL query with errors is not a
gRPC error: the response's ``result`` holds them, as over HTTP.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.protobuf.message import Message

import subjects
from bridge._budget import call_budget
from bridge.grpcfronts._rejects import InvalidInput, Rejects, parse
from bridge.grpcfronts._tracectx import continued, trace_metadata
from handlers import (
    BusUnavailable,
    CircuitBreakerError,
    DeadlineExceeded,
    ServiceError,
    breaker,
    request,
)
from schemas import events_pb2

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

log = logging.getLogger("jimbot.grpcfronts")

SERVICE = events_pb2.DESCRIPTOR.services_by_name["KnowledgeGraph"].full_name
QUERY_BUDGET = 0.050
"""The spec's ``query_timeout``, when the client set no deadline."""
MUTATION_BUDGET = 0.200
"""The spec's ``mutation_timeout``, when the client set no deadline."""
REPLY_MARGIN = 0.005
BREAKER = "knowledge_graph"

R = TypeVar("R", bound=Message)


class Failed(Exception):
    """Raised when a call gets no answer; carries the status to end it with."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class KnowledgeFront:
    """Serves ``jimbot.events.v1.KnowledgeGraph`` on one NATS connection under one prefix."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc, self.names = nc, names
        self.rejects = Rejects(nc, names, consumer="grpc_knowledge")

    def handler(self) -> grpc.GenericRpcHandler:
        def out(message: Message) -> bytes:
            return message.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "UpdateKnowledge": grpc.unary_unary_rpc_method_handler(
                    self.update_knowledge, response_serializer=out
                ),
                "Query": grpc.unary_unary_rpc_method_handler(self.query, response_serializer=out),
            },
        )

    async def update_knowledge(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.UpdateResponse:
        update = await self._parse(events_pb2.KnowledgeUpdate, body, context, "UpdateKnowledge")
        budget = call_budget(context.time_remaining(), MUTATION_BUDGET, REPLY_MARGIN)
        return await self._call(
            context, subjects.RPC_KNOWLEDGE_UPDATE, update, events_pb2.UpdateResponse, budget
        )

    async def query(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.KnowledgeQueryResponse:
        query = await self._parse(events_pb2.KnowledgeQuery, body, context, "Query")
        budget = call_budget(context.time_remaining(), QUERY_BUDGET, REPLY_MARGIN)
        return await self._call(
            context, subjects.RPC_KNOWLEDGE_QUERY, query, events_pb2.KnowledgeQueryResponse, budget
        )

    async def _parse(
        self, cls: type[R], body: bytes, context: grpc.aio.ServicerContext, method: str
    ) -> R:
        try:
            return parse(cls, body)
        except InvalidInput as exc:
            await self.rejects.refuse(
                context, f"/{SERVICE}/{method}", cls.DESCRIPTOR.full_name, body, str(exc)
            )

    async def _call(
        self,
        context: grpc.aio.ServicerContext,
        relative: str,
        message: Message,
        response_type: type[R],
        budget: float,
    ) -> R:
        try:
            return await self.ask(relative, message, response_type, budget, trace_metadata(context))
        except Failed as failed:
            await context.abort(failed.code, failed.detail)
            raise AssertionError("context.abort returned") from None

    async def ask(
        self,
        relative: str,
        message: Message,
        response_type: type[R],
        budget: float,
        carrier: dict[str, str],
    ) -> R:
        """The knowledge service's answer within ``budget`` seconds.

        Raises:
            Failed: with the gRPC status and detail to answer instead.
        """
        subject = self.names.subject(relative)
        if not self.nc.is_connected:
            raise Failed(grpc.StatusCode.UNAVAILABLE, "the event bus (NATS) is not connected")
        cb = breaker(BREAKER)
        refused: ServiceError | None = None
        try:
            with cb.calling():
                try:
                    with continued(carrier):
                        return await request(
                            self.nc,
                            subject,
                            message,
                            response_type,
                            timeout=budget,
                            headers=carrier,
                        )
                except ServiceError as exc:
                    if not exc.code.startswith("4"):
                        raise
                    refused = exc  # the request's fault: not a failure of the graph
        except CircuitBreakerError:
            raise Failed(
                grpc.StatusCode.UNAVAILABLE,
                f"circuit open: the knowledge graph failed {cb.fail_max} times in a row; calls "
                f"fail fast for up to {cb.reset_timeout:g}s (tune with "
                "JIMBOT_BREAKER_KNOWLEDGE_GRAPH)",
            ) from None
        except DeadlineExceeded:
            raise Failed(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no answer within {budget * 1000:.0f} ms from {subject}",
            ) from None
        except ServiceError as exc:
            if exc.code == "503":
                raise Failed(
                    grpc.StatusCode.UNAVAILABLE,
                    f"no knowledge graph service answers {subject}: start it with `jimbot run "
                    "knowledge` (or `jimbot up`)",
                ) from None
            raise Failed(grpc.StatusCode.INTERNAL, exc.description) from None
        except BusUnavailable as exc:
            raise Failed(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        except Exception as exc:
            log.warning("knowledge request failed: %r", exc)
            raise Failed(
                grpc.StatusCode.INTERNAL,
                f"the knowledge service's answer is not a {response_type.DESCRIPTOR.full_name} "
                f"({type(exc).__name__})",
            ) from None
        assert refused is not None
        raise Failed(grpc.StatusCode.INVALID_ARGUMENT, refused.description)


def add(server: grpc.aio.Server, nc: Client, names: Names) -> str:
    """Register the KnowledgeGraph front on ``server``; its full service name."""
    server.add_generic_rpc_handlers((KnowledgeFront(nc, names).handler(),))
    return SERVICE
