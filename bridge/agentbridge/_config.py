"""The shim's own settings, read from ``JIMBOT_AGENT_*`` and ``JIMBOT_GRPC_*`` variables.

The port and the NATS URL come from :class:`handlers.Settings` (``JIMBOT_GRPC_PORT``,
``NATS_URL``); everything specific to the Jason bridge lives here, validated once at start so a
bad value is one clear line naming the variable, not a failure on the first call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge._transport import Transport
from handlers import ConfigError
from schemas import (
    PERCEPT_FORMAT_ENV,
    PERCEPT_FORMAT_FIX,
    PerceptFormat,
    PerceptFormatError,
    percept_format,
)

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


def _format(raw: str) -> PerceptFormat:
    try:
        return percept_format(raw)
    except PerceptFormatError as exc:
        raise ConfigError(f"{PERCEPT_FORMAT_ENV}: {exc}; {PERCEPT_FORMAT_FIX}") from None


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
    percept_format: PerceptFormat = percept_format("text")
    """``JIMBOT_AGENT_PERCEPT_FORMAT``: ``text`` (any string), ``json``, ``kv`` or
    ``module:attr``; a payload that does not fit is refused (see :mod:`schemas._percepts`)."""
    transport: Transport = Transport()
    """TLS, mutual TLS, the bearer token and the plaintext rule (``JIMBOT_GRPC_TLS_*``,
    ``JIMBOT_GRPC_TOKEN``, ``JIMBOT_GRPC_ALLOW_PLAINTEXT``; see :mod:`bridge._transport`)."""

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
            percept_format=_format(env.get(PERCEPT_FORMAT_ENV) or ""),
            transport=Transport.from_env(env),
        )
        config.validate()
        return config

    def validate(self) -> None:
        self.transport.check(self.host, "JIMBOT_GRPC_HOST=127.0.0.1")
        if not self.fallback_action:
            raise ConfigError("JIMBOT_AGENT_FALLBACK_ACTION must not be empty")
        if self.actions and self.fallback_action not in self.actions:
            raise ConfigError(
                f"JIMBOT_AGENT_FALLBACK_ACTION={self.fallback_action!r} is not in "
                "JIMBOT_AGENT_ACTIONS: the safe action must itself be allowed"
            )
        if self.stream_window > 1024:
            raise ConfigError("JIMBOT_AGENT_STREAM_WINDOW must be <= 1024")

    def allows(self, action: str) -> bool:
        """Whether the allowlist (if any) admits ``action``."""
        return not self.actions or action in self.actions
