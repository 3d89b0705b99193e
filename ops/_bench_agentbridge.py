"""Bench suite ``agentbridge``: ``RequestAction`` through the shim against the reference design
and against raw nats-py request-reply.

Four deployments, all started by the bench as their own processes (on free loopback ports):

- ``raw`` column: the seed's **reference** design, rebuilt here (:func:`serve_reference`): a
  sync ``grpc.server`` with a 4-thread pool, the latest percept per agent in a dict, the
  first-match policy (battery → ``recharge``, temperature → ``cool_down``, ``search`` in the
  context → ``explore``, else ``idle``);
- ``runtime`` column: the **shim** (``python -m bridge.agentbridge``) and one ``agent_decide``
  worker (``python -m ops.cli run agent_decide``), gRPC → NATS → handler → back, on the
  bench's nats-server;
- the ``… two decide copies`` rows: the same shim with **two** worker processes (a second
  copy of the handler; the gain over one copy is the scale-out goal);
- the ``… vs raw nats-py request-reply`` rows: the same shim figures against **raw nats-py**
  (:func:`serve_raw`): a plain ``nc.subscribe(cb=...)`` responder process answering the
  reference ``ActionResponse`` from a dict, called with ``nc.request`` by as many concurrent
  callers on one connection, same bodies. What the NATS hop alone costs, without gRPC.

Each client is a ``grpc.aio`` channel of its own with its own agent name (a raw NATS caller: a
task on the bench's connection): it pushes one percept, then (once every client has) calls
``RequestAction`` a fixed number of times back to back;
latency per call with ``perf_counter_ns``, throughput over the whole burst. Every answer must be
the policy's (status OK, the expected action), so a fallback can never pass for speed. The
deployments alternate which goes first each round.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from concurrent import futures
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import grpc
import nats

from handlers import connect
from handlers.agentpolicy import choose_action
from ops._bench_consume import drop_prefix
from ops._bench_games import _last_line, child, child_env
from ops._bench_report import RAW, RUNTIME, Row, cpu_seconds, percentile
from ops.ports import free_port
from schemas import JimbotError
from schemas import agent_bridge_pb2 as pb
from schemas import agent_bridge_pb2_grpc as pb_grpc
from subjects import Names

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from ops._bench_report import Results

REFERENCE, SHIM, SHIM2, RAWNATS = "reference", "shim", "shim2", "rawnats"
TIMEOUT = 5.0
"""Client deadline per call: far above any answer, so only a hung deployment trips it."""
START_TIMEOUT = 30.0


# --- the reference design -------------------------------------------------------------------


def reference_action(percept: str, context: str) -> str:
    """The reference server's policy (first match wins): the same rule the shim's default
    policy applies, so both sides do the same work and give the same answers."""
    return choose_action(context, percept)


def reference_answer(percept: str, context: str) -> pb.ActionResponse:
    """The reference server's answer (the shim's default policy gives the same bytes)."""
    return pb.ActionResponse(
        action=reference_action(percept, context),
        metadata=f"ctx={context}|percept={percept}",
        meta=[
            pb.MetaEntry(key="ctx_len", value=str(len(context))),
            pb.MetaEntry(key="percept_len", value=str(len(percept))),
        ],
        status=pb.ACTION_STATUS_OK,
    )


class _Reference(pb_grpc.AgentBridgeServicer):
    """The seed's reference servicer: latest percept per agent in a dict."""

    def __init__(self) -> None:
        self.percepts: dict[str, str] = {}

    def PushPercept(self, request: pb.Percept, context: grpc.ServicerContext) -> pb.Ack:
        self.percepts[request.agent] = request.payload
        return pb.Ack(ok=True, detail="percept stored")

    def RequestAction(
        self, request: pb.ActionRequest, context: grpc.ServicerContext
    ) -> pb.ActionResponse:
        return reference_answer(self.percepts.get(request.agent, ""), request.context)

    def StreamActions(
        self, request: pb.ActionRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ActionResponse]:
        for index in range(3):
            entry = pb.MetaEntry(key="index", value=str(index))
            yield pb.ActionResponse(action=f"step_{index}", meta=[entry])


