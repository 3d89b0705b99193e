"""The strategy advisor's parts: providers (offline rules, Claude), the shared token bucket, the
cache, and the advisor that puts them in order. ``handlers/strategy_advisor.py`` serves them.
"""

from __future__ import annotations

from handlers._strategy._advisor import (
    BREAKER,
    Advisor,
    OfflineProvider,
    Provider,
    create_advisor,
)
from handlers._strategy._bucket import Take, TokenBucket, refill
from handlers._strategy._cache import StrategyCache, cache_key
from handlers._strategy._claude import ClaudeProvider, ProviderError, parse_answer
from handlers._strategy._config import StrategyConfig
from handlers._strategy._offline import advise as offline_advise

__all__ = [
    "BREAKER",
    "Advisor",
    "ClaudeProvider",
    "OfflineProvider",
    "Provider",
    "ProviderError",
    "StrategyCache",
    "StrategyConfig",
    "Take",
    "TokenBucket",
    "cache_key",
    "create_advisor",
    "offline_advise",
    "parse_answer",
    "refill",
]
