"""A read cache of the graph: every joker node of the bucket, kept current by a KV watch.

Queries read memory, so they answer in microseconds, well inside the spec's 50 ms; KV stays
the source of truth. Each process has one cache per connection and bucket, started by the
first query that needs it: an ordered consumer on the bucket's ``joker.*`` keys (last value
per key, then every change) whose callback applies each entry. The first answer waits until
the initial values are in; afterwards the cache trails the bucket by one message delivery.
A caller that must see its own write passes the write's revision (:meth:`wait_revision`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

import anyio
import msgspec
from nats.js.api import DeliverPolicy

from handlers._knowledge._model import NODE_PREFIX, Node, decode_node, name_of_key

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js.client import JetStreamContext

    from schemas.events_pb2 import KnowledgeQueryResponse

log = logging.getLogger("jimbot.knowledge")
_DELETES = frozenset({"DEL", "PURGE"})
ANSWERS = 1024
"""Query answers kept per cache (see :class:`Answers`)."""
START_TIMEOUT = 5.0
"""Seconds to wait for the watch's consumer info (not bounded by the first caller's deadline)."""


class GraphCache:
    """The joker nodes of one KNOWLEDGE bucket, by name."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self.js, self.bucket = js, bucket
        self.nodes: dict[str, Node] = {}
        self._folded: dict[str, str] = {}
        self.revision = 0
        """Stream sequence of the last entry applied."""
        self._prefix = f"$KV.{bucket}."
        self._sub: Subscription | None = None
        self._ready = anyio.Event()
        self._moved = anyio.Event()
        self._setup: asyncio.Future[None] | None = None
        self.answers = Answers()

    def find(self, name: str) -> Node | None:
        """The node named ``name``, or else the one whose name matches it ignoring case."""
        node = self.nodes.get(name)
        if node is None:
            exact = self._folded.get(name.casefold())
            node = self.nodes.get(exact) if exact is not None else None
        return node

    async def _on_entry(self, msg: Msg) -> None:
        name = name_of_key(msg.subject[len(self._prefix) :])
        meta = msg.metadata
        op = (msg.headers or {}).get("KV-Operation")
        marker = (msg.headers or {}).get("Nats-Marker-Reason")
        if name is not None:
            if op in _DELETES or marker is not None:
                self.nodes.pop(name, None)
                self._folded.pop(name.casefold(), None)
            else:
                try:
                    self.nodes[name] = decode_node(msg.data)
                    self._folded[name.casefold()] = name
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("knowledge: %s is not a node, ignored: %s", msg.subject, exc)
        self.revision = max(self.revision, meta.sequence.stream)
        if meta.num_pending == 0:
            self._ready.set()
        moved, self._moved = self._moved, anyio.Event()
        moved.set()

    async def _subscribe(self) -> None:
        sub = await self.js.subscribe(
            f"{self._prefix}{NODE_PREFIX}>",
            stream=f"KV_{self.bucket}",
            cb=self._on_entry,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )
        self._sub = sub
        with anyio.fail_after(START_TIMEOUT):
            info = await sub.consumer_info()
        if info.num_pending == 0 and sub.delivered == 0:
            self._ready.set()  # an empty bucket: nothing will arrive to say so

    async def start(self) -> None:
        """Start the watch once; every caller returns when it is set up (or raises its error)."""
        if self._setup is None:
            # Its own task, awaited through asyncio.shield: a caller whose deadline passes
            # (the runtime's asyncio.timeout) must not leave a half-made watch behind.
            self._setup = asyncio.ensure_future(self._subscribe())
        await asyncio.shield(self._setup)

    @property
    def failed(self) -> bool:
        setup = self._setup
        return setup is not None and setup.done() and (setup.cancelled() or bool(setup.exception()))

    async def wait_ready(self) -> None:
        """Return once the initial values are in."""
        await self._ready.wait()

    async def wait_revision(self, revision: int) -> None:
        """Return once the entry with stream sequence ``revision`` (or a later one) is in."""
        while self.revision < revision:
            await self._moved.wait()


class Answers:
    """Finished query answers by (query, variables, operation), valid for one cache revision.

    The graph changes when an update or a game end is written, far less often than it is
    read: until then the same question gets the same answer, so it is computed once. A change
    anywhere in the graph drops every answer (answers are not traced to the nodes they read).
    """

    def __init__(self, size: int = ANSWERS) -> None:
        self.size = size
        self.revision = -1
        self._answers: OrderedDict[tuple[str, bytes, str], KnowledgeQueryResponse] = OrderedDict()

    def get(self, key: tuple[str, bytes, str], revision: int) -> KnowledgeQueryResponse | None:
        if revision != self.revision:
            self._answers.clear()
            self.revision = revision
            return None
        found = self._answers.get(key)
        if found is not None:
            self._answers.move_to_end(key)
        return found

    def put(
        self, key: tuple[str, bytes, str], revision: int, answer: KnowledgeQueryResponse
    ) -> None:
        if revision != self.revision:
            return  # the graph moved on while this answer was made
        kept = type(answer)()
        kept.CopyFrom(answer)  # the caller's message goes on to be sent and dropped
        self._answers[key] = kept
        if len(self._answers) > self.size:
            self._answers.popitem(last=False)


_caches: weakref.WeakKeyDictionary[Client, dict[str, GraphCache]] = weakref.WeakKeyDictionary()


async def open_cache(nc: Client, js: JetStreamContext, bucket: str) -> GraphCache:
    """This connection's started cache of ``bucket`` (made and started on first use)."""
    per = _caches.setdefault(nc, {})
    cache = per.get(bucket)
    if cache is None or cache.failed:
        cache = per[bucket] = GraphCache(js, bucket)
    await cache.start()
    return cache
