"""Heartbeats: each running instance of a component keeps a key alive in a KV bucket.

Why a KV bucket (``<PREFIX>_COMPONENTS``) rather than events: "who is alive now" is a question
about the latest value per instance, which is what a KV bucket holds; the bucket's max age (3
heartbeats) makes a crashed instance vanish by itself, and a graceful stop deletes its key at
once. Anyone can read it without a consumer (``jimbot status``, ``nats kv ls``) or follow it
live (``nats kv watch JIMBOT_COMPONENTS``). A heartbeat per handler every few seconds in the
events stream would be kept for 7 days and would wake every consumer of ``events.>``.

The key is ``<component>.<instance>``; the value is JSON (:class:`Beat`): who, where, since
when, what it runs, its breakers' states and the work in flight. The same loop watches the NATS
connection: a loss is logged at once and published as an error event after the reconnect.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import TaskStatus
from nats.js.errors import NotFoundError

from handlers._runtime._breakers import breaker_states

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from handlers._runtime._error_events import ErrorReporter
    from subjects import Names

log = logging.getLogger("jimbot.heartbeat")

BUCKET = "COMPONENTS"
"""Suffix of the KV bucket (``subjects`` defines it, max age 3 × :data:`MAX_INTERVAL`)."""
MAX_INTERVAL = 5.0
"""The longest heartbeat period the bucket's max age (15 s) allows: 3 beats per lifetime."""
STALE_AFTER = 2.5
"""A beat older than this many periods is shown as stale (the key lives until max age)."""
_UNSAFE = re.compile(r"[^a-z0-9_-]+")
READ_TIMEOUT = 5.0
"""Seconds :func:`read_beats` may take."""
_WATCH = 0.25
"""Seconds between looks at the connection (beats are sent every ``interval``)."""


def _token(text: str) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")[:64] or "unknown"


def _version() -> str:
    try:
        return metadata.version("jimbot")
    except metadata.PackageNotFoundError:
        return "unknown"


class Beat(msgspec.Struct, kw_only=True):
    """One heartbeat, the JSON value of an instance's key."""

    component: str
    instance: str
    pid: int
    host: str
    prefix: str
    started_at: float
    """Epoch seconds when the instance started."""
    last_beat: float
    """Epoch seconds of this beat."""
    interval: float
    """Seconds between beats."""
    version: str
    handlers: list[str]
    breakers: dict[str, str]
    """``{name: closed | half-open | open}`` of the instance's circuit breakers."""
    in_flight: int
    nats_reconnects: int = 0

    def age(self, now: float | None = None) -> float:
        return max((time.time() if now is None else now) - self.last_beat, 0.0)

    def stale(self, now: float | None = None) -> bool:
        """True when beats stopped coming (the process is probably gone)."""
        return self.age(now) > STALE_AFTER * self.interval