def serve_reference(port: int) -> None:
    """Serve the reference design on ``127.0.0.1:port`` until killed (a child process)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_AgentBridgeServicer_to_server(_Reference(), server)
    if not server.add_insecure_port(f"127.0.0.1:{port}"):
        raise SystemExit(f"reference server: cannot bind 127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


# --- raw nats-py request-reply --------------------------------------------------------------

_RAW_ACK = pb.Ack(ok=True, detail="percept stored").SerializeToString()


def raw_subjects(prefix: str) -> tuple[str, str]:
    """The raw responder's percept and decide subjects under ``prefix``."""
    return f"{prefix}.raw.percept", f"{prefix}.raw.decide"


def serve_raw(url: str, prefix: str) -> None:
    """Serve raw nats-py request-reply on ``prefix`` until killed (a child process): plain
    ``cb=`` subscriptions on the default asyncio loop, percepts in a dict, the reference
    answer: the NATS hop and nothing else."""
    asyncio.run(_serve_raw(url, prefix))


async def _serve_raw(url: str, prefix: str) -> None:
    nc = await nats.connect(url, name="bench-agentbridge-raw")
    percepts: dict[str, str] = {}
    percept_subject, decide_subject = raw_subjects(prefix)

    async def on_percept(msg: Msg) -> None:
        percept = pb.Percept.FromString(msg.data)
        percepts[percept.agent] = percept.payload
        await msg.respond(_RAW_ACK)

    async def on_decide(msg: Msg) -> None:
        req = pb.ActionRequest.FromString(msg.data)
        answer = reference_answer(percepts.get(req.agent, ""), req.context)
        await msg.respond(answer.SerializeToString())

    await nc.subscribe(percept_subject, cb=on_percept)
    await nc.subscribe(decide_subject, cb=on_decide)
    await nc.flush()
    await asyncio.Event().wait()


# --- deployments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    target: str
    pids: tuple[int, ...]


async def _answers(target: str) -> bool:
    """Whether ``target`` answers a ``RequestAction`` with the policy (not a fallback)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.AgentBridgeStub(channel)
        try:
            reply = await stub.RequestAction(
                pb.ActionRequest(agent="bench-probe", context="search"), timeout=1.0
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == pb.ACTION_STATUS_OK and reply.action == "explore")


async def _wait(target: str, procs: list[int | None], log: Path, what: str) -> None:
    with anyio.move_on_after(START_TIMEOUT):
        while all(code is None for code in procs):
            if await _answers(target):
                return
            await anyio.sleep(0.1)
    raise JimbotError(f"the {what} at {target} did not start: {_last_line(log)}")


async def _copies(nc: Client, names: Names) -> int:
    """How many ``agent_decide`` instances answer the ADR-32 ``$SRV.PING``."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=0)
    try:
        await nc.publish(f"$SRV.PING.{names.service('agent_decide')}", b"", reply=inbox)
        await anyio.sleep(0.2)
        return sub.pending_msgs
    finally:
        await sub.unsubscribe()


@asynccontextmanager
async def reference_process(logs: Path) -> AsyncIterator[Deployment]:
    port = free_port()
    code = f"from ops._bench_agentbridge import serve_reference; serve_reference({port})"
    log = logs / f"agentbridge-reference-{port}.log"
    async with child([sys.executable, "-c", code], child_env("", ""), log) as proc:
        target = f"127.0.0.1:{port}"
        await _wait(target, [proc.returncode], log, "reference server")
        yield Deployment(target, (proc.pid,))


