"""Handlers that the process tests run in a child process (``module:attribute`` targets)."""

from __future__ import annotations

import os

import anyio

from handlers import Consumer, Context


async def record(body: bytes, ctx: Context) -> None:
    """Sleep a little, then append the body to the file named by ``JIMBOT_TEST_OUT``."""
    await anyio.sleep(float(os.environ.get("JIMBOT_TEST_WORK", "0.02")))
    async with await anyio.open_file(os.environ["JIMBOT_TEST_OUT"], "ab") as out:
        await out.write(body + b"\n")


counting = Consumer(
    name="counting",
    subjects=["events.custom.work"],
    handle=record,
    concurrency=8,
    ack_wait=2.0,
)

# Same work with a long ack wait: only an explicit nak makes its messages available again soon.
returning = Consumer(
    name="returning",
    subjects=["events.custom.work"],
    handle=record,
    concurrency=8,
    ack_wait=60.0,
)
