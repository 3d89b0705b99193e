"""What the shim writes to JetStream: percepts (event + KV), action audit events, dead letters.

A percept is acknowledged to the client only after both writes were stored; they are pipelined
(``publish_async``) so that costs one round trip, and futures whose ack never came are
cancelled (nats-py would otherwise keep them, and their slots in its pending-publish window,
forever). Action events are an audit trail and must never hold up an answer: they are core
publishes into the stream's subject, stored by JetStream without an ack travelling back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
from prometheus_client import Counter

import subjects
from bridge.grpcfronts._rejects import Rejects
from handlers import BusUnavailable, standard_headers
from schemas import agent_bridge_pb2 as pb
from schemas import create_event, encode_event, events_pb2
from subjects import percept_key

if TYPE_CHECKING:
    import asyncio

    from nats.aio.client import Client
    from nats.js.api import PubAck

    from subjects import Names

log = logging.getLogger("jimbot.agentbridge")

EVENT_CONTENT_TYPE = "application/protobuf; messageType=jimbot.events.v1.Event"
AGENT_HEADER = "Jimbot-Agent"
SOURCE = "agentbridge"

AUDIT_LOST = Counter(
    "bridge_audit_events_lost_total", "agent.action audit events that could not be sent."
)
_STATUS_TEXT = {
    pb.ACTION_STATUS_OK: "ok",
    pb.ACTION_STATUS_ERROR: "error",
    pb.ACTION_STATUS_PARTIAL: "partial",
}


class Bus:
    """The shim's writes, on one NATS connection under one prefix."""

    def __init__(self, nc: Client, names: Names, *, ack_timeout: float = 2.0) -> None:
        self.nc = nc
        self.names = names
        self.ack_timeout = ack_timeout
        self.js = nc.jetstream()
        self.rejects = Rejects(nc, names, consumer="agentbridge", ack_timeout=ack_timeout)

    async def store_percept(self, agent: str, payload: str, *, timeout: float) -> int:
        """Publish the ``agent.percept`` event and put the KV value; return the value's KV
        revision once both are stored.

        Raises:
            BusUnavailable: NATS is down, or JetStream did not ack in time.
        """
        if not self.nc.is_connected:
            raise BusUnavailable("the event bus (NATS) is not connected")
        event = create_event(
            events_pb2.AgentPerceptEvent(agent=agent, payload=payload), source=SOURCE
        )
        headers = standard_headers(
            EVENT_CONTENT_TYPE,
            msg_id=event.event_id,
            event_type="AGENT_PERCEPT",
            source=SOURCE,
            extra={AGENT_HEADER: agent},
        )
        bucket = self.names.bucket("PERCEPTS")
        futures: list[asyncio.Future[PubAck]] = []
        try:
            with anyio.fail_after(min(timeout, self.ack_timeout)):
                futures.append(
                    await self.js.publish_async(
                        self.names.subject(subjects.AGENT_PERCEPT),
                        encode_event(event),
                        headers=headers,
                    )
                )
                futures.append(
                    await self.js.publish_async(
                        f"$KV.{bucket}.{percept_key(agent)}", payload.encode()
                    )
                )
                acks = [await future for future in futures]
        except TimeoutError as exc:
            raise BusUnavailable("JetStream did not store the percept in time") from exc
        except BusUnavailable:
            raise
        except Exception as exc:
            raise BusUnavailable(f"JetStream refused the percept: {exc}") from exc
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
        return int(acks[1].seq)

    async def audit(self, request: pb.ActionRequest, response: pb.ActionResponse) -> None:
        """Publish an ``agent.action`` event for an answered action, without waiting for it."""
        if not self.nc.is_connected:
            AUDIT_LOST.inc()
            return
        event = create_event(
            events_pb2.AgentActionEvent(
                agent=request.agent,
                context=request.context,
                action=response.action,
                meta={e.key: e.value for e in response.meta},
                status=_STATUS_TEXT.get(response.status, "unspecified"),
                error_detail=response.error_detail,
                metadata=response.metadata,
            ),
            source=SOURCE,
        )
        headers = standard_headers(
            EVENT_CONTENT_TYPE,
            msg_id=event.event_id,
            event_type="AGENT_ACTION",
            source=SOURCE,
            extra={AGENT_HEADER: request.agent},
        )
        try:
            # A core publish into the stream's subject: JetStream stores it all the same, and
            # no ack travels back, which would cost the shim a future and a message per answer.
            await self.nc.publish(
                self.names.subject(subjects.AGENT_ACTION), encode_event(event), headers=headers
            )
        except Exception as exc:
            AUDIT_LOST.inc()
            log.warning("agent.action event not sent: %s", exc or type(exc).__name__)

    async def dead_letter(self, method: str, body: bytes, reason: str, *, intended: str) -> None:
        """Keep a rejected request, raw, under ``dlq.ingest.grpc`` with why (best effort)."""
        await self.rejects.keep(
            method, _request_type(method), body, reason, intended=self.names.subject(intended)
        )


def _request_type(method: str) -> str:
    return "agentbridge.Percept" if method == "PushPercept" else "agentbridge.ActionRequest"