class Heartbeat:
    """Beats for one instance of ``component`` until stopped or cancelled.

    Args:
        nc: the connection to beat on.
        names: the prefix's names (the bucket is ``<PREFIX>_COMPONENTS``).
        component: what this process is (``COMPONENT_NAME``, ``gateway``, ``agentbridge``).
        handlers: what it runs (handler names, gRPC services, ``http``).
        interval: seconds between beats, at most :data:`MAX_INTERVAL`.
        errors: where a lost NATS connection is reported once it is back.
        in_flight: how much work is in progress now.
    """

    def __init__(
        self,
        nc: Client,
        names: Names,
        *,
        component: str,
        handlers: Sequence[str] = (),
        interval: float = MAX_INTERVAL,
        errors: ErrorReporter | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        if not 0 < interval <= MAX_INTERVAL:
            raise ValueError(f"heartbeat interval must be in (0, {MAX_INTERVAL:g}] seconds")
        self.nc = nc
        self.names = names
        self.component = component
        self.handlers = list(handlers)
        self.interval = interval
        self.errors = errors
        self.in_flight = in_flight
        self.host = socket.gethostname()
        self.instance = f"{_token(self.host)}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.key = f"{_token(component)}.{self.instance}"
        self.started_at = time.time()
        self.beats = 0
        self._version = _version()
        self._stop = anyio.Event()
        self._kv: KeyValue | None = None
        self._failing = False
        self._down_since: float | None = None
        self._reconnects = self._reconnect_count()

    def stop(self) -> None:
        """End :meth:`run` (it deletes the key on the way out)."""
        self._stop.set()

    def beat_value(self) -> Beat:
        return Beat(
            component=self.component,
            instance=self.instance,
            pid=os.getpid(),
            host=self.host,
            prefix=self.names.prefix,
            started_at=self.started_at,
            last_beat=time.time(),
            interval=self.interval,
            version=self._version,
            handlers=self.handlers,
            breakers=breaker_states(self.names.prefix),
            in_flight=self.in_flight() if self.in_flight is not None else 0,
            nats_reconnects=self._reconnect_count(),
        )

    async def beat(self) -> bool:
        """Put one beat now; False (logged once per outage) when it could not be stored."""
        try:
            if self._kv is None:
                self._kv = await self.nc.jetstream().key_value(self.names.bucket(BUCKET))
            with anyio.fail_after(max(self.interval, 1.0)):
                await self._kv.put(self.key, msgspec.json.encode(self.beat_value()))
        except Exception as exc:
            if not self._failing:
                hint = " (run `jimbot provision`)" if isinstance(exc, NotFoundError) else ""
                log.warning("heartbeat %s not stored: %s%s", self.key, exc or type(exc), hint)
            self._failing = True
            if isinstance(exc, NotFoundError):
                self._kv = None  # the bucket may come back (a server restarted empty)
            return False
        if self._failing:
            log.info("heartbeat %s stored again", self.key)
        self._failing = False
        self.beats += 1
        return True

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Beat at once, report started, then every ``interval`` until stopped."""
        try:
            await self.beat()
            task_status.started()
            next_beat = anyio.current_time() + self.interval
            while not self._stop.is_set():
                with anyio.move_on_after(_WATCH):
                    await self._stop.wait()
                self._watch_link()
                if anyio.current_time() >= next_beat and self.nc.is_connected:
                    await self.beat()
                    next_beat = anyio.current_time() + self.interval
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await self._forget()

    async def _forget(self) -> None:
        """Delete the key: a stopped instance is gone at once, not after the max age."""
        if self._kv is None or not self.nc.is_connected:
            return
        try:
            await self._kv.delete(self.key)
        except Exception as exc:
            log.warning("heartbeat %s not deleted (it expires by itself): %s", self.key, exc)

    def _reconnect_count(self) -> int:
        return int(self.nc.stats.get("reconnects", 0))

    def _watch_link(self) -> None:
        """Notice a lost connection now; report it once it is back (nothing can be sent
        while it is down)."""
        now = time.monotonic()
        if not self.nc.is_connected:
            if self._down_since is None and not (self.nc.is_closed or self.nc.is_draining):
                self._down_since = now
                log.warning("%s lost its NATS connection; reconnecting", self.component)
            return
        reconnects = self._reconnect_count()
        if self._down_since is None and reconnects == self._reconnects:
            return
        down_for = now - self._down_since if self._down_since is not None else 0.0
        self._down_since, self._reconnects = None, reconnects
        if self.errors is not None:
            self.errors.report(
                severity="WARNING",
                action="RETRY",
                message=(
                    f"{self.component} lost its NATS connection for {down_for:.1f}s and "
                    "reconnected; requests and publishes in that window may have failed"
                ),
                error_type="NatsDisconnected",
                context={"down_seconds": f"{down_for:.3f}", "reconnects": str(reconnects)},
            )


async def read_beats(nc: Client, names: Names) -> list[Beat] | None:
    """Every heartbeat in the prefix's bucket, sorted; ``None`` when the bucket is missing.

    A value that is not a :class:`Beat` (written by something else) is skipped.
    """
    js = nc.jetstream()
    try:
        kv = await js.key_value(names.bucket(BUCKET))
    except NotFoundError:
        return None
    beats = []
    # One pass over the latest values; the watcher marks the end of them with None.
    watcher = await kv.watchall(ignore_deletes=True)
    try:
        with anyio.fail_after(READ_TIMEOUT):
            async for entry in watcher:
                if entry is None:
                    break
                try:
                    beats.append(msgspec.json.decode(entry.value or b"", type=Beat))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # not written by a heartbeat
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    beats.sort(key=lambda b: (b.component, b.instance))
    return beats
