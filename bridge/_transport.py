"""Transport security shared by every gRPC edge: TLS, mutual TLS, the bearer token, and the
rule that plaintext is served on loopback only unless explicitly allowed.

One set of variables covers every edge (the AgentBridge shim with the spec's fronts on
``JIMBOT_GRPC_PORT``, the ResourceCoordinator on ``RESOURCE_COORDINATOR_URL``): one
certificate, one client CA, one token. Health checks and reflection stay open without the
token, so probes and ``grpcurl list`` work without the secret.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from handlers import ConfigError
from schemas import JimbotError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from contextlib import AbstractContextManager

    Measure = Callable[[str], AbstractContextManager[Any]]
    """Opens a measured call of a method; its value's ``status`` names the outcome."""

CERT_ENV = "JIMBOT_GRPC_TLS_CERT"
KEY_ENV = "JIMBOT_GRPC_TLS_KEY"
CLIENT_CA_ENV = "JIMBOT_GRPC_TLS_CLIENT_CA"
TOKEN_ENV = "JIMBOT_GRPC_TOKEN"
PLAINTEXT_ENV = "JIMBOT_GRPC_ALLOW_PLAINTEXT"

UNAUTHENTICATED = "missing or wrong bearer token: send metadata 'authorization: Bearer <token>'"
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
"""Services answered without the token: probes and discovery, which reveal no data."""


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1`` are loopback; anything else is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _path(env: Mapping[str, str], key: str) -> Path | None:
    raw = env.get(key) or ""
    return Path(raw) if raw else None


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}={path}: cannot read it ({exc.strerror})") from exc


@dataclass(frozen=True, kw_only=True)
class Transport:
    """How an edge talks to its clients: TLS from PEM files, an optional token."""

    tls_cert: Path | None = None
    """``JIMBOT_GRPC_TLS_CERT``: PEM certificate chain; with the key it turns TLS on."""
    tls_key: Path | None = None
    """``JIMBOT_GRPC_TLS_KEY``: PEM private key of the certificate."""
    tls_client_ca: Path | None = None
    """``JIMBOT_GRPC_TLS_CLIENT_CA``: PEM CA bundle; set, it requires client certificates
    signed by it (mutual TLS)."""
    token: str | None = None
    """``JIMBOT_GRPC_TOKEN``: when set, calls must send ``authorization: Bearer <token>``."""
    allow_plaintext: bool = False
    """``JIMBOT_GRPC_ALLOW_PLAINTEXT=1``: serve without TLS on a non-loopback interface."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Transport:
        env = os.environ if env is None else env
        return cls(
            tls_cert=_path(env, CERT_ENV),
            tls_key=_path(env, KEY_ENV),
            tls_client_ca=_path(env, CLIENT_CA_ENV),
            token=env.get(TOKEN_ENV) or None,
            allow_plaintext=(env.get(PLAINTEXT_ENV) or "") in ("1", "true", "yes"),
        )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self, host: str, host_variable: str) -> None:
        """Raise :class:`ConfigError` for a half-made TLS set-up, or for plaintext on a
        non-loopback ``host`` (named by ``host_variable`` in the fix) without the opt-in."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(f"{CERT_ENV} and {KEY_ENV} go together: set both for TLS")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError(f"{CLIENT_CA_ENV} needs TLS: set {CERT_ENV} and _KEY too")
        if not self.tls and not self.allow_plaintext and not is_loopback(host):
            raise ConfigError(
                f"refusing plaintext gRPC on {host}: set {CERT_ENV} and {KEY_ENV}, bind "
                f"loopback ({host_variable}), or allow it with {PLAINTEXT_ENV}=1"
            )

    def credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials from the configured PEM files; ``None`` for plaintext."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        cert = _read(self.tls_cert, CERT_ENV)
        key = _read(self.tls_key, KEY_ENV)
        ca = _read(self.tls_client_ca, CLIENT_CA_ENV) if self.tls_client_ca is not None else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )

    def interceptors(self, measure: Measure | None = None) -> list[grpc.aio.ServerInterceptor]:
        """The token check when a token is set; ``measure(method)`` counts each refusal."""
        return [TokenCheck(self.token, measure)] if self.token else []

    def describe(self) -> str:
        """``plaintext``, ``TLS`` or ``TLS with client certificates``, for the start-up log."""
        if not self.tls:
            return "plaintext"
        return "TLS with client certificates" if self.tls_client_ca else "TLS"


def bind(server: grpc.aio.Server, host: str, port: int, creds: Any, *, refusal: str) -> int:
    """Add the listening port; a taken port is one clear line (``refusal`` names the edge
    and the variable to change), not a silent second server.

    Raises:
        JimbotError: the port is taken or ``host`` is not a local address.
    """
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = (
            server.add_secure_port(address, creds)
            if creds is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        bound = 0
    if not bound:
        raise JimbotError(refusal.format(address=address))
    return int(bound)


class TokenCheck(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without ``authorization: Bearer <token>``, except to
    :data:`OPEN_SERVICES`."""

    def __init__(self, token: str, measure: Measure | None = None) -> None:
        self._expected = f"Bearer {token}".encode()
        self._measure = measure

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
        return _refusal(handler, method.rsplit("/", 1)[-1], self._measure)


def _refusal(handler: Any, name: str, measure: Measure | None) -> Any:
    """A handler of the same shape as ``handler`` that answers ``UNAUTHENTICATED``."""

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        with measure(name) if measure is not None else contextlib.nullcontext() as outcome:
            if outcome is not None:
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
