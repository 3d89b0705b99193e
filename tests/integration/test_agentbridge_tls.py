"""TLS, mutual TLS and the bearer token: the right client is served, the others refused."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from bridge._transport import Transport
from bridge.agentbridge import BridgeConfig
from handlers import Settings
from schemas import agent_bridge_pb2 as pb
from schemas import agent_bridge_pb2_grpc as pb_grpc
from schemas import create_event, events_pb2, events_pb2_grpc
from tests.interop.harness import (
    MUTUAL_TLS_CASES,
    MUTUAL_TLS_IDS,
    Pki,
    client_credentials,
    make_pki,
    shim,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
PERCEPT = pb.Percept(agent="python_link", payload="temperature=32C")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _push(port: int, creds: grpc.ChannelCredentials | None) -> pb.Ack:
    target = f"localhost:{port}"
    channel = (
        grpc.aio.secure_channel(target, creds)
        if creds is not None
        else grpc.aio.insecure_channel(target)
    )
    async with channel:
        stub = pb_grpc.AgentBridgeStub(channel)
        ack: pb.Ack = await stub.PushPercept(PERCEPT, timeout=3)
        return ack


async def test_tls_serves_a_client_that_trusts_the_ca_and_refuses_plaintext(
    settings: Settings, nc: Client, pki: Pki
) -> None:
    config = BridgeConfig(transport=Transport(tls_cert=pki.server_cert, tls_key=pki.server_key))
    async with shim(settings, config) as port:
        ack = await _push(port, client_credentials(pki))
        with pytest.raises(grpc.aio.AioRpcError) as plaintext:
            await _push(port, None)
    assert ack.ok
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(*MUTUAL_TLS_CASES, ids=MUTUAL_TLS_IDS)
async def test_mutual_tls_serves_only_clients_with_a_certificate_from_the_ca(
    settings: Settings, nc: Client, pki: Pki, cert: str | None, served: bool
) -> None:
    tls = Transport(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    config = BridgeConfig(transport=tls)
    async with shim(settings, config) as port:
        if served:
            assert (await _push(port, client_credentials(pki, cert=cert))).ok
        else:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _push(port, client_credentials(pki, cert=cert))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("sent", "served"),
    [("Bearer s3cret", True), (None, False), ("Bearer wrong", False), ("s3cret", False)],
)
async def test_the_bearer_token_guards_the_bridge_but_not_health(
    settings: Settings, nc: Client, sent: str | None, served: bool
) -> None:
    async with shim(settings, BridgeConfig(transport=Transport(token="s3cret"))) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AgentBridgeStub(channel)
            metadata = (("authorization", sent),) if sent else None
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            request = pb.ActionRequest(agent="a", context="b")
            if served:
                assert (await stub.PushPercept(PERCEPT, metadata=metadata)).ok
                return
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await stub.PushPercept(PERCEPT, metadata=metadata)
            with pytest.raises(grpc.aio.AioRpcError) as streaming:
                async for _ in stub.StreamActions(request, metadata=metadata):
                    pass
    assert unary.value.code() == streaming.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer <token>" in (unary.value.details() or "")


async def test_the_bearer_token_guards_the_spec_fronts_on_the_same_port(
    settings: Settings, nc: Client
) -> None:
    event = create_event(events_pb2.HeartbeatEvent(status="up"), source="test")
    async with shim(settings, BridgeConfig(transport=Transport(token="s3cret"))) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            bus = events_pb2_grpc.EventBusStub(channel)
            decisions = events_pb2_grpc.DecisionServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await bus.PublishEvent(event)
            with pytest.raises(grpc.aio.AioRpcError) as bidi:
                async for _ in decisions.StreamDecisions(
                    iter([events_pb2.LearningDecisionRequest()])
                ):
                    pass
            stored = await bus.PublishEvent(event, metadata=(("authorization", "Bearer s3cret"),))
    assert unary.value.code() == bidi.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stored.stored
