"""The transport rules every gRPC edge shares: TLS set-ups that are whole, plaintext on
loopback only unless allowed, and which hosts count as loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge._transport import Transport, is_loopback
from bridge.resources import EdgeConfig
from handlers import ConfigError

TLS = {"JIMBOT_GRPC_TLS_CERT": "/c.pem", "JIMBOT_GRPC_TLS_KEY": "/k.pem"}


def test_the_same_variables_configure_every_edge() -> None:
    env = {**TLS, "JIMBOT_GRPC_TLS_CLIENT_CA": "/ca.pem", "JIMBOT_GRPC_TOKEN": "t"}
    transport = Transport.from_env(env)
    assert EdgeConfig.from_env(env).transport == transport
    assert transport.tls_cert == Path("/c.pem") and transport.token == "t"
    assert transport.describe() == "TLS with client certificates"
    assert Transport().describe() == "plaintext"
    assert len(transport.interceptors()) == 1 and not Transport().interceptors()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIMBOT_GRPC_TLS_KEY": "/k.pem"}, "go together"),
        ({"JIMBOT_GRPC_TLS_CLIENT_CA": "/ca.pem"}, "needs TLS"),
        ({"RESOURCE_COORDINATOR_URL": "grpc://10.0.0.7:50052"}, "refusing plaintext gRPC"),
    ],
)
def test_the_resource_edge_refuses_an_unsafe_transport(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        EdgeConfig.from_env(env)
    assert "JIMBOT_GRPC_" in str(refused.value)  # the fix names the variable


def test_off_loopback_the_resource_edge_serves_tls_or_an_explicit_plaintext() -> None:
    url = {"RESOURCE_COORDINATOR_URL": "grpc://10.0.0.7:50052"}
    assert EdgeConfig.from_env({**url, **TLS}).transport.tls
    assert EdgeConfig.from_env({**url, "JIMBOT_GRPC_ALLOW_PLAINTEXT": "yes"}).host == "10.0.0.7"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("10.0.0.1", False), ("example", False)],
)  # fmt: skip
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
