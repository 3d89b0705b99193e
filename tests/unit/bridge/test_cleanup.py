"""``finish``: clean-up that grpc.aio's plain ``Task.cancel()`` cannot cut short."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from bridge._cleanup import finish


async def test_a_cleanup_runs_to_its_end_when_the_call_is_cancelled_twice() -> None:
    steps: list[str] = []

    async def cleanup() -> None:
        steps.append("start")
        await anyio.sleep(0.1)
        steps.append("end")

    async def call() -> None:
        try:
            await anyio.sleep(10)
        finally:
            await finish(cleanup, within=5)

    task = asyncio.ensure_future(call())
    await anyio.sleep(0.02)
    task.cancel()  # the client went away
    await anyio.sleep(0.02)
    task.cancel()  # and grpc.aio cancels again while the ``finally`` runs
    with pytest.raises(asyncio.CancelledError):
        await task
    await anyio.sleep(0.2)
    assert steps == ["start", "end"]


async def test_an_anyio_shield_alone_would_not_have_done_it() -> None:
    """Why ``finish`` exists: the second plain cancel goes through an anyio shield."""
    steps: list[str] = []

    async def call() -> None:
        try:
            await anyio.sleep(10)
        finally:
            with anyio.CancelScope(shield=True):
                steps.append("start")
                await anyio.sleep(0.1)
                steps.append("end")

    task = asyncio.ensure_future(call())
    await anyio.sleep(0.02)
    task.cancel()
    await anyio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["start"]


async def test_a_cleanup_is_bounded_and_its_failure_does_not_escape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def slow() -> None:
        await anyio.sleep(10)

    async def broken() -> None:
        raise RuntimeError("nats is gone")

    with anyio.fail_after(2):
        await finish(slow, within=0.05)
        await finish(broken, within=1)
    assert "did not end within 0.1 s" in caplog.text
    assert "clean-up failed: nats is gone" in caplog.text
