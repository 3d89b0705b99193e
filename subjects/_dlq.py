"""Header names a dead letter carries next to its original headers and body."""

from __future__ import annotations

DLQ_REASON = "Jimbot-Dlq-Reason"
"""``terminated`` (permanent error), ``max_deliveries``, or ``ingest`` (an edge could not parse)."""
DLQ_STREAM = "Jimbot-Dlq-Stream"
DLQ_SEQ = "Jimbot-Dlq-Seq"
DLQ_CONSUMER = "Jimbot-Dlq-Consumer"
DLQ_DELIVERIES = "Jimbot-Dlq-Deliveries"
DLQ_ERROR = "Jimbot-Dlq-Error"
DLQ_FAILED_AT = "Jimbot-Dlq-Failed-At"
DLQ_SUBJECT = "Jimbot-Dlq-Subject"
"""The subject the message was originally published to (replay puts it back there)."""
DLQ_MSG_ID = "Jimbot-Dlq-Msg-Id"
"""The original ``Nats-Msg-Id``; the dead letter's own id is derived from stream and seq."""
REPLAY_OF = "Jimbot-Replay-Of"
"""Set on a replayed message: the DLQ sequence it came from."""

DLQ_HEADERS = (
    DLQ_REASON,
    DLQ_STREAM,
    DLQ_SEQ,
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_ERROR,
    DLQ_FAILED_AT,
    DLQ_SUBJECT,
    DLQ_MSG_ID,
)
