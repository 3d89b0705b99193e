"""The shim's side of a credit-paced action stream over NATS.

The protocol is described in ``handlers/agent_stream.py``; in short: subscribe to an inbox,
publish the request with ``Jimbot-Stream-Inbox`` / ``-Window`` headers, receive items carrying
``Jimbot-Stream-Seq`` and acknowledge each one (``Jimbot-Stream-Ack: <consumed>``) to the
item's reply subject only after the gRPC client has taken it; the endpoint's ordinary reply
ends the stream. Leaving early publishes ``Jimbot-Stream-Cancel`` so the producer stops now.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

import anyio
from google.protobuf.message import DecodeError
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError

from bridge._cleanup import finish
from handlers import DEADLINE_HEADER, standard_headers
from schemas import JimbotError
from schemas import agent_bridge_pb2 as pb
from subjects import STREAM_ACK, STREAM_CANCEL, STREAM_INBOX, STREAM_SEQ, STREAM_WINDOW

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from nats.aio.client import Client
    from nats.aio.subscription import Subscription

SERVICE_ERROR_CODE = "Nats-Service-Error-Code"
NO_RESPONDERS = "503"
CONTENT_TYPE = "application/protobuf; messageType=agentbridge.ActionRequest"
CLEANUP_TIMEOUT = 2.0
"""Seconds a stream that ends may take to cancel its producer and drop its inbox."""


class StreamFailed(JimbotError):
    """Raised when a stream cannot go on; ``detail`` is the ``error_detail`` to answer."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


def detail_for_code(code: str) -> str:
    """The ``error_detail`` of a service error code (``504`` is the policy being late)."""
    return "policy_timeout" if code == "504" else f"policy_error:{code}"


async def relay(
    nc: Client,
    subject: str,
    request: pb.ActionRequest,
    *,
    window: int,
    budget: float,
) -> AsyncGenerator[pb.ActionResponse, None]:
    """Yield the policy's responses; each is acknowledged when the consumer asks for the next.

    Raises:
        StreamFailed: no policy listens, it failed, it was late, or NATS went away.
    """
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, pending_msgs_limit=window + 16)
    credit_to: str | None = None
    consumed = 0
    finished = False
    try:
        headers = standard_headers(
            CONTENT_TYPE,
            extra={
                STREAM_INBOX: inbox,
                STREAM_WINDOW: str(window),
                DEADLINE_HEADER: str(max(1, math.floor(budget * 1000))),
            },
        )
        await nc.publish(subject, request.SerializeToString(), reply=inbox, headers=headers)
        deadline = anyio.current_time() + budget
        while True:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise StreamFailed("policy_timeout")
            try:
                msg = await sub.next_msg(timeout=remaining)
            except NatsTimeoutError:
                raise StreamFailed("policy_timeout") from None
            except ConnectionClosedError:
                raise StreamFailed("bus_unavailable") from None
            meta = msg.headers or {}
            if meta.get("Status") == NO_RESPONDERS:
                finished = True
                raise StreamFailed("no_policy")
            if code := meta.get(SERVICE_ERROR_CODE):
                finished = True
                raise StreamFailed(detail_for_code(code))
            if STREAM_SEQ not in meta:
                finished = True
                return
            credit_to = msg.reply or credit_to
            try:
                item = pb.ActionResponse.FromString(msg.data)
            except DecodeError:
                raise StreamFailed("policy_error:bad_item") from None
            yield item
            consumed += 1
            if credit_to:
                await nc.publish(credit_to, b"", headers={STREAM_ACK: str(consumed)})
    finally:
        cancel_to = None if finished else credit_to
        await finish(partial(_leave, nc, sub, cancel_to), within=CLEANUP_TIMEOUT)


async def _leave(nc: Client, sub: Subscription, cancel_to: str | None) -> None:
    """Tell the producer to stop (if it is still going) and drop the inbox."""
    if cancel_to and nc.is_connected:
        try:
            await nc.publish(cancel_to, b"", headers={STREAM_CANCEL: "1"})
        except Exception:  # best effort: the producer's deadline stops it anyway
            pass
    try:
        await sub.unsubscribe()
    except Exception:  # a closed connection has no subscription left to drop
        pass
