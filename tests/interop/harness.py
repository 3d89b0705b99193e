"""Shared by the AgentBridge integration and interop tests: run the shim in-process, build
the ``server_action`` text the Java environment would, and make throw-away certificates.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import anyio
import grpc

from bridge.agentbridge import BridgeConfig, serve
from schemas import agent_bridge_pb2 as pb
from schemas import agent_bridge_pb2_grpc as pb_grpc
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Handler, Settings


@asynccontextmanager
async def shim(settings: Settings, config: BridgeConfig | None = None) -> AsyncIterator[int]:
    """The shim serving on a free loopback port for the body of the ``async with``."""
    async with anyio.create_task_group() as tg:
        port: int = await tg.start(serve, replace(settings, grpc_port=0), config or BridgeConfig())
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def policies(*handlers: Handler, settings: Settings, nc: Client) -> AsyncIterator[None]:
    """Handlers running on ``nc`` whose subscriptions the server has confirmed (a flush), so
    the shim's first request, sent on another connection, cannot race them to no_policy."""
    async with running(*handlers, settings=settings, nc=nc):
        await nc.flush()
        yield


@asynccontextmanager
async def client(
    port: int, options: list[tuple[str, object]] | None = None
) -> AsyncIterator[pb_grpc.AgentBridgeAsyncStub]:
    """A plaintext async stub for the shim on ``port``."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        yield cast("pb_grpc.AgentBridgeAsyncStub", pb_grpc.AgentBridgeStub(channel))


def _escape(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return text.replace("\\", "\\\\").replace('"', '\\"')


def server_action(response: pb.ActionResponse) -> str:
    """The percept ``GrpcBridgeEnvironment`` adds for a reply, built as the contract says."""
    if response.meta:
        meta = ";".join(f"{e.key}={e.value}" for e in response.meta)
    else:
        meta = response.metadata
    if response.status == pb.ACTION_STATUS_ERROR:
        meta += f";status=error;detail={response.error_detail}"
    elif response.status == pb.ACTION_STATUS_PARTIAL:
        meta += ";status=partial"
    return f'server_action("{_escape(response.action)}", "{_escape(meta)}")'


def meta_of(response: pb.ActionResponse) -> dict[str, str]:
    return {e.key: e.value for e in response.meta}


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
    client certificate from a different CA (all PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory: Path) -> Pki:
    """Generate the certificates with the ``openssl`` CLI (EC keys: fast)."""

    def ca(name: str) -> None:
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=directory,
        )  # fmt: skip

    def leaf(name: str, issuer: str, ext: str) -> None:
        (directory / f"{name}.ext").write_text(ext)
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
            f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
            "-extfile", f"{name}.ext", cwd=directory,
        )  # fmt: skip

    ca("ca")
    ca("rogue_ca")
    leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "extendedKeyUsage=clientAuth\n")
    leaf("rogue", "rogue_ca", "extendedKeyUsage=clientAuth\n")
    d = directory
    return Pki(
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
        rogue_cert=d / "rogue.pem",
        rogue_key=d / "rogue.key",
    )


def client_credentials(pki: Pki, *, cert: str | None = None) -> grpc.ChannelCredentials:
    """TLS trusting the test CA, presenting ``cert``'s client certificate (``"client"``,
    ``"rogue"``) when one is named."""
    pair = {}
    if cert is not None:
        pair = {
            "private_key": getattr(pki, f"{cert}_key").read_bytes(),
            "certificate_chain": getattr(pki, f"{cert}_cert").read_bytes(),
        }
    return grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes(), **pair)


MUTUAL_TLS_CASES = (
    ("cert", "served"),
    [("client", True), (None, False), ("rogue", False)],
)
"""``pytest.mark.parametrize`` arguments: which client certificate mutual TLS serves."""
MUTUAL_TLS_IDS = ["right-certificate", "no-certificate", "certificate-from-another-ca"]
