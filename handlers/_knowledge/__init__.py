"""The knowledge graph's parts: stored shape, updates, learning, writes, read cache, GraphQL.

Private to ``handlers.knowledge``; only tests import it directly.
"""

from __future__ import annotations

from handlers._knowledge._cache import GraphCache, open_cache
from handlers._knowledge._graphql import SDL, run_query
from handlers._knowledge._learning import MIN_RATE, Outcome, game_outcome, learn, rate
from handlers._knowledge._model import (
    PRIOR,
    SYNERGY,
    Edge,
    LearnedGame,
    Node,
    decode_node,
    encode_json,
    learned_key,
    name_of_key,
    node_key,
    quote_key,
    unquote_key,
)
from handlers._knowledge._store import CorruptNode, WriteConflict, mutate
from handlers._knowledge._updates import (
    UNCHANGED,
    Change,
    InvalidUpdate,
    apply_change,
    drop_edges_to,
    ensure_node,
    plan_update,
)

__all__ = [
    "MIN_RATE",
    "PRIOR",
    "SDL",
    "SYNERGY",
    "UNCHANGED",
    "Change",
    "CorruptNode",
    "Edge",
    "GraphCache",
    "InvalidUpdate",
    "LearnedGame",
    "Node",
    "Outcome",
    "WriteConflict",
    "apply_change",
    "decode_node",
    "drop_edges_to",
    "encode_json",
    "ensure_node",
    "game_outcome",
    "learn",
    "learned_key",
    "mutate",
    "name_of_key",
    "node_key",
    "open_cache",
    "plan_update",
    "quote_key",
    "rate",
    "run_query",
    "unquote_key",
]
