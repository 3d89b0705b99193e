"""The spec's ``ResourceCoordinator`` gRPC service, each call a NATS request to the coordinator.

Requests arrive as raw bytes and are parsed here, so a body that is not the message is
``INVALID_ARGUMENT`` rather than gRPC's ``INTERNAL``. A call is bounded by the client's
deadline, else by ``RESOURCE_REQUEST_TIMEOUT`` plus a second (the coordinator answers a
request it could not grant in time itself, with ``granted=false`` and the reason). The
coordinator's errors become gRPC statuses with its description as the detail.
``SubscribeToResourceEvents`` relays new resource events from the bus until the client
cancels; its initial metadata is sent once the subscription is in place.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from nats.errors import ConnectionClosedError, ConnectionDrainingError, ConnectionReconnectingError

import subjects
from handlers import BusUnavailable, ServiceError, request
from schemas import SchemaDecodeError, decode_event_bytes, events_pb2, unpack_payload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from nats.aio.client import Client

    from bridge.resources._config import EdgeConfig
    from subjects import Names

log = logging.getLogger("jimbot.resources.edge")
T = TypeVar("T", bound=Message)

SERVICE = "jimbot.events.v1.ResourceCoordinator"
REPLY_MARGIN = 0.02
"""Seconds kept from the client's deadline to send the answer."""
PENDING_EVENTS = 65_536
"""Events buffered for one slow subscriber before the bus drops its excess."""
_STATUS = {
    "400": grpc.StatusCode.INVALID_ARGUMENT,
    "403": grpc.StatusCode.PERMISSION_DENIED,
    "404": grpc.StatusCode.NOT_FOUND,
    "503": grpc.StatusCode.UNAVAILABLE,
    "504": grpc.StatusCode.DEADLINE_EXCEEDED,
}
NOT_RUNNING = (
    "no resource coordinator is running: start it with `jimbot up` or "
    "`jimbot run resource_coordinator`"
)


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        self.code, self.detail = code, detail


@contextmanager
def _mapped() -> Iterator[None]:
    """The coordinator's and the bus's errors, as gRPC statuses (raised as :class:`_Abort`)."""
    try:
        yield
    except ServiceError as exc:
        code = _STATUS.get(exc.code, grpc.StatusCode.INTERNAL)
        detail = NOT_RUNNING if exc.code == "503" else exc.description
        raise _Abort(code, detail) from exc
    except (BusUnavailable, ConnectionClosedError, ConnectionDrainingError) as exc:
        raise _Abort(grpc.StatusCode.UNAVAILABLE, f"the bus is unavailable: {exc}") from exc
    except ConnectionReconnectingError as exc:
        raise _Abort(grpc.StatusCode.UNAVAILABLE, "the bus is reconnecting; retry") from exc


def _parse(cls: type[T], body: bytes) -> T:
    try:
        return cls.FromString(body)
    except (DecodeError, ValueError) as exc:
        name = cls.DESCRIPTOR.full_name
        raise _Abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"body is not a valid {name}: {exc}"
        ) from None


class ResourceCoordinatorService:
    """Serves ``jimbot.events.v1.ResourceCoordinator`` over NATS; one instance per server."""

    def __init__(self, nc: Client, names: Names, config: EdgeConfig) -> None:
        self.nc = nc
        self.names = names
        self.config = config

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to a ``grpc.aio`` server."""

        def out(message: Message) -> bytes:
            return message.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "RequestResource": grpc.unary_unary_rpc_method_handler(
                    self.request_resource, response_serializer=out
                ),
                "ReleaseResource": grpc.unary_unary_rpc_method_handler(
                    self.release_resource, response_serializer=out
                ),
                "GetResourceStatus": grpc.unary_unary_rpc_method_handler(
                    self.get_resource_status, response_serializer=out
                ),
                "SubscribeToResourceEvents": grpc.unary_stream_rpc_method_handler(
                    self.subscribe_to_resource_events, response_serializer=out
                ),
            },
        )

    async def _call(
        self,
        context: grpc.aio.ServicerContext,
        subject: str,
        body: bytes,
        request_type: type[Message],
        response_type: type[T],
        default_budget: float,
    ) -> T:
        try:
            message = _parse(request_type, body)
            remaining = context.time_remaining()
            budget = default_budget if remaining is None else remaining - REPLY_MARGIN
            if budget <= 0:
                raise _Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no time left for the call")
            with _mapped():
                return await request(
                    self.nc, self.names.subject(subject), message, response_type, timeout=budget
                )
        except _Abort as exc:
            await context.abort(exc.code, exc.detail)
            raise AssertionError("context.abort returned") from None  # it raises

    async def request_resource(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.ResourceGrant:
        return await self._call(
            context,
            subjects.RPC_RESOURCE_REQUEST,
            body,
            events_pb2.ResourceRequest,
            events_pb2.ResourceGrant,
            self.config.request_timeout + 1.0,
        )

    async def release_resource(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.ReleaseResponse:
        return await self._call(
            context,
            subjects.RPC_RESOURCE_RELEASE,
            body,
            events_pb2.ResourceRelease,
            events_pb2.ReleaseResponse,
            5.0,
        )

    async def get_resource_status(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.ResourceStatus:
        return await self._call(
            context,
            subjects.RPC_RESOURCE_STATUS,
            body,
            events_pb2.Empty,
            events_pb2.ResourceStatus,
            5.0,
        )

    async def subscribe_to_resource_events(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.ResourceEvent]:
        """New resource events until the client cancels or the bus connection closes."""
        try:
            _parse(events_pb2.Empty, body)
            with _mapped():
                sub = await self.nc.subscribe(
                    self.names.subject(subjects.RESOURCES), pending_msgs_limit=PENDING_EVENTS
                )
                await self.nc.flush()
        except _Abort as exc:
            await context.abort(exc.code, exc.detail)
            return
        try:
            # Tells the client the subscription is live: events from now on reach it.
            await context.send_initial_metadata((("jimbot-subscribed", "true"),))
            async for msg in sub.messages:
                event = _resource_event(msg.data)
                if event is not None:
                    yield event
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may be gone already
                log.debug("unsubscribe failed: %s", exc)


def _resource_event(data: bytes) -> events_pb2.ResourceEvent | None:
    try:
        payload: Any = unpack_payload(decode_event_bytes(data))
    except SchemaDecodeError as exc:
        log.warning("skipping an undecodable resource event: %s", exc)
        return None
    return payload if isinstance(payload, events_pb2.ResourceEvent) else None
