"""A worker as a real process: SIGKILL loses nothing, SIGTERM drains and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import nats.js.errors
import pytest

from handlers import publish
from tests.integration.helpers import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from subjects import Names

SUBJECT = "events.custom.work"
RUN = "import sys; from handlers import load, run; sys.exit(run(load(sys.argv[1])))"


def start_worker(
    url: str,
    names: Names,
    out: Path,
    *,
    work: float,
    drain: float = 5.0,
    target: str = "tests.integration.workers:counting",
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": url,
        "EVENT_BUS_TOPIC_PREFIX": names.prefix,
        "METRICS_PORT": "0",
        "JIMBOT_TEST_OUT": str(out),
        "JIMBOT_TEST_WORK": str(work),
        "JIMBOT_DRAIN_TIMEOUT": str(drain),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUN, target],
        env=env,
        cwd=Path(__file__).parents[2],
    )


def processed(out: Path) -> list[bytes]:
    return out.read_bytes().splitlines() if out.exists() else []


async def publish_work(nc: Client, names: Names, count: int) -> set[bytes]:
    bodies = {f"job-{i}".encode() for i in range(count)}
    js = nc.jetstream()
    for body in sorted(bodies):
        await publish(js, names.subject(SUBJECT), body, msg_id=body.decode())
    return bodies


async def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    proc.send_signal(signal.SIGTERM)
    with anyio.fail_after(timeout):
        while proc.poll() is None:
            await anyio.sleep(0.05)
    return proc.returncode


@pytest.mark.slow
async def test_sigkill_mid_batch_loses_nothing(
    nc: Client, names: Names, nats_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "processed.txt"
    bodies = await publish_work(nc, names, 300)
    first = start_worker(nats_url, names, out, work=0.02)
    try:
        await wait_for(lambda: len(processed(out)) >= 60, timeout=30)
        first.kill()  # SIGKILL: no drain, in-flight messages never acked
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(set(processed(out))) < len(bodies), "killed too late to test anything"
    second = start_worker(nats_url, names, out, work=0.02)
    try:
        await wait_for(lambda: set(processed(out)) >= bodies, timeout=60)
        assert await stop(second) == 0
    finally:
        if second.poll() is None:
            second.kill()
    # At least once: every message processed; the killed batch may have run twice.
    assert set(processed(out)) == bodies
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable("counting"))
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_sigterm_finishes_in_flight_work_and_exits_zero(
    nc: Client, names: Names, nats_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "processed.txt"
    await publish_work(nc, names, 40)
    proc = start_worker(nats_url, names, out, work=0.5, drain=5.0)
    try:
        await wait_for(lambda: len(processed(out)) >= 8, timeout=30)
        assert await stop(proc, timeout=5.0 + 5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    info = await nc.jetstream().consumer_info(names.events_stream, names.durable("counting"))
    # Everything it took was finished and acked: nothing left pending on the server.
    assert info.num_ack_pending == 0
    assert info.ack_floor.consumer_seq == len(processed(out))
    assert info.num_redelivered == 0


async def test_sigterm_returns_work_it_cannot_finish_within_the_drain_timeout(
    nc: Client, names: Names, nats_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "processed.txt"
    await publish_work(nc, names, 8)
    proc = start_worker(
        nats_url, names, out, work=30.0, drain=1.0, target="tests.integration.workers:returning"
    )
    js = nc.jetstream()
    durable = names.durable("returning")

    async def all_in_flight() -> bool:
        try:
            info = await js.consumer_info(names.events_stream, durable)
        except nats.js.errors.NotFoundError:
            return False  # the worker has not created its consumer yet
        return bool(info.num_ack_pending == 8)

    try:
        with anyio.fail_after(20):
            while not await all_in_flight():
                await anyio.sleep(0.05)
        assert await stop(proc, timeout=1.0 + 8) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert processed(out) == []
    # Returned with a nak, not left to time out: with a 60 s ack wait, only a nak makes all
    # eight available to another copy straight away.
    psub = await js.pull_subscribe_bind(durable=durable, stream=names.events_stream)
    again: list[Msg] = []
    with anyio.fail_after(10):
        while len(again) < 8:
            again += await psub.fetch(8 - len(again), timeout=5)
    assert sorted(m.metadata.num_delivered for m in again) == [2] * 8
