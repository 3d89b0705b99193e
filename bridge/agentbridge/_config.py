"""The shim's own settings, read from ``JIMBOT_AGENT_*`` and ``JIMBOT_GRPC_*`` variables.

The port and the NATS URL come from :class:`handlers.Settings` (``JIMBOT_GRPC_PORT``,
``NATS_URL``); everything specific to the Jason bridge lives here, validated once at start so a
bad value is one clear line naming the variable, not a failure on the first call.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from handlers import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping


def _int(env: Mapping[str, str], key: str, default: int, *, low: int = 0) -> int:
    raw = env.get(key) or ""
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not an integer: set it to a number") from None
    if value < low:
        raise ConfigError(f"{key}={value} must be >= {low}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key) or ""
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{key}={value} must be >= 0")
    return value


def _path(env: Mapping[str, str], key: str) -> Path | None:
    raw = env.get(key) or ""
    return Path(raw) if raw else None


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    """Everything the AgentBridge shim adds to the common settings."""

    host: str = "127.0.0.1"
    """``JIMBOT_GRPC_HOST``: the interface to bind (loopback by default)."""
    budget: float = 0.5
    """``JIMBOT_AGENT_BUDGET_MS`` (500): a ``RequestAction`` without a client deadline waits
    this long for the policy, then answers the fallback with ``policy_timeout``."""
    fallback_action: str = "idle"
    """``JIMBOT_AGENT_FALLBACK_ACTION``: the safe action of every ``ERROR`` answer."""
    stream_budget: float = 30.0
    """``JIMBOT_AGENT_STREAM_BUDGET_MS`` (30000): how long a ``StreamActions`` call without a
    client deadline may last."""
    stream_window: int = 8
    """``JIMBOT_AGENT_STREAM_WINDOW``: stream items in flight between policy and client."""
    actions: frozenset[str] = frozenset()
    """``JIMBOT_AGENT_ACTIONS``: comma-separated allowlist of action names; empty allows any."""
    percept_rate: float = 20.0
    """``JIMBOT_AGENT_PERCEPT_RATE``: sustained ``PushPercept`` calls per second per agent
    (0 turns the limit off)."""
    percept_burst: int = 40
    """``JIMBOT_AGENT_PERCEPT_BURST``: calls an agent may make at once before the rate applies."""
    max_percept_bytes: int = 64 * 1024
    """``JIMBOT_AGENT_MAX_PERCEPT_BYTES``: the largest percept payload accepted."""
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
    def from_env(cls, env: Mapping[str, str] | None = None) -> BridgeConfig:
        """Read and validate; raises :class:`ConfigError` naming the variable at fault."""
        env = os.environ if env is None else env
        actions = frozenset(
            a.strip() for a in (env.get("JIMBOT_AGENT_ACTIONS") or "").split(",") if a.strip()
        )
        config = cls(
            host=env.get("JIMBOT_GRPC_HOST") or "127.0.0.1",
            budget=_int(env, "JIMBOT_AGENT_BUDGET_MS", 500, low=1) / 1000,
            fallback_action=(env.get("JIMBOT_AGENT_FALLBACK_ACTION") or "idle").strip(),
            stream_budget=_int(env, "JIMBOT_AGENT_STREAM_BUDGET_MS", 30_000, low=1) / 1000,
            stream_window=_int(env, "JIMBOT_AGENT_STREAM_WINDOW", 8, low=1),
            actions=actions,
            percept_rate=_float(env, "JIMBOT_AGENT_PERCEPT_RATE", 20.0),
            percept_burst=_int(env, "JIMBOT_AGENT_PERCEPT_BURST", 40, low=1),
            max_percept_bytes=_int(env, "JIMBOT_AGENT_MAX_PERCEPT_BYTES", 64 * 1024, low=1),
            tls_cert=_path(env, "JIMBOT_GRPC_TLS_CERT"),
            tls_key=_path(env, "JIMBOT_GRPC_TLS_KEY"),
            tls_client_ca=_path(env, "JIMBOT_GRPC_TLS_CLIENT_CA"),
            token=env.get("JIMBOT_GRPC_TOKEN") or None,
            allow_plaintext=(env.get("JIMBOT_GRPC_ALLOW_PLAINTEXT") or "") in ("1", "true", "yes"),
        )
        config.validate()
        return config

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def validate(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(
                "JIMBOT_GRPC_TLS_CERT and JIMBOT_GRPC_TLS_KEY go together: set both for TLS"
            )
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError(
                "JIMBOT_GRPC_TLS_CLIENT_CA needs TLS: set JIMBOT_GRPC_TLS_CERT and _KEY too"
            )
        if not self.fallback_action:
            raise ConfigError("JIMBOT_AGENT_FALLBACK_ACTION must not be empty")
        if self.actions and self.fallback_action not in self.actions:
            raise ConfigError(
                f"JIMBOT_AGENT_FALLBACK_ACTION={self.fallback_action!r} is not in "
                "JIMBOT_AGENT_ACTIONS: the safe action must itself be allowed"
            )
        if self.stream_window > 1024:
            raise ConfigError("JIMBOT_AGENT_STREAM_WINDOW must be <= 1024")
        if not self.tls and not self.allow_plaintext and not is_loopback(self.host):
            raise ConfigError(
                f"refusing plaintext gRPC on {self.host}: set JIMBOT_GRPC_TLS_CERT and "
                "JIMBOT_GRPC_TLS_KEY, bind loopback (JIMBOT_GRPC_HOST=127.0.0.1), or allow it "
                "with JIMBOT_GRPC_ALLOW_PLAINTEXT=1"
            )

    def allows(self, action: str) -> bool:
        """Whether the allowlist (if any) admits ``action``."""
        return not self.actions or action in self.actions


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1`` are loopback; anything else is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
