"""Bench suite ``decision``: the decision service against raw nats-py echo request-reply.

The request is the one the game director sends for a real simulated state: a SELECTING_HAND
GAME_STATE (eight cards in hand, jokers, the full deck) that went through the gateway's
decoding (the mod's JSON → ``GameStateEvent``), with the director's available actions and
time limit. Three pairings on fresh prefixes, as in the request-reply case of the runtime
suite, all with the same body bytes:

- ``raw``: a plain ``nc.subscribe(cb=...)`` answering ``msg.respond(msg.data)``, called with
  ``nc.request``;
- ``runtime``: ``handlers.decision.endpoint`` served by a :class:`handlers.Worker`, called with
  :func:`handlers.request` (typed, deadline header), as the game director calls it;
- ``runtime_server``: the same endpoint called with plain ``nc.request``.

The policy alone (called in a loop, no NATS) is timed too: it tells the heuristic's cost from
the service's.
"""

from __future__ import annotations

import time
import uuid
from random import Random
from typing import TYPE_CHECKING

import anyio

import subjects
from handlers import Settings, Worker, connect, request
from handlers.decision import endpoint as decision
from handlers.policies import DEFAULT_POLICY, POLICY_ENV, load_policy
from ops._bench_consume import drop_prefix
from ops._bench_report import RAW, RUNTIME, Row
from ops._bench_rpc import TIMEOUT, RpcFigures, _drive, echo_raw, time_calls
from ops.sim import autopilot
from ops.sim.extract import StateExtractor, new_event
from ops.sim.luajson import LuaEncoder
from ops.sim.rules import Game
from schemas import JimbotError, decode_event, event_to_proto, events_pb2, unpack_payload
from subjects import Names

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ops._bench_report import Results

ACTIONS = ["play_hand", "discard"]
"""What the game director offers in SELECTING_HAND."""


def decision_request(seed: int = 7, jokers: int = 3) -> events_pb2.LearningDecisionRequest:
    """The director's request for a simulated SELECTING_HAND state holding ``jokers`` jokers."""
    game = Game(seed)
    while not (game.phase == "SELECTING_HAND" and len(game.jokers) >= jokers):
        if game.phase == "GAME_OVER":
            raise JimbotError(f"seed {seed} loses before it holds {jokers} jokers")
        for line in autopilot.decide(game):
            game.apply(line)
    payload = StateExtractor(game).payload(frame=48_213, epoch=1_700_000_123)
    event = new_event("GAME_STATE", payload, event_id="bench-state", version=1, timestamp=4.5e4)
    decoded = decode_event(LuaEncoder(Random(seed)).encode(event).encode())
    state = unpack_payload(event_to_proto(decoded, received_at=time.time()))
    if not isinstance(state, events_pb2.GameStateEvent) or len(state.hand) != 8:
        raise JimbotError("the simulated state did not decode to eight cards in hand")
    return events_pb2.LearningDecisionRequest(
        request_id="bench-state", game_state=state, available_actions=ACTIONS, time_limit_ms=100
    )


def policy_alone(req: events_pb2.LearningDecisionRequest, total: int) -> RpcFigures:
    """The configured policy called ``total`` times in this process: its own cost."""
    policy = load_policy()
    return time_calls(lambda: policy(req), total)


async def decision_service(
    url: str, names: Names, req: events_pb2.LearningDecisionRequest, total: int, callers: int
) -> dict[str, RpcFigures]:
    """``handlers.decision.endpoint`` in a worker, called typed and then with plain requests."""
    server = await connect(url, name="bench-decision-server")
    client = await connect(url, name="bench-decision-client")
    subject = names.subject(subjects.RPC_DECISION_GET)
    body = req.SerializeToString()
    settings = Settings(nats_url=url, prefix=names.prefix, component_name="bench", metrics_port=0)
    worker = Worker([decision], settings=settings, nc=server)

    async def typed() -> events_pb2.LearningDecisionResponse:
        return await request(
            client, subject, req, events_pb2.LearningDecisionResponse, timeout=TIMEOUT
        )

    async def plain() -> Msg:
        reply = await client.request(subject, body, timeout=TIMEOUT)
        if reply.headers and "Nats-Service-Error" in reply.headers:
            raise JimbotError(f"the decision service failed: {reply.headers}")
        return reply

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await server.flush()
            out = {
                "runtime": await _drive(typed, total, callers),
                "runtime_server": await _drive(plain, total, callers),
            }
            worker.stop()
        await drop_prefix(server.jetstream(), names)  # the worker provisioned them
        return out
    finally:
        await client.close()
        await server.close()


def rows(callers: int) -> list[Row]:
    out: list[Row] = []
    for case, who in (("decision1", "1 caller"), ("decisionn", f"{callers} callers")):
        out += [
            Row(f"{case}.p50_us", f"decision service, {who}, p50 µs"),
            Row(f"{case}.p99_us", f"decision service, {who}, p99 µs", goal_max=2.0),
            Row(f"{case}.req_per_s", f"decision service, {who}, req/s"),
            Row(f"{case}.cpu_us", f"decision service, {who}, CPU µs/req"),
        ]
    out += [
        Row("policy.p50_us", "decision policy alone (no NATS), p50 µs"),
        Row("policy.p99_us", "decision policy alone (no NATS), p99 µs"),
    ]
    return out


async def measure(
    url: str, results: Results, *, requests: int, callers: int, rounds: int, warmup: bool
) -> str:
    """``rounds`` rounds, raw and the service alternating which goes first."""
    req = decision_request()
    body = req.SerializeToString()
    policy = policy_alone(req, requests)
    results.add("policy.p50_us", RUNTIME, policy.p50_us)
    results.add("policy.p99_us", RUNTIME, policy.p99_us)

    def fresh() -> Names:
        return Names(f"benchd{uuid.uuid4().hex[:10]}")

    if warmup:
        await echo_raw(
            url, fresh().subject(subjects.RPC_DECISION_GET), [body], max(requests // 10, 1), 1
        )
        await decision_service(url, fresh(), req, max(requests // 10, 1), 1)
    for index in range(rounds):
        for case, n, total in (("decision1", 1, requests), ("decisionn", callers, 4 * requests)):
            for side in (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW):
                if side == RAW:
                    results.add_figures(
                        case,
                        RAW,
                        await echo_raw(
                            url, fresh().subject(subjects.RPC_DECISION_GET), [body], total, n
                        ),
                    )
                    continue
                for kind, figures in (await decision_service(url, fresh(), req, total, n)).items():
                    results.add_figures(case, kind, figures)
    state = req.game_state
    return (
        f"Decision: `handlers.decision.endpoint` (policy `{DEFAULT_POLICY}` unless "
        f"`{POLICY_ENV}` says otherwise) in a worker vs a raw echo responder, same "
        f"{len(body):,} B body: the director's request for a simulated SELECTING_HAND state "
        f"({len(state.hand)} cards in hand, {len(state.jokers)} jokers, {len(state.deck)}-card "
        f"deck); {requests:,} requests with 1 caller, {4 * requests:,} with {callers}, "
        f"median of {rounds}."
    )