@asynccontextmanager
async def raw_process(url: str, logs: Path) -> AsyncIterator[Deployment]:
    """The raw nats-py responder; the deployment's ``target`` is its subject prefix."""
    prefix = f"benchabraw{uuid.uuid4().hex[:8]}"
    code = f"from ops._bench_agentbridge import serve_raw; serve_raw({url!r}, {prefix!r})"
    log = logs / f"agentbridge-{prefix}.log"
    async with child([sys.executable, "-c", code], child_env(url, prefix), log) as proc:
        caller = await nats.connect(url, name="bench-agentbridge-raw-probe")
        try:
            probe = pb.ActionRequest(agent="bench-probe", context="search").SerializeToString()
            with anyio.move_on_after(START_TIMEOUT):
                while proc.returncode is None:
                    try:
                        await caller.request(raw_subjects(prefix)[1], probe, timeout=1.0)
                        break
                    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                        await anyio.sleep(0.1)
            await caller.request(raw_subjects(prefix)[1], probe, timeout=1.0)
        except nats.errors.Error as exc:
            raise JimbotError(
                f"the raw nats-py responder did not start: {_last_line(log)}"
            ) from exc
        finally:
            await caller.close()
        yield Deployment(prefix, (proc.pid,))


@asynccontextmanager
async def shim_process(
    nc: Client, nats_url: str, names: Names, workers: int, logs: Path
) -> AsyncIterator[Deployment]:
    """The shim and ``workers`` decide worker processes on ``names``, answering before this
    yields; their streams and buckets are dropped afterwards."""
    port = free_port()
    target = f"127.0.0.1:{port}"
    env = child_env(nats_url, names.prefix, JIMBOT_GRPC_PORT=str(port), COMPONENT_NAME="bridge")
    async with AsyncExitStack() as stack:
        # Pushed first, so it runs last: after every process of the deployment has stopped.
        stack.push_async_callback(drop_prefix, nc.jetstream(), names)
        log = logs / f"agentbridge-{names.prefix}.log"
        shim = await stack.enter_async_context(
            child([sys.executable, "-m", "ops._child", "bridge.agentbridge"], env, log)
        )
        procs = [shim]
        for index in range(workers):
            wenv = child_env(nats_url, names.prefix, COMPONENT_NAME=f"agent_decide{index}")
            wlog = logs / f"agent-decide-{names.prefix}-{index}.log"
            argv = [sys.executable, "-m", "ops.cli", "run", "agent_decide"]
            procs.append(await stack.enter_async_context(child(argv, wenv, wlog)))
        await _wait(target, [p.returncode for p in procs], log, "AgentBridge shim")
        for _ in range(int(START_TIMEOUT / 0.1)):
            if await _copies(nc, names) >= workers:
                break
            await anyio.sleep(0.1)
        if (got := await _copies(nc, names)) < workers:
            raise JimbotError(f"{got} of {workers} agent_decide workers serve {names.prefix}")
        yield Deployment(target, tuple(p.pid for p in procs))


# --- load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    p50_us: float
    p99_us: float
    req_per_s: float
    cpu_us: float
    """Server-side CPU (every process of the deployment) per request."""


def _agent(run: str, index: int) -> tuple[str, str, str, str]:
    """Agent name, its percept, the context it asks with, and the action it must get."""
    percept = ("battery=12%", "temperature=32C", "door=open")[index % 3]
    context = "search" if index % 2 else "startup"
    return f"agent-{run}-{index}", percept, context, reference_action(percept, context)


@dataclass
class _Clients:
    """What the clients of one timed run share: the start line and what they measured."""

    ready: anyio.Semaphore = field(default_factory=lambda: anyio.Semaphore(0))
    go: anyio.Event = field(default_factory=anyio.Event)
    latencies: list[int] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def check(self, agent: str, reply: pb.ActionResponse, expected: str) -> None:
        if reply.status != pb.ACTION_STATUS_OK or reply.action != expected:
            self.wrong.append(f"{agent}: {reply.action} {reply.error_detail}".strip())


async def _timed(
    deployment: Deployment,
    shared: _Clients,
    clients: int,
    per_client: int,
    client: Callable[[int], Coroutine[Any, Any, None]],
    what: str,
) -> Figures:
    """Start ``clients`` clients, time them from when all are ready, and add up the CPU of
    every process of the deployment."""
    cpu0 = sum(cpu_seconds(pid) for pid in deployment.pids)
    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(client, index)
        for _ in range(clients):
            await shared.ready.acquire()
        started = time.perf_counter()
        shared.go.set()
    elapsed = time.perf_counter() - started
    cpu = sum(cpu_seconds(pid) for pid in deployment.pids) - cpu0
    if shared.wrong:
        raise JimbotError(f"{len(shared.wrong)} wrong answers from {what}: {shared.wrong[0]}")
    total = clients * per_client
    return Figures(
        p50_us=percentile(shared.latencies, 0.50) / 1000,
        p99_us=percentile(shared.latencies, 0.99) / 1000,
        req_per_s=total / elapsed,
        cpu_us=cpu / total * 1e6,
    )


