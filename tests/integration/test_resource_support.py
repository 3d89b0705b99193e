"""Shared by the resource coordinator tests: coordinator copies on their own connections,
typed calls to the three endpoints, and a recorder of resource events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import subjects
from handlers import connect, request
from handlers._resources import ResourceConfig
from handlers.resource_coordinator import create_endpoints
from schemas import decode_event_bytes, events_pb2, unpack_payload
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from handlers import Settings
    from subjects import Names

GPU, MEMORY, TOKENS = events_pb2.GPU_COMPUTE, events_pb2.MEMORY_MB, events_pb2.CLAUDE_API_TOKENS
SMALL = ResourceConfig(capacity={GPU: 10, MEMORY: 100, TOKENS: 1000}, request_timeout=2.0)


@asynccontextmanager
async def coordinators(
    settings: Settings, config: ResourceConfig = SMALL, *, copies: int = 1
) -> AsyncIterator[list[Client]]:
    """``copies`` coordinator workers, each on its own connection (as separate processes
    would be), serving until the end of the ``async with``."""
    assert settings.nats_url
    async with AsyncExitStack() as stack:
        conns = []
        for index in range(copies):
            nc = await connect(settings.nats_url, name=f"coordinator-{index}")
            stack.push_async_callback(nc.close)
            await stack.enter_async_context(
                running(*create_endpoints(config), settings=settings, nc=nc)
            )
            await nc.flush()
            conns.append(nc)
        yield conns


def ask(
    component: str = "tester",
    kind: int = MEMORY,
    amount: int = 10,
    duration_ms: int = 10_000,
    priority: int = events_pb2.PRIORITY_NORMAL,
    request_id: str = "",
) -> events_pb2.ResourceRequest:
    return events_pb2.ResourceRequest(
        component=component,
        type=kind,  # type: ignore[arg-type]
        amount=amount,
        duration_ms=duration_ms,
        priority=priority,  # type: ignore[arg-type]
        request_id=request_id or uuid.uuid4().hex,
    )


async def take(
    nc: Client, names: Names, req: events_pb2.ResourceRequest, *, timeout: float = 5.0
) -> events_pb2.ResourceGrant:
    return await request(
        nc, names.subject(subjects.RPC_RESOURCE_REQUEST), req, events_pb2.ResourceGrant,
        timeout=timeout,
    )  # fmt: skip


async def give_back(
    nc: Client, names: Names, grant_id: str, component: str = ""
) -> events_pb2.ReleaseResponse:
    rel = events_pb2.ResourceRelease(grant_id=grant_id, component=component)
    subject = names.subject(subjects.RPC_RESOURCE_RELEASE)
    return await request(nc, subject, rel, events_pb2.ReleaseResponse, timeout=5.0)


async def status(nc: Client, names: Names) -> events_pb2.ResourceStatus:
    subject = names.subject(subjects.RPC_RESOURCE_STATUS)
    return await request(nc, subject, events_pb2.Empty(), events_pb2.ResourceStatus, timeout=5.0)


def usage(report: events_pb2.ResourceStatus, kind: int) -> events_pb2.ResourceUsage:
    return next(u for u in report.resources if u.type == kind)


@dataclass
class EventLog:
    """Resource events seen on the bus (a core subscription: new events only)."""

    seen: list[tuple[str, events_pb2.ResourceEvent]] = field(default_factory=list)

    async def on_message(self, msg: Msg) -> None:
        payload = unpack_payload(decode_event_bytes(msg.data))
        assert isinstance(payload, events_pb2.ResourceEvent)
        self.seen.append((msg.subject.rsplit(".", 1)[1], payload))

    def kinds(self, grant_id: str) -> list[str]:
        return [kind for kind, event in self.seen if event.grant.grant_id == grant_id]


@asynccontextmanager
async def events(nc: Client, names: Names) -> AsyncIterator[EventLog]:
    log = EventLog()
    sub = await nc.subscribe(names.subject(subjects.RESOURCES), cb=log.on_message)
    await nc.flush()
    try:
        yield log
    finally:
        await sub.unsubscribe()
