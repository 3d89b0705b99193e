"""Reading an agent's latest percept from the ``PERCEPTS`` KV bucket.

The bucket handle is bound once per JetStream context: ``js.key_value()`` costs a stream-info
round trip, which on the decide path would double the work of every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from nats.js.errors import KeyNotFoundError

from subjects import percept_key

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from subjects import Names

_buckets: WeakKeyDictionary[JetStreamContext, dict[str, KeyValue]] = WeakKeyDictionary()


async def _bucket(js: JetStreamContext, name: str) -> KeyValue:
    per_js = _buckets.setdefault(js, {})
    kv = per_js.get(name)
    if kv is None:
        kv = per_js[name] = await js.key_value(name)
    return kv


async def latest_percept(js: JetStreamContext, names: Names, agent: str) -> str:
    """The agent's latest percept payload, or ``""`` when it never pushed one."""
    kv = await _bucket(js, names.bucket("PERCEPTS"))
    try:
        entry = await kv.get(percept_key(agent))
    except KeyNotFoundError:
        return ""
    return (entry.value or b"").decode("utf-8", errors="replace")
