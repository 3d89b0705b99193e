"""Reading an agent's latest percept: from this process's mirror of the ``PERCEPTS`` bucket
when the shim vouches for it, else from the KV.

Why a mirror: a KV read per decision is a NATS round trip (a request, a JSON reply to parse,
two socket writes) and was the largest single cost of a decision. The mirror is an ordered push
consumer on the bucket's stream (the last value of every key, then every change), applied in
its subscription callback: no task of ours, and it lives and dies with the connection. It is
started by the first request that carries a digest, so a process that never gets one never
mirrors anything.

When the mirror may answer: only when the request carries ``Jimbot-Percept-Digest`` (the
shim's fingerprint of the percept it last stored for that agent) and the mirror holds a value
with that very digest for that agent's key. Equal digests are equal values, so the answer is
the one a KV read would give. A mirror that is behind, not started yet, lost its consumer,
dropped a large value, or holds a value some other writer put: the digests differ and the
percept is read from the KV as before. What the mirror cannot see is a newer value written by
*another* process (a second shim, ``nats kv put``) after this shim's write, in the
milliseconds before the mirror applies it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError
from prometheus_client import Counter

from subjects import percept_digest, percept_key

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from subjects import Names

log = logging.getLogger("jimbot.agentpolicy")

MAX_MIRROR_BYTES = 32 * 1024 * 1024
"""Payload bytes one mirror keeps at most; past it, new keys are read from the KV."""
MAX_MIRRORED_VALUE = 16 * 1024
"""A larger percept is not mirrored (it is read from the KV each time)."""
RETRY_AFTER = 5.0
"""Seconds before a mirror that could not subscribe tries again (KV reads meanwhile)."""
_REMOVED = ("KV-Operation", "Nats-Marker-Reason")
"""Headers of a delete, a purge or a server-placed marker: the key has no value now."""

READS = Counter(
    "agent_percept_reads_total",
    "Percepts read by agent_decide, by source: the process's mirror of the bucket, or the KV.",
    ["source"],
)
_FROM_MIRROR = READS.labels("mirror")
_FROM_KV = READS.labels("kv")


class PerceptMirror:
    """The ``PERCEPTS`` bucket's current values as this process last saw them, with digests."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self.js = js
        self.bucket = bucket
        self.entries: dict[str, tuple[str, str, int]] = {}
        """KV key → (digest of the raw value, the value as text, its size in bytes)."""
        self.size = 0
        self._prefix = f"$KV.{bucket}."
        self._sub: Subscription | None = None
        self._starting: asyncio.Task[None] | None = None
        self._retry_at = 0.0

    def lookup(self, key: str, digest: str) -> str | None:
        """The mirrored value of ``key`` if its digest is ``digest``, else ``None``."""
        found = self.entries.get(key)
        if found is not None and found[0] == digest:
            return found[1]
        return None

    def ensure_started(self) -> None:
        """Subscribe in the background unless subscribed, subscribing, or backing off."""
        if self._sub is not None or self._starting is not None:
            return
        if time.monotonic() < self._retry_at:
            return
        self._starting = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        try:
            self._sub = await self.js.subscribe(
                f"{self._prefix}>",
                stream=f"KV_{self.bucket}",
                cb=self._apply,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                inactive_threshold=30.0,
            )
        except Exception as exc:
            log.warning("percept mirror of %s not started (KV reads instead): %s", self.bucket, exc)
            self._retry_at = time.monotonic() + RETRY_AFTER
        finally:
            self._starting = None

    async def _apply(self, msg: Msg) -> None:
        """Apply one change of the bucket (in stream order: the consumer is ordered)."""
        key = msg.subject[len(self._prefix) :]
        headers = msg.headers
        data = msg.data or b""
        if (headers and any(h in headers for h in _REMOVED)) or len(data) > MAX_MIRRORED_VALUE:
            self._drop(key)
            return
        self._drop(key)
        if self.size + len(data) > MAX_MIRROR_BYTES:
            return
        text = data.decode("utf-8", errors="replace")
        self.entries[key] = (percept_digest(data), text, len(data))
        self.size += len(data)

    def _drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= old[2]


_buckets: WeakKeyDictionary[JetStreamContext, dict[str, KeyValue]] = WeakKeyDictionary()
_mirrors: WeakKeyDictionary[JetStreamContext, dict[str, PerceptMirror]] = WeakKeyDictionary()


async def _bucket(js: JetStreamContext, name: str) -> KeyValue:
    # Bound once per JetStream context: ``js.key_value()`` costs a stream-info round trip.
    per_js = _buckets.setdefault(js, {})
    kv = per_js.get(name)
    if kv is None:
        kv = per_js[name] = await js.key_value(name)
    return kv


def mirror_of(js: JetStreamContext, bucket: str) -> PerceptMirror:
    """This JetStream context's mirror of ``bucket`` (made on first use, not yet started)."""
    per_js = _mirrors.setdefault(js, {})
    mirror = per_js.get(bucket)
    if mirror is None:
        mirror = per_js[bucket] = PerceptMirror(js, bucket)
    return mirror


async def latest_percept(
    js: JetStreamContext, names: Names, agent: str, *, digest: str | None = None
) -> str:
    """The agent's latest percept payload, or ``""`` when it never pushed one.

    Args:
        digest: the ``Jimbot-Percept-Digest`` the request carried: the mirror answers only a
            value with this digest; without it the KV is read.
    """
    bucket = names.bucket("PERCEPTS")
    key = percept_key(agent)
    if digest:
        mirror = mirror_of(js, bucket)
        mirror.ensure_started()
        found = mirror.lookup(key, digest)
        if found is not None:
            _FROM_MIRROR.inc()
            return found
    _FROM_KV.inc()
    kv = await _bucket(js, bucket)
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return ""
    return (entry.value or b"").decode("utf-8", errors="replace")
