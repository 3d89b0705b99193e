"""Rejected input of the fronts: parse raw request bytes, and keep what was refused, raw, under
``dlq.ingest.grpc`` with why, as the AgentBridge shim and the HTTP gateway do.

The fronts register their methods with raw bytes in (no request deserializer), so a body that
is not the contract's message is answered ``INVALID_ARGUMENT`` and dead-lettered instead of
dying inside gRPC's deserializer as ``INTERNAL``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

import subjects
from handlers import standard_headers
from schemas import JimbotError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

M = TypeVar("M", bound=Message)
log = logging.getLogger("jimbot.grpcfronts")

METHOD_HEADER = "Jimbot-Grpc-Method"
"""The full gRPC method a dead letter was sent to, e.g. ``/jimbot.events.v1.EventBus/...``."""
DLQ_EDGE = "grpc"
"""Rejected input lands on ``<prefix>.dlq.ingest.grpc``, next to the shim's."""
ACK_TIMEOUT = 2.0
"""Seconds to wait for JetStream to store a dead letter."""


class InvalidInput(JimbotError):
    """Raised when a request breaks a rule of the contract; the message states the rule."""


def parse(cls: type[M], body: bytes) -> M:
    """``body`` as a ``cls`` message.

    Raises:
        InvalidInput: the bytes are not a valid ``cls`` (bad wire data, invalid UTF-8).
    """
    try:
        return cls.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise InvalidInput(f"body is not a valid {cls.DESCRIPTOR.full_name}: {exc}") from None


class Rejects:
    """Answers a refused request with a gRPC status after keeping its bytes as a dead letter."""

    def __init__(
        self, nc: Client, names: Names, *, consumer: str, ack_timeout: float = ACK_TIMEOUT
    ) -> None:
        self.nc = nc
        self.names = names
        self.consumer = consumer
        self.ack_timeout = ack_timeout

    async def keep(
        self, method: str, message_type: str, body: bytes, reason: str, *, intended: str = ""
    ) -> None:
        """Store ``body`` under ``dlq.ingest.grpc`` with the reason (best effort, logged)."""
        if not self.nc.is_connected:
            log.warning("rejected %s input not kept: NATS is not connected", method)
            return
        digest = hashlib.sha256(method.encode() + b"\0" + body).hexdigest()[:32]
        headers = standard_headers(
            f"application/protobuf; messageType={message_type}",
            msg_id=f"grpc:{digest}",
            extra={
                subjects.DLQ_REASON: "ingest",
                subjects.DLQ_ERROR: " ".join(reason.split())[:1000],
                subjects.DLQ_CONSUMER: self.consumer,
                subjects.DLQ_FAILED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                subjects.DLQ_SUBJECT: intended,
                METHOD_HEADER: method,
            },
        )
        try:
            await self.nc.jetstream().publish(
                self.names.dlq_ingest_subject(DLQ_EDGE),
                body,
                headers=headers,
                timeout=self.ack_timeout,
            )
        except Exception as exc:
            log.warning("rejected %s input not kept: %s", method, exc or type(exc).__name__)

    async def refuse(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        message_type: str,
        body: bytes,
        detail: str,
        *,
        intended: str = "",
        code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> NoReturn:
        """Dead-letter ``body``, then end the call with ``code`` and ``detail``."""
        await self.keep(method, message_type, body, detail, intended=intended)
        await context.abort(code, detail)
        raise AssertionError("context.abort returned")  # it raises; this keeps the types honest
