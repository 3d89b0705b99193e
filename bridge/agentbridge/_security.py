"""Transport security and the optional bearer token.

TLS and mutual TLS come from PEM files; an unreadable file is a :class:`ConfigError` naming
its variable. The token check guards every service on the port (AgentBridge and the spec's
fronts: EventBus, DecisionService, ...); health checks and reflection stay open so probes and
``grpcurl list`` work without the secret.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import grpc

from bridge.agentbridge._metrics import measured
from handlers import ConfigError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from bridge.agentbridge._config import BridgeConfig


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}={path}: cannot read it ({exc.strerror})") from exc


def server_credentials(config: BridgeConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from the configured PEM files; ``None`` for plaintext."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    cert = _read(config.tls_cert, "JIMBOT_GRPC_TLS_CERT")
    key = _read(config.tls_key, "JIMBOT_GRPC_TLS_KEY")
    client_ca = (
        _read(config.tls_client_ca, "JIMBOT_GRPC_TLS_CLIENT_CA")
        if config.tls_client_ca is not None
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


UNAUTHENTICATED = "missing or wrong bearer token: send metadata 'authorization: Bearer <token>'"
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
"""Services answered without the token: probes and discovery, which reveal no data."""


class TokenCheck(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without ``authorization: Bearer <JIMBOT_GRPC_TOKEN>``, except to
    :data:`OPEN_SERVICES`."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.split("/")[1] in OPEN_SERVICES:
            return handler
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(sent, str) and hmac.compare_digest(sent.encode(), self._expected):
            return handler
        return _refusal(handler, method.rsplit("/", 1)[-1])


def _refusal(handler: Any, name: str) -> Any:
    """A handler of the same shape as ``handler`` that answers ``UNAUTHENTICATED``."""

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        with measured(name) as outcome:
            outcome.status = "unauthenticated"
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)

    async def refuse_stream(request: object, context: grpc.aio.ServicerContext) -> Any:
        await refuse(request, context)
        yield  # pragma: no cover - abort raised above; this makes it a generator

    kind = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(refuse_stream, **kind)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **kind)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **kind)
    return grpc.unary_unary_rpc_method_handler(refuse, **kind)
