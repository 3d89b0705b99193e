"""``GET /api/v1/events``: event history read back from JetStream by time range and type."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from schemas import SchemaDecodeError, decode_event_bytes, event_to_json
from subjects import event_filter

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

MAX_LIMIT = 1000
log = logging.getLogger("jimbot.gateway")


class HistoryQueryError(ValueError):
    """Raised when a history query parameter cannot be understood; names the parameter."""


def parse_time(name: str, raw: str | None) -> dt.datetime | None:
    """Epoch milliseconds (the mod's unit), epoch seconds with a fraction, or ISO 8601."""
    if raw is None or raw == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise HistoryQueryError(
                f"`{name}`={raw!r}: use epoch milliseconds or ISO 8601 (2024-01-15T10:30:00Z)"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    seconds = number / 1000 if number > 1e11 else number
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (ValueError, OverflowError, OSError):  # nan, inf, before year 1 or past 9999
        raise HistoryQueryError(
            f"`{name}`={raw!r} is not a time: use epoch milliseconds or ISO 8601"
        ) from None


async def read_history(
    nc: Client,
    names: Names,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    event_type: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Events stored between ``start`` and ``end`` (server receive time), oldest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise HistoryQueryError(f"`limit`={limit}: use 1 to {MAX_LIMIT}")
    js = nc.jetstream()
    subject = names.subject(event_filter(event_type) if event_type else "events.>")
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=start,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=5.0,
        mem_storage=True,
    )
    psub = await js.pull_subscribe(subject, stream=names.events_stream, config=config)
    out: list[dict[str, Any]] = []
    try:
        while len(out) < limit:
            try:
                batch = await psub.fetch(min(limit - len(out), 256), timeout=0.5)
            except TimeoutError:  # nats-py raises its own or asyncio's, depending on the path
                break
            done = False
            for msg in batch:
                meta = msg.metadata
                if end is not None and meta.timestamp > end:
                    done = True
                    break
                out.append(_entry(msg.subject, meta.sequence.stream, meta.timestamp, msg.data))
                if meta.num_pending == 0 or len(out) >= limit:
                    done = True
                    break
            if done:
                break
    finally:
        await psub.unsubscribe()
    return out


def _entry(subject: str, seq: int, stored: dt.datetime, data: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = {"seq": seq, "subject": subject, "stored_at": stored.isoformat()}
    try:
        entry["event"] = event_to_json(decode_event_bytes(data))
    except SchemaDecodeError as exc:
        entry["error"] = str(exc)
    except Exception as exc:  # one odd stored event must not fail the whole history
        log.warning("cannot render stored event %d as JSON: %r", seq, exc)
        entry["error"] = f"cannot render this event as JSON ({type(exc).__name__})"
    return entry
