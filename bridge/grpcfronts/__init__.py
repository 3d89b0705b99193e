"""The spec's gRPC services (EventBus, DecisionService, KnowledgeGraph, StrategyAdvisor) as thin
fronts over NATS, served on the AgentBridge shim's port for components in other languages.

Each front is a module with ``add(server, nc, names) -> str``: it registers its servicer on the
``grpc.aio`` server and returns the full service name (for health and reflection). A front
never imports a handler: it publishes, subscribes and requests on subjects like any client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.grpcfronts import decision, eventbus, knowledge, strategy

if TYPE_CHECKING:
    from collections.abc import Callable

    import grpc
    from nats.aio.client import Client

    from subjects import Names

FRONTS: list[Callable[[grpc.aio.Server, Client, Names], str]] = []
"""One ``add`` function per front module."""
FRONTS.append(eventbus.add)
FRONTS.append(decision.add)
FRONTS.append(strategy.add)
FRONTS.append(knowledge.add)


def add_fronts(server: grpc.aio.Server, nc: Client, names: Names) -> list[str]:
    """Register every front on ``server``; the full names of the services added."""
    return [add(server, nc, names) for add in FRONTS]
