"""Running the ``jimbot`` CLI from an async test, and making dead letters by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import anyio
from click.testing import CliRunner, Result

import subjects
from ops.cli import cli

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nats.js.client import JetStreamContext

    from handlers import Settings
    from subjects import Names

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def jimbot(
    settings: Settings | None,
    *args: str,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """``jimbot <args>`` against the test's server and prefix.

    The CLI runs its own event loop, so it runs in a worker thread, not in the test's loop.
    """
    full_env = dict(env or {})
    if settings is not None:
        full_env.setdefault("NATS_URL", settings.nats_url or "")
        full_env.setdefault("EVENT_BUS_TOPIC_PREFIX", settings.prefix)

    def invoke() -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=full_env)

    return await anyio.to_thread.run_sync(invoke)


async def put_dead_letter(
    js: JetStreamContext,
    names: Names,
    *,
    handler: str = "score",
    reason: str = "terminated",
    subject: str = "events.custom.thing",
    body: bytes = b"hello",
    msg_id: str | None = None,
    error: str = "ValueError: bad thing",
    deliveries: int = 1,
    content_type: str = "text/plain; charset=utf-8",
) -> int:
    """Publish a dead letter as the dlq_mover would; returns its DLQ sequence."""
    durable = names.durable(handler)
    original_id = msg_id or f"evt-{uuid.uuid4().hex[:8]}"
    headers = {
        "Content-Type": content_type,
        "traceparent": TRACEPARENT,
        "X-Custom": "kept",
        subjects.DLQ_MSG_ID: original_id,
        subjects.DLQ_REASON: reason,
        subjects.DLQ_STREAM: names.events_stream,
        subjects.DLQ_SEQ: "7",
        subjects.DLQ_CONSUMER: durable,
        subjects.DLQ_DELIVERIES: str(deliveries),
        subjects.DLQ_ERROR: error,
        subjects.DLQ_FAILED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        subjects.DLQ_SUBJECT: names.subject(subject),
        "Nats-Msg-Id": f"dlq:{uuid.uuid4().hex}",
    }
    ack = await js.publish(names.dlq_subject(durable), body, headers=headers)
    return int(ack.seq)


def data_lines(output: str) -> list[str]:
    """The rows of a ``jimbot dlq ls`` table (header and notes dropped)."""
    return [line for line in output.splitlines() if line.strip() and line.split()[0].isdigit()]
