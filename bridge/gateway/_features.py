"""The spec's REST, GraphQL and WebSocket interfaces beyond the mod's own routes.

Each feature keeps its routes in its own module (``_query``, ``_strategy``, ``_graphql``, ...)
as a function ``routes(nc, names) -> list`` of Litestar route handlers; this list adds them to
the application. A feature reaches its handler over NATS only, never by import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.gateway import _graphql, _query, _strategy

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from nats.aio.client import Client

    from subjects import Names


FEATURES: list[Callable[[Client, Names], Sequence[Any]]] = []
"""One ``routes`` function per feature module, in the order they are served."""
FEATURES.append(_graphql.routes)
FEATURES.append(_strategy.routes)
FEATURES.append(_query.routes)


def feature_routes(nc: Client, names: Names) -> list[Any]:
    """Every feature's route handlers for one gateway."""
    return [route for routes in FEATURES for route in routes(nc, names)]
