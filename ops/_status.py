"""``jimbot status``: what the bus holds for one prefix, gathered in one pass.

Streams and buckets are the ones ``subjects`` defines for the prefix (never a name-prefix
match, which would mix up ``jimbot`` and ``jimbot_a``). Dead letters are counted by reason from
their headers, bounded like every DLQ read. Micro services answer one ``$SRV.PING`` within a
short window, as ``nats micro ls`` finds them. Components are read from their heartbeats in the
``COMPONENTS`` bucket: instances alive, stale ones (beats stopped, key not yet expired), the
age of the newest beat, and every circuit breaker that is not closed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from nats.js.errors import NotFoundError

from handlers import read_beats
from ops import _dlq
from subjects import buckets, streams

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from handlers import Beat
    from subjects import Names

PING_WINDOW = 0.5
"""Seconds to gather ``$SRV.PING`` answers."""
DLQ_STATUS_SCAN = 10_000
"""Dead letters ``status`` reads at most to count reasons."""


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    name: str
    num_pending: int
    num_ack_pending: int
    num_redelivered: int


@dataclass(frozen=True, slots=True)
class StreamRow:
    name: str
    purpose: str
    exists: bool
    messages: int = 0
    bytes: int = 0
    consumers: list[ConsumerRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServiceRow:
    name: str
    id: str
    version: str
    endpoints: list[str]


@dataclass(frozen=True, slots=True)
class InstanceRow:
    instance: str
    host: str
    pid: int
    age: float
    """Seconds since its last heartbeat."""
    stale: bool
    in_flight: int
    handlers: list[str]
    breakers: dict[str, str]


@dataclass(frozen=True, slots=True)
class ComponentRow:
    name: str
    alive: int
    stale: int
    last_beat_age: float
    """Seconds since the newest heartbeat of any instance."""
    breakers: dict[str, str]
    """The worst state of each breaker over the live instances."""
    instances: list[InstanceRow]


@dataclass(frozen=True, slots=True)
class Status:
    """Everything ``jimbot status`` shows; ``as_dict`` is the ``--json`` form."""

    prefix: str
    streams: list[StreamRow]
    dead_letters: dict[str, int]
    dead_letters_scanned: int
    dead_letters_truncated: bool
    services: list[ServiceRow]
    components: list[ComponentRow] | None = None
    """``None`` when the heartbeat bucket does not exist (not provisioned)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _stream_rows(js: JetStreamContext, names: Names) -> list[StreamRow]:
    wanted = [(s.config.name or "", s.purpose) for s in streams(names)]
    wanted += [(b.stream_name, f"KV bucket: {b.purpose}") for b in buckets(names)]
    rows = []
    for name, purpose in wanted:
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            rows.append(StreamRow(name, purpose, exists=False))
            continue
        consumers = [
            ConsumerRow(
                c.name,
                c.num_pending or 0,
                c.num_ack_pending or 0,
                c.num_redelivered or 0,
            )
            for c in await js.consumers_info(name)
        ]
        consumers.sort(key=lambda c: c.name)
        rows.append(
            StreamRow(name, purpose, True, info.state.messages, info.state.bytes, consumers)
        )
    return rows


async def find_services(
    nc: Client, names: Names, *, window: float = PING_WINDOW
) -> list[ServiceRow]:
    """Ask ``$SRV.PING`` once and gather answers for ``window`` seconds; keep this prefix's."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    pings: list[dict[str, Any]] = []
    try:
        await nc.publish("$SRV.PING", b"", reply=inbox)
        with anyio.move_on_after(window):
            async for msg in sub.messages:
                try:
                    pings.append(json.loads(msg.data))
                except ValueError:
                    continue
    finally:
        await sub.unsubscribe()
    rows = []
    for ping in pings:
        name, sid = str(ping.get("name", "")), str(ping.get("id", ""))
        # Our runtime tags each service with its prefix; a service without the tag (an edge
        # written another way) is matched by its name.
        tagged = (ping.get("metadata") or {}).get("prefix")
        if (tagged or "") != names.prefix and (tagged or not name.startswith(f"{names.prefix}_")):
            continue
        rows.append(
            ServiceRow(name, sid, str(ping.get("version", "")), await _endpoints(nc, name, sid))
        )
    rows.sort(key=lambda r: (r.name, r.id))
    return rows


async def _endpoints(nc: Client, name: str, sid: str) -> list[str]:
    """``name subject`` per endpoint, from ``$SRV.INFO.<name>.<id>``; empty if it won't say."""
    try:
        reply = await nc.request(f"$SRV.INFO.{name}.{sid}", b"", timeout=PING_WINDOW)
        info = json.loads(reply.data)
    except Exception:  # a service that went away between PING and INFO
        return []
    return [f"{e.get('name', '?')} {e.get('subject', '?')}" for e in info.get("endpoints") or []]


_SEVERITY = {"closed": 0, "half-open": 1, "open": 2}


