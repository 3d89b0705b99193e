"""Bench suite ``games``: simulated games end to end, and the service processes they need.

A gateway process (``python -m bridge.gateway``) and a worker process running the decision
service, the game director and the dead-letter mover (``python -m ops.cli run
ops._bench_games:WORKER``), both watching the bench's pid, serve a fresh prefix; the simulator
(:func:`ops.sim.play_games`) plays many games at once in the bench process, over HTTP as the
mod does. Figures: games/hour, the decision latency the simulator sees (GAME_STATE sent →
commands polled), what the bus kept, and the CPU time each process spent per game, which says
where the time goes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx
from nats.js.errors import NotFoundError

import subjects
from handlers import DeadlineExceeded, ServiceError, connect, request
from handlers.decision import endpoint as decision
from handlers.dlq_mover import handler as dlq_mover
from handlers.game_director import handler as director
from ops._bench_report import RUNTIME, Row, cpu_seconds
from ops._child import PARENT_PID_ENV
from ops.ports import free_port
from ops.sim import play_games
from schemas import JimbotError, events_pb2
from subjects import Names

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import Process
    from nats.aio.client import Client

    from ops._bench_report import Results

WORKER = [decision, director, dlq_mover]
"""What the worker process runs: ``python -m ops.cli run ops._bench_games:WORKER``."""


def child_env(nats_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """A service process's environment: this bench's server and prefix, quiet logs."""
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "EVENT_BUS_URL")}
    env.update(
        NATS_URL=nats_url, EVENT_BUS_TOPIC_PREFIX=prefix, METRICS_PORT="0", LOG_LEVEL="WARNING"
    )
    env[PARENT_PID_ENV] = str(os.getpid())  # a killed bench leaves no service running
    env.update(extra)
    return env


@asynccontextmanager
async def child(argv: list[str], env: dict[str, str], log: Path) -> AsyncIterator[Process]:
    """A child process, stopped with SIGTERM (then killed) when the block ends."""
    with log.open("wb") as err:
        proc = await anyio.open_process(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        yield proc
    finally:
        with anyio.CancelScope(shield=True):
            if proc.returncode is None:
                proc.terminate()
                with anyio.move_on_after(10):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.aclose()


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class GatewayProcess:
    base_url: str
    pid: int


@asynccontextmanager
async def gateway_process(
    nats_url: str, prefix: str, logs: Path, *, port: int = 0, workers: int = 1
) -> AsyncIterator[GatewayProcess]:
    """``python -m bridge.gateway`` on ``port`` (0: a free one), healthy before this yields.

    With ``workers`` > 1 it is one of that many sharing ``port`` (``JIMBOT_HTTP_WORKERS``):
    it yields once it has answered a health check itself.
    """
    port = port or free_port()
    env = child_env(
        nats_url,
        prefix,
        JIMBOT_HTTP_PORT=str(port),
        JIMBOT_HTTP_WORKERS=str(workers),
        COMPONENT_NAME="gateway",
    )
    log = logs / f"gateway-{prefix}-{uuid.uuid4().hex[:6]}.log"
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "ops._child", "bridge.gateway"]  # dies with the bench
    async with child(argv, env, log) as proc:
        with anyio.move_on_after(30):
            while proc.returncode is None:
                if proc.pid in await health_pids(base):
                    break
                await anyio.sleep(0.05)
        if proc.returncode is not None or proc.pid not in await health_pids(base, tries=64):
            raise JimbotError(f"the gateway at {base} did not start: {_last_line(log)}")
        yield GatewayProcess(base, proc.pid)


async def health_pids(base: str, *, tries: int = 8) -> set[int]:
    """The pids of the healthy gateway workers that answered ``tries`` health checks, each
    on a new connection (the kernel spreads those over the workers sharing the port)."""
    pids: set[int] = set()
    for _ in range(tries):
        try:
            async with httpx.AsyncClient(timeout=1) as http:
                answer = await http.get(f"{base}/health")
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            pids.add(int(answer.json()["metadata"]["pid"]))
    return pids


@asynccontextmanager
async def worker_process(
    nc: Client, nats_url: str, prefix: str, logs: Path
) -> AsyncIterator[Process]:
    """The decision service, game director and dead-letter mover in one process, serving."""
    env = child_env(nats_url, prefix, COMPONENT_NAME="bench_worker")
    argv = [sys.executable, "-m", "ops.cli", "run", f"{__name__}:WORKER"]
    log = logs / f"worker-{prefix}.log"
    async with child(argv, env, log) as proc:
        if not await _serving(nc, Names(prefix), proc):
            raise JimbotError(f"the worker did not start serving: {_last_line(log)}")
        yield proc


async def _serving(nc: Client, names: Names, proc: Process) -> bool:
    """Wait until the decision service answers and the director's consumer exists."""
    probe = events_pb2.LearningDecisionRequest(available_actions=["play_hand"])
    subject = names.subject(subjects.RPC_DECISION_GET)
    with anyio.move_on_after(30):
        while proc.returncode is None:
            try:
                # A readiness probe expects failures: no breaker (it would open and refuse).
                await request(
                    nc,
                    subject,
                    probe,
                    events_pb2.LearningDecisionResponse,
                    timeout=0.5,
                    guard=False,
                )
                durable = director.spec().durable(names)
                await nc.jetstream().consumer_info(names.events_stream, durable)
                return True
            except (DeadlineExceeded, ServiceError, NotFoundError):
                await anyio.sleep(0.1)
    return False


