"""Heartbeats in the COMPONENTS bucket, and ``jimbot status`` reading them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from handlers import Beat, Consumer, Context, Endpoint, read_beats
from tests.integration.clihelp import jimbot
from tests.integration.helpers import running, wait_for_async
from tests.interop.harness import shim

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names

ROOT = Path(__file__).parents[2]


async def noop(body: bytes, ctx: Context) -> None:
    return None


async def echo(body: bytes, ctx: Context) -> bytes:
    return body


async def beats_of(nc: Client, names: Names, component: str) -> list[Beat]:
    return [b for b in await read_beats(nc, names) or [] if b.component == component]


async def test_a_worker_beats_while_it_runs_and_its_key_goes_when_it_stops(
    nc: Client, names: Names, settings: Settings
) -> None:
    consumer = Consumer(name="watcher", subjects=["events.custom.hb"], handle=noop)
    endpoint = Endpoint(name="echoer", subject="rpc.echoer.go", handle=echo)
    # Stale after 2.5 intervals: 0.5 s beats leave a loaded machine 0.75 s of late beating
    # before a fresh beat reads as stale (0.2 s beats left 0.3 s).
    own = replace(settings, component_name="pair", heartbeat_interval=0.5)
    async with running(consumer, endpoint, settings=own, nc=nc):
        read_at = time.time()  # before listing the bucket: its time is not the beat's age
        first = await beats_of(nc, names, "pair")
        await anyio.sleep(1.2)  # two intervals and more: a later beat is in
        later = await beats_of(nc, names, "pair")
    after = await beats_of(nc, names, "pair")

    assert len(first) == len(later) == 1
    beat = first[0]
    assert beat.handlers == ["watcher", "echoer"]
    assert beat.pid == os.getpid() and beat.host == socket.gethostname()
    assert beat.prefix == names.prefix and beat.interval == 0.5
    assert beat.version and beat.in_flight == 0 and not beat.stale(read_at)
    assert later[0].last_beat > beat.last_beat and later[0].started_at == beat.started_at
    assert after == []  # a graceful stop deletes the key at once


async def test_status_shows_alive_components_with_their_instances(
    nc: Client, names: Names, settings: Settings
) -> None:
    one = Consumer(name="first", subjects=["events.custom.a"], handle=noop)
    two = Consumer(name="second", subjects=["events.custom.b"], handle=noop)
    async with (
        running(one, settings=replace(settings, component_name="scorer"), nc=nc),
        running(two, settings=replace(settings, component_name="scorer"), nc=nc),
        running(one, settings=replace(settings, component_name="advisor"), nc=nc),
    ):
        text = await jimbot(settings, "status")
        as_json = await jimbot(settings, "status", "--json")
    assert text.exit_code == 0, text.output
    lines = text.stdout.split("COMPONENTS (heartbeats)")[1].splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.strip()}
    assert rows["scorer"][1:3] == ["2", "0"]  # two alive, none stale
    assert rows["advisor"][1:3] == ["1", "0"]
    components = {c["name"]: c for c in json.loads(as_json.stdout)["components"]}
    assert components["scorer"]["alive"] == 2
    assert len(components["scorer"]["instances"]) == 2
    assert components["advisor"]["instances"][0]["handlers"] == ["first"]


async def test_status_with_nothing_running_says_so(nc: Client, settings: Settings) -> None:
    text = await jimbot(settings, "status")
    assert text.exit_code == 0, text.output
    assert "(no heartbeats: nothing is running for this prefix)" in text.stdout


async def test_the_shim_beats_as_agentbridge(nc: Client, names: Names, settings: Settings) -> None:
    async with shim(settings):
        beats = await beats_of(nc, names, "agentbridge")
    assert len(beats) == 1
    assert "agentbridge.AgentBridge" in beats[0].handlers
    assert await beats_of(nc, names, "agentbridge") == []


def _spawn(*argv: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": settings.nats_url or "",
        "EVENT_BUS_TOPIC_PREFIX": settings.prefix,
        "METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


async def _exit(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    with anyio.fail_after(timeout):
        while proc.poll() is None:
            await anyio.sleep(0.05)
    return proc.returncode


async def test_the_gateway_process_beats_and_removes_its_key_on_sigterm(
    nc: Client, names: Names, settings: Settings
) -> None:
    env = _env(settings, JIMBOT_HTTP_PORT="0", JIMBOT_HEARTBEAT_SECONDS="0.5")
    proc = _spawn("-m", "bridge.gateway", env=env)
    try:

        async def beating() -> bool:
            return bool(await beats_of(nc, names, "gateway"))

        await wait_for_async(beating, timeout=20)
        beat = (await beats_of(nc, names, "gateway"))[0]
        proc.send_signal(signal.SIGTERM)
        code = await _exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert beat.pid == proc.pid and beat.handlers == ["http"]
    assert code == 0
    assert await beats_of(nc, names, "gateway") == []


@pytest.mark.slow
async def test_a_killed_worker_goes_stale_then_vanishes_by_itself(
    nc: Client, names: Names, settings: Settings
) -> None:
    env = _env(settings, COMPONENT_NAME="doomed", JIMBOT_HEARTBEAT_SECONDS="1")
    proc = _spawn("-m", "ops.cli", "run", "dlq_mover", env=env)
    try:

        async def beating() -> bool:
            return bool(await beats_of(nc, names, "doomed"))

        await wait_for_async(beating, timeout=20)
        proc.kill()  # no chance to delete its key
        await _exit(proc)
        killed_at = time.time()

        async def stale() -> bool:
            beats = await beats_of(nc, names, "doomed")
            return bool(beats) and beats[0].stale()

        await wait_for_async(stale, timeout=5)
        text = await jimbot(settings, "status")

        async def gone() -> bool:
            return not await beats_of(nc, names, "doomed")

        await wait_for_async(gone, timeout=20, interval=0.5)
        vanished_after = time.time() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
    row = next(line for line in text.stdout.splitlines() if line.strip().startswith("doomed"))
    assert row.split()[1:3] == ["0", "1"]  # none alive, one stale
    assert "stale: beats stopped" in text.stdout
    # The bucket's max age: 15 s after the last beat, plus the server's expiry sweep and
    # this test's 0.5 s polls of a listing that is slow on a loaded machine.
    assert vanished_after <= 18
