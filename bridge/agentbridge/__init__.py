"""The AgentBridge gRPC shim for Jason: ``python -m bridge.agentbridge`` or ``jimbot up``.

It serves ``agentbridge.AgentBridge`` exactly as the existing Java ``GrpcBridgeEnvironment``
speaks it, on top of NATS: percepts go to JetStream (``events.agent.percept`` and the
``PERCEPTS`` KV bucket), actions come from ``rpc.agent.decide`` within a bounded budget, and
``StreamActions`` relays a credit-paced stream from ``rpc.agent.stream``. Configuration:
:class:`BridgeConfig` (``JIMBOT_AGENT_*``, ``JIMBOT_GRPC_*``).
"""

from __future__ import annotations

from bridge.agentbridge._checks import META_CAP, InvalidInput, cap_metadata
from bridge.agentbridge._config import BridgeConfig
from bridge.agentbridge._ratelimit import RateLimiter
from bridge.agentbridge._serve import main, serve
from bridge.agentbridge._service import SERVICE, AgentBridgeService
from subjects import percept_key

__all__ = [
    "META_CAP",
    "SERVICE",
    "AgentBridgeService",
    "BridgeConfig",
    "InvalidInput",
    "RateLimiter",
    "cap_metadata",
    "main",
    "percept_key",
    "serve",
]