async def gateway_counters(base: str) -> dict[str, float]:
    """The gateway's ``jimbot_gateway_events_total`` by outcome."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{base}/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("jimbot_gateway_events_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


@dataclass(frozen=True)
class GamesFigures:
    """One end-to-end run."""

    games: int
    stalled: int
    games_per_hour: float
    decisions: int
    decision_p50_ms: float
    decision_p99_ms: float
    stored: float
    duplicates: float
    dead_letters: int  # messages added to the dead-letter stream (gateway's and handlers')
    cpu_ms_per_game: dict[str, float]  # gateway, worker, simulator, nats → CPU ms per game


async def play(
    nc: Client,
    nats_url: str,
    *,
    nats_pid: int | None,
    games: int,
    in_flight: int,
    warmup: int,
    logs: Path,
) -> GamesFigures:
    """Start the service processes on a fresh prefix, play, and measure."""
    prefix = f"benchg{os.urandom(5).hex()}"
    async with (
        gateway_process(nats_url, prefix, logs) as gateway,
        worker_process(nc, nats_url, prefix, logs) as worker,
    ):
        base = gateway.base_url
        if warmup:
            await play_games(base, warmup, concurrency=min(warmup, in_flight), seed=10_000)
        before = await gateway_counters(base)
        js, dlq = nc.jetstream(), Names(prefix).dlq_stream
        dead0 = (await js.stream_info(dlq)).state.messages
        pids = {"gateway": gateway.pid, "worker": worker.pid, "nats": nats_pid}
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        ends: list[float] = []
        sim0 = time.process_time()
        summary = await play_games(
            base, games, concurrency=in_flight, on_progress=lambda _: ends.append(time.monotonic())
        )
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        cpu["simulator"] = time.process_time() - sim0
        after = await gateway_counters(base)
        dead = (await js.stream_info(dlq)).state.messages - dead0
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    per_game = max(summary.games, 1)
    return GamesFigures(
        games=summary.games,
        stalled=summary.stalled,
        games_per_hour=_steady(ends, in_flight) or summary.games_per_hour,
        decisions=summary.decisions,
        decision_p50_ms=(summary.latency_p50 or 0.0) * 1000,
        decision_p99_ms=(summary.latency_p99 or 0.0) * 1000,
        stored=delta.get("stored", 0.0),
        duplicates=delta.get("duplicate", 0.0),
        dead_letters=dead,
        cpu_ms_per_game={k: v * 1000 / per_game for k, v in cpu.items() if v or k != "nats"},
    )


def _steady(ends: list[float], in_flight: int) -> float | None:
    """Games/hour with ``in_flight`` games in play: from the ``in_flight``-th completion to the
    ``in_flight``-th last, leaving out ramp-up and tail; None for too short a run."""
    if len(ends) < 3 * in_flight or ends[-in_flight] <= ends[in_flight - 1]:
        return None
    return (len(ends) - 2 * in_flight + 1) / (ends[-in_flight] - ends[in_flight - 1]) * 3600


PROCESSES = ("gateway", "worker", "simulator", "nats")


def rows(in_flight: int) -> list[Row]:
    games = f"simulated games, {in_flight} in flight"
    return [
        Row("games.per_hour", f"{games}, games/hour", goal_min=100_000, absolute=True),
        Row("games.decision_p50_ms", f"{games}, decision latency seen by the mod, p50 ms"),
        Row("games.decision_p99_ms", f"{games}, decision latency seen by the mod, p99 ms"),
        Row("games.played", f"{games}, games played (stalled: next row)"),
        Row("games.stalled", f"{games}, games stalled"),
        Row("games.stored", f"{games}, events stored"),
        Row("games.duplicates", f"{games}, duplicates dropped"),
        Row("games.dead_letters", f"{games}, dead letters"),
        *(Row(f"games.cpu_{p}", f"{games}, {p} CPU ms/game") for p in PROCESSES),
    ]


async def measure(
    url: str,
    results: Results,
    *,
    games: int,
    in_flight: int,
    warmup: int,
    nats_pid: int | None,
    logs: Path,
) -> str:
    """One end-to-end run; returns the summary sentence."""
    nc = await connect(url, name="bench-games")
    try:
        run = await play(
            nc, url, nats_pid=nats_pid, games=games, in_flight=in_flight, warmup=warmup, logs=logs
        )
    finally:
        await nc.close()
    for key, value in (
        ("per_hour", run.games_per_hour),
        ("decision_p50_ms", run.decision_p50_ms),
        ("decision_p99_ms", run.decision_p99_ms),
        ("played", run.games),
        ("stalled", run.stalled),
        ("stored", run.stored),
        ("duplicates", run.duplicates),
        ("dead_letters", run.dead_letters),
        *((f"cpu_{p}", ms) for p, ms in run.cpu_ms_per_game.items()),
    ):  # fmt: skip
        results.add(f"games.{key}", RUNTIME, float(value))
    return (
        f"Games: {games} simulated games ({run.decisions:,} decisions), {in_flight} in flight, "
        "over HTTP through a gateway process to a worker process running decision + "
        f"game_director + dlq_mover, after {warmup} warm-up game(s); games/hour counts the "
        f"games ended while {in_flight} were in play (ramp-up and tail left out) when there are "
        f"at least {3 * in_flight}; CPU ms/game per process says where the time goes."
    )