async def drive(deployment: Deployment, clients: int, per_client: int) -> Figures:
    """``clients`` grpc.aio clients, ``per_client`` calls each, all starting together."""
    run = uuid.uuid4().hex[:8]
    shared = _Clients()

    async def client(index: int) -> None:
        agent, percept, context, expected = _agent(run, index)
        async with grpc.aio.insecure_channel(deployment.target) as channel:
            stub = pb_grpc.AgentBridgeStub(channel)
            ack = await stub.PushPercept(pb.Percept(agent=agent, payload=percept), timeout=TIMEOUT)
            if not ack.ok:
                shared.wrong.append(f"PushPercept for {agent}: {ack.detail}")
            req = pb.ActionRequest(agent=agent, context=context)
            shared.ready.release()
            await shared.go.wait()
            mine: list[int] = []
            for _ in range(per_client):
                t0 = time.perf_counter_ns()
                reply = await stub.RequestAction(req, timeout=TIMEOUT)
                mine.append(time.perf_counter_ns() - t0)
                shared.check(agent, reply, expected)
            shared.latencies.extend(mine)

    return await _timed(deployment, shared, clients, per_client, client, deployment.target)


async def drive_raw(nc: Client, deployment: Deployment, clients: int, per_client: int) -> Figures:
    """:func:`drive` for the raw responder: ``clients`` tasks doing ``nc.request`` on one
    plain nats-py connection, same bodies, same checks."""
    run = uuid.uuid4().hex[:8]
    percept_subject, decide_subject = raw_subjects(deployment.target)
    shared = _Clients()

    async def client(index: int) -> None:
        agent, percept, context, expected = _agent(run, index)
        body = pb.Percept(agent=agent, payload=percept).SerializeToString()
        ack = pb.Ack.FromString((await nc.request(percept_subject, body, timeout=TIMEOUT)).data)
        if not ack.ok:
            shared.wrong.append(f"percept for {agent}: {ack.detail}")
        req = pb.ActionRequest(agent=agent, context=context).SerializeToString()
        shared.ready.release()
        await shared.go.wait()
        mine: list[int] = []
        for _ in range(per_client):
            t0 = time.perf_counter_ns()
            msg = await nc.request(decide_subject, req, timeout=TIMEOUT)
            reply = pb.ActionResponse.FromString(msg.data)
            mine.append(time.perf_counter_ns() - t0)
            shared.check(agent, reply, expected)
        shared.latencies.extend(mine)

    return await _timed(deployment, shared, clients, per_client, client, "the raw responder")


# --- the suite ------------------------------------------------------------------------------

CASES = (("agentbridge1", "1 client"), ("agentbridgen", "{n} clients"))
TWO = "_2w"
"""Key suffix of the rows measuring the shim with two decide copies."""
VS_NATS = "_nats"
"""Key suffix of the rows putting the shim against raw nats-py request-reply (raw column)."""


def rows(clients: int) -> list[Row]:
    out: list[Row] = []
    variants = (("", ""), (TWO, ", two decide copies"), (VS_NATS, " vs raw nats-py request-reply"))
    for suffix, how in variants:
        for case, who in CASES:
            who = who.format(n=clients)
            many = case.endswith("n")
            label = f"AgentBridge RequestAction{how}, {who}"
            out += [
                Row(f"{case}{suffix}.p50_us", f"{label}, p50 µs"),
                Row(
                    f"{case}{suffix}.p99_us",
                    f"{label}, p99 µs",
                    goal_max=1.5 if many and not suffix else None,
                ),
                Row(
                    f"{case}{suffix}.req_per_s",
                    f"{label}, req/s",
                    goal_min=1.0 if many and not suffix else None,
                ),
                Row(f"{case}{suffix}.cpu_us", f"{label}, server CPU µs/req"),
            ]
    out.append(
        Row(
            "agentbridge.copy_gain",
            f"AgentBridge, {clients} clients: req/s with two decide copies / one",
            goal_min=1.8,
            absolute=True,
        )
    )
    return out


