"""``jimbot demo --games N``: simulated Balatro games through the whole service set.

If a service set answers on the gateway port (``jimbot up``), the games go to it over HTTP.
Otherwise the demo starts its own on a private nats-server in a temporary directory: the
gateway, the decision service, the game director and the dead-letter mover, in this process.
Then it plays N games as the BalatroMCP mod would and prints what happened.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click
import httpx
from prometheus_client import REGISTRY

from bridge.gateway import Gateway, create_app
from handlers import Settings, Worker, connect
from handlers.decision import endpoint as decision
from handlers.dlq_mover import handler as dlq_mover
from handlers.game_director import handler as director
from ops.natsserver import NatsServer
from ops.sim import play_games
from subjects import Names, provision

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ops.sim import GameRecord, Summary


@dataclass
class Target:
    """Where the games go, and how to read back what the bus kept."""

    base_url: str
    transport: httpx.AsyncBaseTransport | None
    where: str


async def _running_gateway(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=0.5) as client:
            reply = await client.get(f"http://127.0.0.1:{port}/health")
        return reply.status_code == 200 and "jetstream" in reply.json()
    except (httpx.HTTPError, ValueError):
        return False


@asynccontextmanager
async def service_set(settings: Settings) -> AsyncIterator[Target]:
    """The running service set if there is one, else a private one in this process."""
    if await _running_gateway(settings.http_port):
        yield Target(f"http://127.0.0.1:{settings.http_port}", None, "the running service set")
        return
    with tempfile.TemporaryDirectory(prefix="jimbot-demo-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats", monitor_port=0)
        await anyio.to_thread.run_sync(server.start)
        try:
            nc = await connect(server.url, name="jimbot-demo")
            names = Names("demo")
            await provision(nc.jetstream(), names)
            worker = Worker(
                [decision, director, dlq_mover],
                settings=replace(settings, nats_url=server.url, prefix="demo", metrics_port=0),
                nc=nc,
            )
            async with anyio.create_task_group() as tg:
                await tg.start(worker.run)
                app = create_app(Gateway(nc, names))
                transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
                try:
                    yield Target("http://127.0.0.1:8080", transport, "a private service set")
                finally:
                    worker.stop()
            await nc.drain()
        finally:
            await anyio.to_thread.run_sync(server.stop)


def _gateway_counter(outcome: str) -> float:
    return REGISTRY.get_sample_value("jimbot_gateway_events_total", {"outcome": outcome}) or 0.0


async def _remote_counters(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=2) as client:
        text = (await client.get(f"{base_url}/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("jimbot_gateway_events_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


async def _counters(target: Target) -> dict[str, float]:
    if target.transport is None:
        return await _remote_counters(target.base_url)
    return {k: _gateway_counter(k) for k in ("stored", "duplicate", "dead_lettered")}


def _progress(total: int) -> tuple[list[int], object]:
    done = [0]

    def tick(record: GameRecord) -> None:
        done[0] += 1
        width = 30
        filled = width * done[0] // max(total, 1)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(
            f"\r  [{bar}] {done[0]}/{total} games ({record.outcome} ante {record.ante})"
        )
        sys.stderr.flush()

    return done, tick


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _report(summary: Summary, counts: dict[str, float], where: str) -> None:
    antes = ", ".join(f"{a}: {n}" for a, n in sorted(summary.antes.items()))
    lines = [
        ("played on", where),
        (
            "games played",
            f"{summary.games} ({summary.won} won, {summary.lost} lost, {summary.stalled} stalled)",
        ),
        ("antes reached", antes or "-"),
        ("stalled in", ", ".join(f"{k}: {v}" for k, v in summary.stalled_phases.items()) or "-"),
        ("games/hour", f"{summary.games_per_hour:,.0f}"),
        (
            "decision latency",
            f"p50 {_ms(summary.latency_p50)}, p95 {_ms(summary.latency_p95)}, "
            f"p99 {_ms(summary.latency_p99)} ({summary.decisions} decisions)",
        ),
        ("events sent", f"{summary.events_sent:,} in {summary.batches:,} batches"),
        ("events stored", f"{counts.get('stored', 0):,.0f}"),
        ("duplicates dropped", f"{counts.get('duplicate', 0):,.0f}"),
        ("dead letters", f"{counts.get('dead_lettered', 0):,.0f}"),
    ]
    width = max(len(k) for k, _ in lines)
    click.echo("")
    for key, value in lines:
        click.echo(f"{key:<{width}}  {value}")


async def run_game_demo(settings: Settings, games: int, concurrency: int) -> Summary:
    """Play ``games`` simulated games and print the summary."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    async with service_set(settings) as target:
        before = await _counters(target)
        click.echo(f"playing {games} game(s) on {target.where} ...")
        _, tick = _progress(games)
        summary = await play_games(
            target.base_url,
            games,
            concurrency=concurrency,
            transport=target.transport,
            on_progress=tick,  # type: ignore[arg-type]
        )
        sys.stderr.write("\n")
        after = await _counters(target)
    _report(summary, {k: after.get(k, 0) - before.get(k, 0) for k in after}, target.where)
    return summary
