"""Storing what the mod sends: every event in JetStream or, raw, in the dead-letter stream.

The gateway answers only after every event of a request is kept somewhere. Publishes of one
request are pipelined (``publish_async``) and their acks awaited together, so a 50-event batch
costs about one round trip, not fifty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

import subjects
from handlers import BusUnavailable, standard_headers
from schemas import (
    DecodedBatch,
    DecodedEvent,
    EventError,
    SchemaDecodeError,
    encode_event,
    encode_json,
    event_to_proto,
)
from subjects import event_subject

if TYPE_CHECKING:
    from collections.abc import Iterable

    from nats.aio.client import Client
    from nats.js.api import PubAck

    from subjects import Names

EVENT_CONTENT_TYPE = "application/protobuf; messageType=jimbot.events.v1.Event"


class DeadLetter(msgspec.Struct):
    """One event the gateway could not store as an event, and why (kept in the DLQ)."""

    index: int
    reason: str
    event_id: str | None = None
    type: str | None = None


class IngestReport(msgspec.Struct):
    """The answer to a batch: what was stored, what was a duplicate, what was dead-lettered."""

    status: str
    """``ok`` (everything stored) or ``partial`` (some events dead-lettered)."""
    batch_id: str | None
    received: int
    stored: int
    duplicates: int
    dead_lettered: list[DeadLetter] = []


@dataclass
class _Outgoing:
    subject: str
    body: bytes
    headers: dict[str, str]
    dead: DeadLetter | None = None


@dataclass
class Ingestor:
    """Turns decoded mod events into bus messages and waits until JetStream has them all."""

    nc: Client
    names: Names
    edge: str = "http"
    ack_timeout: float = 2.0
    _out: list[_Outgoing] = field(default_factory=list)

    def _event(
        self,
        decoded: DecodedEvent,
        batch: DecodedBatch | None,
        now: float,
        session: str,
        superseded: bool = False,
    ) -> _Outgoing:
        event = event_to_proto(
            decoded,
            batch_id=batch.batch_id if batch else None,
            batch_timestamp_ms=batch.timestamp if batch else None,
            received_at=now,
        )
        # Which game's command queue answers this event (see _commands).
        event.metadata["session"] = session
        if superseded:
            # A later GAME_STATE of the same batch replaces this one: nobody should act on it.
            event.metadata["superseded"] = "true"
        mod = decoded.event
        msg_id = mod.event_id or _content_id(decoded.raw)
        return _Outgoing(
            self.names.subject(event_subject(mod.type, mod.subtype)),
            encode_event(event),
            standard_headers(
                EVENT_CONTENT_TYPE,
                msg_id=msg_id,
                event_type=mod.type,
                source=mod.source or "unknown",
            ),
        )

    def _dead(self, index: int, raw: Any, reason: str, *, intended: str = "") -> _Outgoing:
        body = raw if isinstance(raw, bytes) else _json(raw)
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        type_ = raw.get("type") if isinstance(raw, dict) else None
        headers = standard_headers(
            "application/json" if not isinstance(raw, bytes) else "application/octet-stream",
            msg_id=f"ingest:{hashlib.sha256(body).hexdigest()[:32]}",
            extra={
                subjects.DLQ_REASON: "ingest",
                subjects.DLQ_ERROR: " ".join(reason.split())[:1000],
                subjects.DLQ_CONSUMER: f"gateway_{self.edge}",
                subjects.DLQ_FAILED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                subjects.DLQ_SUBJECT: intended,
            },
        )
        dead = DeadLetter(
            index=index,
            reason=reason,
            event_id=event_id if isinstance(event_id, str) else None,
            type=type_ if isinstance(type_, str) else None,
        )
        return _Outgoing(self.names.dlq_ingest_subject(self.edge), body, headers, dead)

    def plan(
        self,
        results: Iterable[DecodedEvent | EventError],
        batch: DecodedBatch | None,
        *,
        session: str = "default",
    ) -> list[_Outgoing]:
        """The messages for a batch's results: events, their nested changes, dead letters."""
        now = time.time()
        out: list[_Outgoing] = []
        results = list(results)
        states = [
            r.index
            for r in results
            if isinstance(r, DecodedEvent) and r.event.type.upper() == "GAME_STATE"
        ]
        latest_state = states[-1] if states else None
        for result in results:
            if isinstance(result, EventError):
                out.append(self._dead(result.index, result.raw, result.reason))
                continue
            try:
                superseded = result.event.type.upper() == "GAME_STATE" and (
                    result.index != latest_state
                )
                out.append(self._event(result, batch, now, session, superseded))
            except SchemaDecodeError as exc:
                out.append(self._dead(result.index, result.raw, str(exc)))
                continue
            # A change detected with a state is also its own event: stored once, by its id,
            # whether it arrived at the top level, nested, or both.
            for change in result.event.changes:
                nested = DecodedEvent(
                    index=result.index,
                    event=change,
                    payload=None,
                    raw=msgspec.to_builtins(change),
                )
                try:
                    out.append(self._event(nested, batch, now, session))
                except SchemaDecodeError as exc:
                    out.append(self._dead(result.index, nested.raw, str(exc)))
        return out

    def plan_unparsable(self, body: bytes, reason: str) -> list[_Outgoing]:
        """A body that is not JSON at all is kept raw in the dead-letter stream."""
        return [self._dead(0, body, reason)]

    async def store(
        self, out: list[_Outgoing], batch_id: str | None, received: int
    ) -> IngestReport:
        """Publish everything and wait for every ack.

        Raises:
            BusUnavailable: NATS is down or did not ack in time; nothing may be reported as kept.
        """
        if not self.nc.is_connected:
            raise BusUnavailable("NATS is not connected; the event bus cannot store events now")
        js = self.nc.jetstream()
        futures = []
        try:
            with anyio.fail_after(self.ack_timeout):
                for item in out:
                    futures.append(
                        await js.publish_async(item.subject, item.body, headers=item.headers)
                    )
                acks: list[PubAck] = [await f for f in futures]
        except TimeoutError as exc:
            for f in futures:
                f.cancel()
            raise BusUnavailable(f"JetStream did not ack within {self.ack_timeout}s") from exc
        except Exception as exc:
            for f in futures:
                f.cancel()
            raise BusUnavailable(f"JetStream refused the events: {exc}") from exc
        report = IngestReport(
            status="ok", batch_id=batch_id, received=received, stored=0, duplicates=0
        )
        for item, ack in zip(out, acks, strict=True):
            if item.dead is not None:
                report.dead_lettered.append(item.dead)
            elif ack.duplicate:
                report.duplicates += 1
            else:
                report.stored += 1
        if report.dead_lettered:
            report.status = "partial"
        return report


def _json(value: Any) -> bytes:
    try:
        return encode_json(value)  # keeps Infinity / NaN, unlike a plain JSON encoder
    except (TypeError, ValueError):
        return repr(value).encode()


def _content_id(raw: Any) -> str:
    """An id for an event the mod sent without one (the connection test): same body, same id."""
    return "sha256:" + hashlib.sha256(_json(raw)).hexdigest()[:32]
