"""The package's public surface is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import ops.sim


def test_exported_members() -> None:
    assert set(ops.sim.__all__) == {
        "DEFAULT_BASE_URL",
        "Game",
        "GameOptions",
        "GameRecord",
        "ModClient",
        "ModConfig",
        "Summary",
        "TransportStats",
        "create_http_client",
        "mod_urls",
        "offline_transport",
        "play_games",
    }
    for name in ops.sim.__all__:
        assert hasattr(ops.sim, name), name
