"""The HTTP gateway for the BalatroMCP mod: ``python -m bridge.gateway`` or ``jimbot up``."""

from __future__ import annotations

from bridge.gateway._app import Gateway, create_app
from bridge.gateway._serve import main, serve

__all__ = ["Gateway", "create_app", "main", "serve"]
