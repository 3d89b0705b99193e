"""Moves dead letters into the DLQ stream, driven by the server's own advisories.

Rule: when JetStream reports a message terminated (``+TERM <reason>``) or out of deliveries,
fetch the original by stream sequence and republish it to ``<prefix>.dlq.consumer.<durable>``
with its original headers and body plus ``Jimbot-Dlq-*`` headers that say why. The dead
letter's ``Nats-Msg-Id`` is derived from stream, sequence and consumer, so a redelivered
advisory never stores it twice. Work streams keep messages by limits, so the original stays;
on a stream whose retention removes acknowledged messages the original is deleted afterwards.

Advisories are captured into the ``<PREFIX>_ADVISORIES`` stream (see ``subjects``), so none is
missed while this handler is down: it catches up when it starts.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from nats.js.api import RetentionPolicy
from nats.js.errors import NotFoundError

import subjects
from handlers import Consumer, Context, run


class Advisory(msgspec.Struct, kw_only=True):
    """The fields we use of ``io.nats.jetstream.advisory.v1.{terminated,max_deliver}``."""

    type: str
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int = 0
    reason: str = ""
    timestamp: str = ""


def classify(advisory: Advisory) -> tuple[str, str]:
    """``(reason, error)`` for the dead letter's headers.

    The runtime terms with ``permanent: <error>`` or ``max_deliveries: <error>``; a
    MAX_DELIVERIES advisory means every delivery timed out without an ack (e.g. crashes).
    """
    if advisory.type.endswith(".terminated"):
        kind, sep, error = advisory.reason.partition(": ")
        if sep and kind == "max_deliveries":
            return "max_deliveries", error
        if sep and kind == "permanent":
            return "terminated", error
        return "terminated", advisory.reason or "terminated by a consumer"
    return "max_deliveries", "no ack within ack_wait on any delivery"


async def move_dead_letter(advisory: Advisory, ctx: Context) -> None:
    js = ctx.js
    reason, error = classify(advisory)
    try:
        original = await js.get_msg(advisory.stream, advisory.stream_seq)
        headers = {k: str(v) for k, v in (original.headers or {}).items()}
        body = original.data or b""
        subject = original.subject or ""
    except NotFoundError:
        headers, body, subject = {}, b"", ""
        error = f"{error} (the original had already left the stream)"
    original_id = headers.pop("Nats-Msg-Id", None)
    if original_id:
        headers[subjects.DLQ_MSG_ID] = original_id
    headers.update(
        {
            subjects.DLQ_REASON: reason,
            subjects.DLQ_STREAM: advisory.stream,
            subjects.DLQ_SEQ: str(advisory.stream_seq),
            subjects.DLQ_CONSUMER: advisory.consumer,
            subjects.DLQ_DELIVERIES: str(advisory.deliveries),
            subjects.DLQ_ERROR: " ".join(error.split())[:1000],
            subjects.DLQ_FAILED_AT: advisory.timestamp
            or dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            subjects.DLQ_SUBJECT: subject,
            "Nats-Msg-Id": f"dlq:{advisory.stream}:{advisory.stream_seq}:{advisory.consumer}",
        }
    )
    await js.publish(ctx.names.dlq_subject(advisory.consumer), body, headers=headers)
    if subject and await _removes_acked(ctx, advisory.stream):
        try:
            await js.delete_msg(advisory.stream, advisory.stream_seq)
        except NotFoundError:
            pass
    ctx.logger.warning(
        "dead-lettered %s seq %d from %s: %s",
        subject or "(gone)",
        advisory.stream_seq,
        advisory.consumer,
        reason,
        extra={"error": error[:200]},
    )


async def _removes_acked(ctx: Context, stream: str) -> bool:
    info = await ctx.js.stream_info(stream)
    return info.config.retention != RetentionPolicy.LIMITS


handler = Consumer(
    name="dlq_mover",
    stream="ADVISORIES",
    subjects=(),
    handle=move_dead_letter,
    concurrency=8,
    max_deliver=10,
    retry_delay=0.5,
)

if __name__ == "__main__":
    raise SystemExit(run([handler]))
