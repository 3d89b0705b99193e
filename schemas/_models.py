"""msgspec models of the mod's JSON envelopes: the batch, the event and the connection test.

They are typed views for Python code (handlers, the gateway, simulators). The codec converts
from the event as it was sent, so a key these models do not name is still kept on the bus.
Field types are as loose as the mod's encoder requires (see ``contracts/balatromcp.md``): per
event ``timestamp`` is a float of milliseconds since the game started, not epoch time.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ConnectionTest", "ModBatch", "ModEvent", "Model"]


class Model(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every JSON model: keyword-only, and unset fields are left out when encoding."""


class ModEvent(Model):
    """One event as the mod sends it (the ``payload`` is kept as a plain dict, verbatim)."""

    type: str
    """SCREAMING_SNAKE type (``GAME_STATE``, ``SCORING``...), or anything a newer mod sends."""
    source: str | None = None
    """The producer, ``"BalatroMCP"`` for the mod."""
    payload: dict[str, Any] = {}
    """The type-specific fields; :func:`schemas.parse_payload` gives the typed view."""
    event_id: str | None = None
    """UUID chosen by the mod; retries of a batch keep it, so it deduplicates."""
    version: int | None = None
    """Schema version, 1 today."""
    timestamp: float | None = None
    """Milliseconds since the game process started (NOT epoch)."""
    subtype: str | None = None
    """``SCORING``'s step, e.g. ``HAND_EVAL_START``."""
    priority: str | None = None
    """``"low"`` or ``"high"``; a high event flushes the mod's batch at once."""
    changes: list[ModEvent] = []
    """``GAME_STATE`` only: the change events detected with this state."""
    initial: bool | None = None
    """True on the first ``GAME_STATE`` of a session."""
    debug: bool | None = None
    """True on the ``GAME_STATE`` sent with each heartbeat."""


class ModBatch(Model):
    """The body of ``POST /api/v1/events/batch``."""

    batch_id: str | None = None
    """UUID of the batch; the mod's retries keep it."""
    source: str | None = None
    """``"BalatroMCP"``."""
    timestamp: float | None = None
    """Epoch milliseconds when the mod sent the batch."""
    events: list[ModEvent] = []
    """At most 50 events."""


class ConnectionTest(Model):
    """The single ``POST /api/v1/events`` the mod sends when it starts."""

    type: str = "connection_test"
    """Lowercase, unlike every other type."""
    timestamp: float | None = None
    """Epoch milliseconds."""
    source: str | None = None
    """``"BalatroMCP"``."""
    data: dict[str, Any] = {}
    """``{"message": "..."}``: ``data``, not ``payload``."""
