"""Effective configuration, read from the environment (the spec's variables plus ours)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from handlers._runtime._errors import ConfigError

_NATS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not an integer: set it to a number") from None


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number of seconds") from None


def _nats_url(env: Mapping[str, str]) -> str | None:
    """``NATS_URL``, else ``EVENT_BUS_URL`` when it names a NATS server.

    The spec's example ``EVENT_BUS_URL=grpc://localhost:50051`` names the old gRPC bus, not a
    NATS server, so a non-NATS scheme there is ignored rather than dialled.
    """
    url = env.get("NATS_URL") or ""
    if url:
        return url
    legacy = env.get("EVENT_BUS_URL") or ""
    return legacy if legacy.startswith(_NATS_SCHEMES) else None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything configurable, with the defaults the spec lists."""

    nats_url: str | None = None
    """``NATS_URL`` (or a nats:// ``EVENT_BUS_URL``); unset means the embedded server."""
    prefix: str = "jimbot"
    """``EVENT_BUS_TOPIC_PREFIX``: every subject, stream and bucket derives from it."""
    component_name: str = "jimbot"
    """``COMPONENT_NAME``: the ``component`` field of logs and the default source."""
    metrics_port: int = 9090
    """``METRICS_PORT``: Prometheus scrape port of this process (0 turns it off)."""
    trace_endpoint: str | None = None
    """``TRACE_ENDPOINT``: OTLP endpoint for spans (needs the ``otlp`` extra)."""
    log_level: str = "INFO"
    """``LOG_LEVEL``."""
    data_dir: Path = Path(".jimbot")
    """``JIMBOT_DATA_DIR``: the embedded server's store and the analytics files."""
    nats_port: int = 4222
    """``JIMBOT_NATS_PORT``: client port of the embedded server."""
    http_port: int = 8080
    """``JIMBOT_HTTP_PORT``: the BalatroMCP HTTP gateway."""
    http_workers: int = 1
    """``JIMBOT_HTTP_WORKERS``: gateway processes ``jimbot up`` runs on that one port (they
    share it with ``SO_REUSEPORT``; the kernel spreads connections over them)."""
    grpc_port: int = 50051
    """``JIMBOT_GRPC_PORT``: the AgentBridge gRPC shim."""
    replicas: int = 1
    """``JIMBOT_REPLICAS``: stream replicas on a NATS cluster."""
    drain_timeout: float = 30.0
    """``JIMBOT_DRAIN_TIMEOUT``: seconds a stopping worker gives in-flight work."""
    llm_api_key: str | None = None
    """``ANTHROPIC_API_KEY``: the LLM provider's key (never printed)."""
    heartbeat_interval: float = 5.0
    """``JIMBOT_HEARTBEAT_SECONDS``: seconds between heartbeats (at most 5: the COMPONENTS
    bucket forgets an instance 15 s after its last beat)."""
    error_event_interval: float = 10.0
    """``JIMBOT_ERROR_EVENT_SECONDS``: at most one error event per kind of error per component
    in this many seconds; the rest are counted and summarised (0: publish every one)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raises :class:`ConfigError` naming the variable at fault."""
        env = os.environ if env is None else env
        settings = cls(
            nats_url=_nats_url(env),
            prefix=env.get("EVENT_BUS_TOPIC_PREFIX") or "jimbot",
            component_name=env.get("COMPONENT_NAME") or "jimbot",
            metrics_port=_int(env, "METRICS_PORT", 9090),
            trace_endpoint=env.get("TRACE_ENDPOINT") or None,
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            data_dir=Path(env.get("JIMBOT_DATA_DIR") or ".jimbot"),
            nats_port=_int(env, "JIMBOT_NATS_PORT", 4222),
            http_port=_int(env, "JIMBOT_HTTP_PORT", 8080),
            http_workers=_int(env, "JIMBOT_HTTP_WORKERS", 1),
            grpc_port=_int(env, "JIMBOT_GRPC_PORT", 50051),
            replicas=_int(env, "JIMBOT_REPLICAS", 1),
            drain_timeout=_float(env, "JIMBOT_DRAIN_TIMEOUT", 30.0),
            llm_api_key=env.get("ANTHROPIC_API_KEY") or None,
            heartbeat_interval=_float(env, "JIMBOT_HEARTBEAT_SECONDS", 5.0),
            error_event_interval=_float(env, "JIMBOT_ERROR_EVENT_SECONDS", 10.0),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL={self.log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        if self.replicas not in (1, 3, 5):
            raise ConfigError(f"JIMBOT_REPLICAS={self.replicas}: use 1, 3 or 5")
        for key, port in (
            ("METRICS_PORT", self.metrics_port),
            ("JIMBOT_HTTP_PORT", self.http_port),
            ("JIMBOT_GRPC_PORT", self.grpc_port),
            ("JIMBOT_NATS_PORT", self.nats_port),
        ):
            if not 0 <= port <= 65535:
                raise ConfigError(f"{key}={port} is not a TCP port (0-65535)")
        if not 1 <= self.http_workers <= 64:
            raise ConfigError(f"JIMBOT_HTTP_WORKERS={self.http_workers}: use 1 to 64 processes")
        if self.http_workers > 1 and self.http_port == 0:
            raise ConfigError(
                "JIMBOT_HTTP_WORKERS > 1 needs a fixed JIMBOT_HTTP_PORT: with port 0 each worker "
                "would get a port of its own"
            )
        if self.drain_timeout <= 0:
            raise ConfigError("JIMBOT_DRAIN_TIMEOUT must be > 0 seconds")
        if not 0 < self.heartbeat_interval <= 5:
            raise ConfigError(
                f"JIMBOT_HEARTBEAT_SECONDS={self.heartbeat_interval:g}: use more than 0 and at "
                "most 5 seconds (the COMPONENTS bucket keeps a beat for 15 s)"
            )
        if self.error_event_interval < 0:
            raise ConfigError("JIMBOT_ERROR_EVENT_SECONDS must be >= 0 seconds")

    def describe(self) -> dict[str, str]:
        """The effective values as text, the secret masked (for ``jimbot config``)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "llm_api_key":
                value = "(set)" if value else "(unset)"
            elif value is None:
                value = "(unset)" if f.name != "nats_url" else "(embedded nats-server)"
            out[f.name] = str(value)
        return out
