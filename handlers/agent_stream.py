"""The Jason bridge's streaming endpoint: answers ``rpc.agent.stream`` for the gRPC shim's
``StreamActions`` with a stream of ``agentbridge.ActionResponse`` messages, credit-paced.

Rule: the agent's stream policy (``JIMBOT_AGENT_STREAM_POLICIES``; default the reference
server's ``step_0``, ``step_1``, ``step_2`` with meta ``index=0/1/2``) gets the request and the
agent's latest percept, and each response it yields travels to the shim as one NATS message.

How a stream travels over NATS (the shim, ``bridge.agentbridge._relay``, is the other side):

1. The shim subscribes to an inbox ``I`` and publishes the ``ActionRequest`` to
   ``rpc.agent.stream`` with reply subject ``I`` and headers ``Jimbot-Stream-Inbox: I``,
   ``Jimbot-Stream-Window: W`` (credits granted up front) and ``Jimbot-Deadline-Ms``.
2. This handler subscribes to its own credit inbox ``C`` and publishes item ``n`` (0-based) to
   ``I`` with reply subject ``C`` and header ``Jimbot-Stream-Seq: n``, but only while
   ``n < acked + W``; otherwise it waits.
3. The shim acknowledges after the gRPC client has taken an item: it publishes to ``C`` the
   header ``Jimbot-Stream-Ack: <items consumed>`` (cumulative, so a lost ack costs nothing).
   A slow gRPC reader therefore slows this producer, and at most ``W`` items are in flight.
4. End of stream is the endpoint's ordinary reply to the request, which goes to ``I`` after
   the items on the same connection, so it arrives last: a message without ``Seq`` (success,
   body an ``ActionResponse`` with meta ``count``) or with ``Nats-Service-Error-Code``.
5. Cancellation: when the gRPC call ends early the shim publishes ``Jimbot-Stream-Cancel`` to
   ``C`` and unsubscribes; the handler stops the policy at once (code ``499``). A shim that
   vanished grants no more credit, and the request deadline ends the producer (code ``504``).

No NATS subscription here ever buffers more than the window, and nothing is published that the
shim did not ask for.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any

import anyio

import subjects
from handlers import Context, Endpoint, ServiceError, run
from handlers.agentpolicy import (
    PolicyConfigError,
    latest_percept,
    policy_request,
    stream_policy_for,
)
from schemas import agent_bridge_pb2 as pb
from subjects import STREAM_ACK, STREAM_CANCEL, STREAM_INBOX, STREAM_SEQ, STREAM_WINDOW

if TYPE_CHECKING:
    from nats.aio.msg import Msg

MAX_WINDOW = 1024
"""The most credits a consumer may grant up front."""


class _Credits:
    """Cumulative acknowledgements from the consumer, and whether it cancelled."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.acked = 0
        self.cancelled = False
        self._changed = anyio.Event()

    async def on_message(self, msg: Msg) -> None:
        headers = msg.headers or {}
        if STREAM_CANCEL in headers:
            self.cancelled = True
        else:
            try:
                self.acked = max(self.acked, int(headers.get(STREAM_ACK, "0")))
            except ValueError:
                return
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait_for(self, seq: int) -> None:
        """Return once item ``seq`` may be sent; raise when the consumer cancelled."""
        while not self.cancelled and seq >= self.acked + self.window:
            await self._changed.wait()
        if self.cancelled:
            raise ServiceError("499", "stream cancelled by the consumer")


def _window(headers: Any) -> int:
    try:
        window = int(headers.get(STREAM_WINDOW, "8"))
    except ValueError:
        raise ServiceError("400", f"{STREAM_WINDOW} must be an integer") from None
    if not 1 <= window <= MAX_WINDOW:
        raise ServiceError("400", f"{STREAM_WINDOW} must be between 1 and {MAX_WINDOW}")
    return window


async def _items(result: object) -> AsyncGenerator[Any, None]:
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "__aiter__"):
        iterator = result.__aiter__()
        try:
            async for item in iterator:
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
    elif isinstance(result, Iterable):
        for item in result:
            yield item
    else:
        raise ServiceError("500", "the stream policy returned no iterable of ActionResponse")


async def stream(request: pb.ActionRequest, ctx: Context) -> pb.ActionResponse:
    """Relay the agent's stream policy to the shim's inbox, paced by its credits."""
    inbox = ctx.headers.get(STREAM_INBOX)
    if not inbox:
        raise ServiceError("400", f"a stream request needs the {STREAM_INBOX} header")
    credits = _Credits(_window(ctx.headers))
    percept = await latest_percept(ctx.js, ctx.names, request.agent)
    try:
        policy = stream_policy_for(request.agent)
        asked = policy_request(request.agent, request.context, percept)
    except PolicyConfigError as exc:
        ctx.logger.error("%s", exc)
        raise ServiceError("500", "agent stream policy configuration is invalid") from exc
    result = policy(asked)
    sub = await ctx.nc.subscribe(ctx.nc.new_inbox(), cb=credits.on_message)
    sent = 0
    try:
        items = _items(result)
        try:
            async for item in items:
                if not isinstance(item, pb.ActionResponse):
                    ctx.logger.error("stream policy yielded %s", type(item).__name__)
                    raise ServiceError("500", "the stream policy yielded no ActionResponse")
                await credits.wait_for(sent)
                if item.status == pb.ACTION_STATUS_UNSPECIFIED:
                    item.status = pb.ACTION_STATUS_OK
                await ctx.nc.publish(
                    inbox,
                    item.SerializeToString(),
                    reply=sub.subject,
                    headers={STREAM_SEQ: str(sent)},
                )
                sent += 1
        finally:
            with anyio.CancelScope(shield=True):
                await items.aclose()
    finally:
        with anyio.CancelScope(shield=True):
            await sub.unsubscribe()
    return pb.ActionResponse(
        status=pb.ACTION_STATUS_OK, meta=[pb.MetaEntry(key="count", value=str(sent))]
    )


endpoint = Endpoint(
    name="agent_stream",
    subject=subjects.RPC_AGENT_STREAM,
    handle=stream,
    concurrency=256,
    timeout=30.0,
    description="Jason AgentBridge: a credit-paced stream of actions for an agent",
)

if __name__ == "__main__":
    raise SystemExit(run([endpoint]))
