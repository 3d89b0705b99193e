"""``jimbot up``: embedded NATS (unless ``NATS_URL``), provisioning, then every handler and
edge as its own supervised child process, until Ctrl-C or SIGTERM.

The signal receiver is open before anything starts, so a Ctrl-C during start-up still stops
what was started, in order: children first (they drain), the embedded server last.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import anyio

from bridge.resources import edge_port
from handlers import Settings, handler_names
from ops._child import PARENT_PID_ENV
from ops.config import names_of, open_bus
from ops.natsserver import NatsServer
from ops.supervisor import ChildSpec, Supervisor
from subjects import provision

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

log = logging.getLogger("jimbot.up")


@dataclass(frozen=True, kw_only=True)
class Edge:
    """An edge ``jimbot up`` runs when its module exists: ``python -m <module>``."""

    name: str
    module: str
    port: Callable[[Settings], int]
    url: str
    """Format string for the table, with ``{port}``."""
    copies: Callable[[Settings], int] = lambda _: 1
    """How many processes share the edge's port."""
    copies_env: str = ""
    """The variable that tells each of those processes how many share it."""


EDGES: tuple[Edge, ...] = (
    Edge(
        name="gateway",
        module="bridge.gateway",
        port=lambda s: s.http_port,
        url="http://127.0.0.1:{port}",
        copies=lambda s: s.http_workers,
        copies_env="JIMBOT_HTTP_WORKERS",
    ),
    Edge(
        name="agentbridge",
        module="bridge.agentbridge",
        port=lambda s: s.grpc_port,
        url="grpc 127.0.0.1:{port}",
    ),
    Edge(
        name="resources",
        module="bridge.resources",
        port=lambda s: edge_port(),
        url="grpc 127.0.0.1:{port} (ResourceCoordinator)",
    ),
)
"""The edges of ``bridge/``; a module that does not exist yet is skipped."""


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def child_specs(settings: Settings, url: str) -> list[ChildSpec]:
    """One child per handler module, then one per existing edge, each with its own env."""
    base = dict(os.environ)
    base.update(
        {
            "NATS_URL": url,
            "EVENT_BUS_TOPIC_PREFIX": settings.prefix,
            PARENT_PID_ENV: str(os.getpid()),
        }
    )
    specs = []
    for index, name in enumerate(handler_names()):
        port = settings.metrics_port + index if settings.metrics_port else 0
        env = base | {"METRICS_PORT": str(port), "COMPONENT_NAME": name}
        listens = f"metrics http://127.0.0.1:{port}/metrics" if port else "metrics off"
        argv = [sys.executable, "-m", "ops.cli", "run", name]
        specs.append(ChildSpec(name=name, argv=argv, env=env, listens=listens))
    for edge in EDGES:
        if _module_exists(edge.module):
            env = base | {"METRICS_PORT": "0", "COMPONENT_NAME": edge.name}
            # Through ops._child, so the edge also stops itself if `up` is killed outright.
            argv = [sys.executable, "-m", "ops._child", edge.module]
            listens = edge.url.format(port=edge.port(settings))
            copies = edge.copies(settings)
            if edge.copies_env:
                env[edge.copies_env] = str(copies)
            for copy in range(1, copies + 1):
                name = edge.name if copy == 1 else f"{edge.name}-{copy}"
                where = f"{listens} (worker {copy} of {copies})" if copies > 1 else listens
                specs.append(ChildSpec(name=name, argv=argv, env=env, listens=where))
    return specs


def _table(
    server: NatsServer | None, url: str, specs: list[ChildSpec], supervisor: Supervisor
) -> str:
    rows = []
    if server is not None:
        rows.append(("nats", url, f"embedded, pid {server.pid}, store {server.store_dir}"))
        if server.monitor_url:
            rows.append(("monitoring", server.monitor_url, "nats-server HTTP monitoring"))
    else:
        rows.append(("nats", url, "external (NATS_URL)"))
    pids = supervisor.pids()
    for spec in specs:
        rows.append((spec.name, spec.listens, f"pid {pids.get(spec.name, '?')}"))
    width = max(len(r[0]) for r in rows)
    where = max(len(r[1]) for r in rows)
    lines = [f"  {a:<{width}}  {b:<{where}}  {c}" for a, b, c in rows]
    return "\n".join(["jimbot up: ready", *lines, "Ctrl-C drains and stops everything."])


async def _watch(signals: AsyncIterator[signal.Signals], stop: anyio.Event) -> None:
    async for signum in signals:
        log.warning("received %s: stopping", signum.name)
        stop.set()
        return


async def run_up(
    settings: Settings, *, nats_port: int, monitor_port: int, out: TextIO = sys.stdout
) -> None:
    """Run the whole service set until a signal; returns after a clean stop."""
    stop = anyio.Event()
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch, signals, stop)
            try:
                await _serve(settings, nats_port, monitor_port, stop, out)
            finally:
                tg.cancel_scope.cancel()


async def _serve(
    settings: Settings, nats_port: int, monitor_port: int, stop: anyio.Event, out: TextIO
) -> None:
    server: NatsServer | None = None
    url = settings.nats_url
    try:
        if url is None:
            server = NatsServer(
                store_dir=settings.data_dir / "nats",
                port=nats_port,
                monitor_port=monitor_port,
                die_with_parent=True,
            )
            # Started from the main thread on purpose: the server's parent-death signal is
            # tied to the thread that forked it, and a worker thread may exit at any time.
            server.start()
            url = server.url
            log.info("nats-server ready at %s (pid %s)", url, server.pid)
        async with open_bus(dataclasses.replace(settings, nats_url=url), name="jimbot-up") as nc:
            for change in await provision(
                nc.jetstream(), names_of(settings), replicas=settings.replicas
            ):
                log.info("provision: %s", change)
        if stop.is_set():
            return
        specs = child_specs(settings, url)
        supervisor = Supervisor(specs, drain_timeout=settings.drain_timeout)
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            print(_table(server, url, specs, supervisor), file=out, flush=True)
            await stop.wait()
            supervisor.stop()
        log.info("every child stopped")
    finally:
        if server is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(server.stop)
            log.info("nats-server stopped")
