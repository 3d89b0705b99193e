"""The ResourceCoordinator edge's transport: TLS, mutual TLS and the bearer token, the same
``JIMBOT_GRPC_*`` set-up as the AgentBridge port."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from bridge._transport import Transport
from bridge.resources import SERVICE, EdgeConfig
from schemas import events_pb2
from schemas import events_pb2_grpc as pb_grpc
from tests.integration.test_resource_grpc import edge
from tests.integration.test_resource_support import MEMORY, ask, coordinators
from tests.interop.harness import (
    MUTUAL_TLS_CASES,
    MUTUAL_TLS_IDS,
    Pki,
    client_credentials,
    make_pki,
)

if TYPE_CHECKING:
    from handlers import Settings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _channel(port: int, pki: Pki | None, *, cert: str | None = None) -> grpc.aio.Channel:
    """TLS trusting the test CA (with ``cert``'s client certificate), or plaintext."""
    target = f"localhost:{port}"
    if pki is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, client_credentials(pki, cert=cert))


async def _status(channel: grpc.aio.Channel, **kwargs: object) -> events_pb2.ResourceStatus:
    stub = pb_grpc.ResourceCoordinatorStub(channel)
    status: events_pb2.ResourceStatus = await stub.GetResourceStatus(
        events_pb2.Empty(), timeout=5, **kwargs
    )
    return status


async def test_tls_serves_a_client_that_trusts_the_ca_and_refuses_plaintext(
    settings: Settings, pki: Pki
) -> None:
    config = EdgeConfig(transport=Transport(tls_cert=pki.server_cert, tls_key=pki.server_key))
    async with coordinators(settings), edge(settings, config=config) as port:
        async with _channel(port, pki) as channel:
            stub = pb_grpc.ResourceCoordinatorStub(channel)
            grant = await stub.RequestResource(ask("tls", MEMORY, 64), timeout=5)
            status = await _status(channel)
        with pytest.raises(grpc.aio.AioRpcError) as plaintext:
            async with _channel(port, None) as channel:
                await _status(channel)
    assert grant.granted
    assert [g.grant_id for g in status.active_grants] == [grant.grant_id]
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(*MUTUAL_TLS_CASES, ids=MUTUAL_TLS_IDS)
async def test_mutual_tls_serves_only_clients_with_a_certificate_from_the_ca(
    settings: Settings, pki: Pki, cert: str | None, served: bool
) -> None:
    tls = Transport(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    async with coordinators(settings), edge(settings, config=EdgeConfig(transport=tls)) as port:
        async with _channel(port, pki, cert=cert) as channel:
            if served:
                assert (await _status(channel)).resources
                return
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _status(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("sent", "served"),
    [("Bearer s3cret", True), (None, False), ("Bearer wrong", False)],
)
async def test_the_bearer_token_guards_the_coordinator_but_not_health(
    settings: Settings, sent: str | None, served: bool
) -> None:
    config = EdgeConfig(transport=Transport(token="s3cret"))
    metadata = (("authorization", sent),) if sent else None
    async with coordinators(settings), edge(settings, config=config) as port:
        async with _channel(port, None) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            if served:
                assert (await _status(channel, metadata=metadata)).resources
                return
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await _status(channel, metadata=metadata)
            stub = pb_grpc.ResourceCoordinatorStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as streaming:
                async for _ in stub.SubscribeToResourceEvents(
                    events_pb2.Empty(), timeout=5, metadata=metadata
                ):
                    pass
    assert unary.value.code() == streaming.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer <token>" in (unary.value.details() or "")
