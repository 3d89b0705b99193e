"""The strategy advisor's settings, read from the environment once, with the spec's numbers."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers import ConfigError

PROVIDERS = ("auto", "offline", "claude")
DEFAULT_MODEL = "claude-haiku-4-5"
"""Cheap and quick: a strategy hint is worth little once the game has moved on."""
QUEUE_TIMEOUT = 5.0
"""The spec's ``timeout: 5s`` for a queued strategy request."""
MAX_CACHE_TTL = 24 * 3600.0
"""The cache bucket's own max age: an entry cannot outlive it."""


@dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """What the advisor asks, whom, and how long answers count.

    ``provider``: ``auto`` (Claude when a key is set, else the offline strategist),
    ``offline`` or ``claude`` (which needs a key).
    """

    provider: str = "auto"
    api_key: str | None = None
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    max_tokens: int = 600
    cache_ttl: float = 3600.0
    timeout: float = QUEUE_TIMEOUT

    @property
    def uses_claude(self) -> bool:
        return self.provider == "claude" or (self.provider == "auto" and bool(self.api_key))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StrategyConfig:
        """``JIMBOT_STRATEGY_PROVIDER``, ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``,
        ``JIMBOT_STRATEGY_MODEL``, ``JIMBOT_STRATEGY_MAX_TOKENS``, ``JIMBOT_STRATEGY_CACHE_TTL``,
        ``JIMBOT_STRATEGY_TIMEOUT``.

        Raises:
            ConfigError: naming the variable and the values it takes.
        """
        env = os.environ if env is None else env
        provider = (env.get("JIMBOT_STRATEGY_PROVIDER") or "auto").strip().lower()
        if provider not in PROVIDERS:
            raise ConfigError(f"JIMBOT_STRATEGY_PROVIDER={provider!r}: use {', '.join(PROVIDERS)}")
        api_key = env.get("ANTHROPIC_API_KEY") or None
        if provider == "claude" and not api_key:
            raise ConfigError(
                "JIMBOT_STRATEGY_PROVIDER=claude needs ANTHROPIC_API_KEY; set the key, or use "
                "'auto' to fall back to the offline strategist without one"
            )
        config = cls(
            provider=provider,
            api_key=api_key,
            base_url=(env.get("ANTHROPIC_BASE_URL") or "").strip() or None,
            model=(env.get("JIMBOT_STRATEGY_MODEL") or "").strip() or DEFAULT_MODEL,
            max_tokens=int(_number(env, "JIMBOT_STRATEGY_MAX_TOKENS", 600, 16, 8192)),
            cache_ttl=_number(env, "JIMBOT_STRATEGY_CACHE_TTL", 3600.0, 0.0, MAX_CACHE_TTL),
            timeout=_number(env, "JIMBOT_STRATEGY_TIMEOUT", QUEUE_TIMEOUT, 0.1, 600.0),
        )
        if config.base_url and not config.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"ANTHROPIC_BASE_URL={config.base_url!r}: use an http:// or https:// URL"
            )
        return config


def _number(env: Mapping[str, str], key: str, default: float, low: float, high: float) -> float:
    raw = (env.get(key) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise ConfigError(f"{key}={raw!r}: use a number from {low:g} to {high:g}")
    return value