def component_rows(beats: list[Beat], now: float | None = None) -> list[ComponentRow]:
    """Heartbeats grouped by component; breakers merged to their worst live state."""
    now = time.time() if now is None else now
    grouped: dict[str, list[Beat]] = {}
    for beat in beats:
        grouped.setdefault(beat.component, []).append(beat)
    rows = []
    for name, group in sorted(grouped.items()):
        instances = [
            InstanceRow(
                b.instance,
                b.host,
                b.pid,
                round(b.age(now), 3),
                b.stale(now),
                b.in_flight,
                b.handlers,
                b.breakers,
            )
            for b in group
        ]
        live = [b for b in group if not b.stale(now)]
        breakers: dict[str, str] = {}
        for beat in live:
            for breaker, state in beat.breakers.items():
                if _SEVERITY.get(state, 0) >= _SEVERITY.get(breakers.get(breaker, ""), -1):
                    breakers[breaker] = state
        rows.append(
            ComponentRow(
                name,
                alive=len(live),
                stale=len(group) - len(live),
                last_beat_age=min(i.age for i in instances),
                breakers=dict(sorted(breakers.items())),
                instances=instances,
            )
        )
    return rows


async def collect(nc: Client, names: Names) -> Status:
    """Gather the status of ``names``' prefix."""
    js = nc.jetstream()
    rows = await _stream_rows(js, names)
    reasons: Counter[str] = Counter()
    scanned, truncated = 0, False
    if any(r.name == names.dlq_stream and r.exists and r.messages for r in rows):
        found = await _dlq.scan(js, names, max_scan=DLQ_STATUS_SCAN)
        reasons.update(letter.reason or "(none)" for letter in found.letters)
        scanned, truncated = found.scanned, found.truncated
    services = await find_services(nc, names)
    beats = await read_beats(nc, names)
    components = component_rows(beats) if beats is not None else None
    return Status(
        names.prefix,
        rows,
        dict(sorted(reasons.items())),
        scanned,
        truncated,
        services,
        components,
    )


def render(status: Status) -> str:
    """The human form: one section per kind of thing, aligned columns."""
    out = [f"prefix {status.prefix}", "", "STREAMS"]
    out.append(f"  {'NAME':<32} {'MESSAGES':>10} {'BYTES':>12}  PURPOSE")
    for row in status.streams:
        if not row.exists:
            out.append(f"  {row.name:<32} {'missing: run `jimbot provision`':>24}")
            continue
        out.append(f"  {row.name:<32} {row.messages:>10} {row.bytes:>12}  {row.purpose}")
    out += ["", "CONSUMERS"]
    out.append(f"  {'STREAM/CONSUMER':<48} {'PENDING':>8} {'ACK PENDING':>12} {'REDELIVERED':>12}")
    consumers = [(s.name, c) for s in status.streams for c in s.consumers]
    for stream, c in consumers:
        out.append(
            f"  {stream + '/' + c.name:<48} {c.num_pending:>8} {c.num_ack_pending:>12} "
            f"{c.num_redelivered:>12}"
        )
    if not consumers:
        out.append("  (none)")
    out += ["", "DEAD LETTERS BY REASON"]
    for reason, count in status.dead_letters.items():
        out.append(f"  {reason:<24} {count:>8}")
    if not status.dead_letters:
        out.append("  (none)")
    if status.dead_letters_truncated:
        out.append(f"  (counted the first {status.dead_letters_scanned} only)")
    out += ["", "SERVICES"]
    for svc in status.services:
        out.append(f"  {svc.name:<32} {svc.id:<24} {svc.version}")
        out.extend(f"      endpoint {e}" for e in svc.endpoints)
    if not status.services:
        out.append("  (none answered $SRV.PING)")
    out += ["", "COMPONENTS (heartbeats)"]
    out.extend(_render_components(status.components))
    return "\n".join(out)


def _render_components(components: list[ComponentRow] | None) -> list[str]:
    """One line per component; a breaker that is not closed is upper-cased and marked ``!``."""
    if components is None:
        return ["  heartbeat bucket missing: run `jimbot provision`"]
    if not components:
        return ["  (no heartbeats: nothing is running for this prefix)"]
    out = [f"  {'COMPONENT':<24} {'ALIVE':>5} {'STALE':>5} {'LAST BEAT':>10}  BREAKERS"]
    for row in components:
        marks = [
            f"{name}={state}" if state == "closed" else f"!{name}={state.upper()}"
            for name, state in row.breakers.items()
        ]
        age = f"{row.last_beat_age:.1f}s ago"
        breakers = ", ".join(marks) or "-"
        out.append(f"  {row.name:<24} {row.alive:>5} {row.stale:>5} {age:>10}  {breakers}")
    tripped = [
        f"{row.name} -> {name} is {state}"
        for row in components
        for name, state in row.breakers.items()
        if state != "closed"
    ]
    if tripped:
        out.append("  breakers not closed: " + "; ".join(tripped))
    if any(row.stale for row in components):
        out.append("  stale: beats stopped (crashed or stuck); the entry expires within 15 s")
    return out
