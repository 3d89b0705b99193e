"""The spec's ``ResourceCoordinator`` gRPC service: ``python -m bridge.resources`` or ``jimbot up``.

It listens on ``RESOURCE_COORDINATOR_URL`` (``grpc://localhost:50052``) and turns each call
into a NATS request to the coordinator (``handlers/resource_coordinator.py``, on
``rpc.resource.{request,release,status}``); ``SubscribeToResourceEvents`` relays
``events.resource.*``. gRPC health checking and reflection are on; TLS, mutual TLS and the
bearer token as on the AgentBridge port.
"""

from __future__ import annotations

from bridge.resources._config import EdgeConfig, edge_port
from bridge.resources._serve import main, serve
from bridge.resources._service import SERVICE, ResourceCoordinatorService

__all__ = [
    "SERVICE",
    "EdgeConfig",
    "ResourceCoordinatorService",
    "edge_port",
    "main",
    "serve",
]