async def measure(
    url: str,
    results: Results,
    *,
    requests: int,
    clients: int,
    rounds: int,
    warmup: bool,
    logs: Path,
) -> str:
    """``rounds`` rounds over the four deployments, started once, in alternating order."""
    per_client = max(8 * requests // clients, 1)
    nc = await connect(url, name="bench-agentbridge")
    callers = await nats.connect(url, name="bench-agentbridge-raw-callers")

    async def run(which: str, n: int, count: int) -> Figures:
        if which == RAWNATS:
            return await drive_raw(callers, deployments[which], n, count)
        return await drive(deployments[which], n, count)

    try:
        async with AsyncExitStack() as stack:
            deployments = {
                REFERENCE: await stack.enter_async_context(reference_process(logs)),
                SHIM: await stack.enter_async_context(
                    shim_process(nc, url, Names(f"benchab{uuid.uuid4().hex[:8]}"), 1, logs)
                ),
                SHIM2: await stack.enter_async_context(
                    shim_process(nc, url, Names(f"benchab{uuid.uuid4().hex[:8]}"), 2, logs)
                ),
                RAWNATS: await stack.enter_async_context(raw_process(url, logs)),
            }
            if warmup:
                for which in deployments:
                    await run(which, clients, max(per_client // 10, 1))
            for index in range(rounds):
                order = [REFERENCE, SHIM, SHIM2, RAWNATS]
                order = order[index % 4 :] + order[: index % 4]
                gains: dict[str, float] = {}
                for (case, _), n, count in zip(
                    CASES, (1, clients), (requests, per_client), strict=True
                ):
                    for which in order if index % 2 == 0 else order[::-1]:
                        figures = await run(which, n, count)
                        if which == REFERENCE:
                            results.add_figures(case, RAW, figures)
                            results.add_figures(case + TWO, RAW, figures)
                        elif which == RAWNATS:
                            results.add_figures(case + VS_NATS, RAW, figures)
                        elif which == SHIM:
                            results.add_figures(case, RUNTIME, figures)
                            results.add_figures(case + VS_NATS, RUNTIME, figures)
                        else:
                            results.add_figures(case + TWO, RUNTIME, figures)
                        if n == clients:
                            gains[which] = figures.req_per_s
                results.add("agentbridge.copy_gain", RUNTIME, gains[SHIM2] / gains[SHIM])
                print(
                    f"agentbridge round {index + 1}/{rounds}: {clients} clients req/s "
                    f"reference {gains[REFERENCE]:,.0f}, shim {gains[SHIM]:,.0f}, "
                    f"two copies {gains[SHIM2]:,.0f}, raw nats-py {gains[RAWNATS]:,.0f}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await callers.close()
        await nc.close()
    return (
        "AgentBridge: `RequestAction` over gRPC (a grpc.aio channel and agent per client; one "
        "`PushPercept` each, then back-to-back calls) — the **raw nats-py** column is the "
        "reference design (sync `grpc.server`, 4 threads, dict, first-match policy, its own "
        "process), **runtime** is `python -m bridge.agentbridge` + `agent_decide` worker "
        "process(es) on this nats-server (gRPC → NATS → handler → KV → back); the rows marked "
        "*two decide copies* run two worker processes; in the rows marked *vs raw nats-py "
        "request-reply* the raw column is a plain nats-py `cb=` responder process answering the "
        "same `ActionResponse` from a dict, called with `nc.request` by as many concurrent "
        "callers on one connection (the NATS hop alone, no gRPC), against the same shim "
        f"figures. {requests:,} calls with 1 client, "
        f"{per_client:,} per client with {clients}; every answer checked; server CPU sums "
        f"every process of the deployment; median of {rounds}."
    )
