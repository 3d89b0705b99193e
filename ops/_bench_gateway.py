"""Bench suite ``gateway``: ``POST /api/v1/events/batch`` through a real gateway process.

The gateway runs as its own process (``python -m bridge.gateway``, uvicorn) on the bench's
nats-server; the bench talks to it over one keep-alive HTTP connection per client (httpx).
Bodies are real 50-event mod batches (:class:`ModBatches`): a GAME_STATE with the full deck,
change events (also nested in the last GAME_STATE's ``changes``, with the same ids), SCORING
and JOKER_TRIGGER events, in the mod's own JSON; every batch gets new event ids.

The raw side publishes the very messages the gateway would (subjects, headers, protobuf
bodies, in-batch duplicates), encoded before the clock starts, with ``js.publish_async`` to
the same stream, and awaits every ack.

- **rate**: one batch every 100 ms (the mod's rate), gateway and raw interleaved 50 ms apart,
  so both see the same machine; latency per batch, p50 and p99.
- **saturation**: several HTTP clients posting back to back, against one raw publisher
  pipelining ``publish_async`` (up to nats-py's pending-ack window); mod events per second.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any, cast

import anyio
import httpx
import msgspec

from bridge.gateway._ingest import Ingestor
from handlers import connect
from ops._bench_consume import drop_prefix
from ops._bench_games import gateway_process
from ops._bench_report import RAW, RUNTIME, Row, cpu_seconds, percentile
from ops.ports import free_port
from ops.sim import autopilot
from ops.sim.extract import StateExtractor, detect_changes, new_event, scoring_events
from ops.sim.luajson import LuaEncoder
from ops.sim.rules import Game
from ops.sim.transport import MOD_HEADERS
from schemas import JimbotError, decode_batch
from subjects import Names

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from ops._bench_report import Results
    from ops.sim.extract import Event

ID_TAG = "ffffffff-ffff-4fff-8fff-"
"""Every id in a template batch starts with this; each batch replaces it with its own."""
BATCH_PATH = "/api/v1/events/batch"
MOD_INTERVAL = 0.1
Message = tuple[str, bytes, dict[str, str]]


class ModBatches:
    """A realistic 50-event batch of the mod's JSON, with fresh ids on every :meth:`next`."""

    def __init__(self, seed: int = 7, size: int = 50) -> None:
        events = _scoring_burst(seed, size)
        for i, event in enumerate(events, 1):
            event["event_id"] = f"{ID_TAG}{i:012x}"
            event["timestamp"] = 45_000.25 + i * 1.5  # ms since the game started, a float
            event["version"] = 1
        batch = {
            "batch_id": f"{ID_TAG}{0:012x}",
            "events": events,
            "source": "BalatroMCP",
            "timestamp": 1_700_000_000_000,
        }
        self.size = size
        self.template = LuaEncoder(Random(seed)).encode(batch)
        self.bytes = len(self.template)
        self.game_states = sum(e["type"] == "GAME_STATE" for e in events)
        self.scoring = sum(e["type"] in ("SCORING", "JOKER_TRIGGER") for e in events)
        self.changes = size - self.game_states - self.scoring

    def next(self) -> bytes:
        """The template batch with a new ``batch_id`` and new event ids."""
        return self.template.replace(ID_TAG, str(uuid.uuid4())[:24]).encode()

    def messages(self, names: Names) -> list[Message]:
        """What the gateway publishes for one batch (events, nested changes), encoded."""
        batch = decode_batch(self.template.encode())
        planner = Ingestor(cast("Client", None), names)  # plan() never touches the connection
        return [(m.subject, m.body, m.headers) for m in planner.plan(batch.results, batch)]


def _scoring_burst(seed: int, size: int) -> list[Event]:
    """A scoring burst as the mod batches it: a GAME_STATE, hands played with their SCORING,
    JOKER_TRIGGER and change events, then the next GAME_STATE carrying the changes."""
    game = Game(seed)
    while not (game.phase == "SELECTING_HAND" and len(game.jokers) >= 3):
        for line in autopilot.decide(game) or _over(seed):
            game.apply(line)
    extractor, frame = StateExtractor(game), 48_000

    def payload() -> dict[str, Any]:
        nonlocal frame
        frame += 30
        return extractor.payload(frame=frame, epoch=1_700_000_000)

    prev = payload()
    events: list[Event] = [new_event("GAME_STATE", prev, changes=[])]
    while True:
        scoring: list[Event] = []
        for line in autopilot.decide(game) or _over(seed):
            start, hand = game.round_score, game.hands_played
            scored = game.apply(line).scored
            if scored is not None:
                scoring += scoring_events(
                    game, scored, start=start, hand_number=hand, now_ms=46_000.5, context=True
                )
        current = payload()
        changes = detect_changes(prev, current)
        prev = current
        room = size - 1 - len(events)
        if len(scoring) + len(changes) >= room:
            # The last step: its changes whole (and again in the closing GAME_STATE, as the
            # mod sends them), then as many scoring events as fit before them.
            changes = changes[:room]
            events += scoring[: room - len(changes)] + changes
            return [*events, new_event("GAME_STATE", current, changes=changes)]
        events += scoring + changes


def _over(seed: int) -> list[str]:
    raise JimbotError(f"simulated game {seed} ended before its scoring burst filled a batch")


def mod_client(connections: int = 1) -> httpx.AsyncClient:
    """A keep-alive client sending the mod's headers."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    http = httpx.AsyncClient(limits=limits, headers=MOD_HEADERS, timeout=10)
    del http.headers["Accept-Encoding"]
    return http


async def post_batch(http: httpx.AsyncClient, url: str, body: bytes) -> None:
    """One batch; anything but 200 with every event kept is a failed bench."""
    try:
        reply = await http.post(url, content=body)
    except httpx.HTTPError as exc:
        raise JimbotError(f"the gateway did not answer a batch: {exc!r}") from exc
    if reply.status_code != 200:
        raise JimbotError(f"the gateway answered {reply.status_code}: {reply.text[:200]}")
    report = msgspec.json.decode(reply.content)
    if report.get("dead_lettered"):
        raise JimbotError(f"the gateway dead-lettered {report['dead_lettered'][:1]}")


async def publish_raw(js: JetStreamContext, messages: list[Message], tag: str) -> None:
    """Publish one batch's messages pipelined and await every ack (new ids under ``tag``)."""
    futures = []
    for subject, body, headers in messages:
        hdrs = {**headers, "Nats-Msg-Id": headers["Nats-Msg-Id"].replace(ID_TAG, tag)}
        futures.append(await js.publish_async(subject, body, headers=hdrs))
    for future in futures:
        await future


async def rate(
    nc: Client, gateway: str, mod: ModBatches, names: Names, batches: int
) -> dict[str, list[float]]:
    """``batches`` ticks 100 ms apart: a gateway batch at each tick, a raw one 50 ms later."""
    js, messages = nc.jetstream(), mod.messages(names)
    out: dict[str, list[float]] = {"raw": [], "runtime": []}
    url = gateway + BATCH_PATH
    async with mod_client() as http:
        await post_batch(http, url, mod.next())  # connect before the clock
        start = anyio.current_time() + MOD_INTERVAL
        for i in range(batches):
            body, tag = mod.next(), str(uuid.uuid4())[:24]
            for side, offset in (("runtime", 0.0), ("raw", MOD_INTERVAL / 2)):
                await anyio.sleep(
                    max(0.0, start + i * MOD_INTERVAL + offset - anyio.current_time())
                )
                t0 = time.perf_counter()
                if side == "runtime":
                    await post_batch(http, url, body)
                else:
                    await publish_raw(js, messages, tag)
                out[side].append((time.perf_counter() - t0) * 1000)
    return out


async def saturate_gateway(
    gateway: str, mod: ModBatches, clients: int, seconds: float
) -> tuple[float, int]:
    """Mod events per second with ``clients`` posting back to back; and the batches sent."""
    url, sent = gateway + BATCH_PATH, [0]
    async with mod_client(clients) as http:

        async def client(until: float) -> None:
            while anyio.current_time() < until:
                await post_batch(http, url, mod.next())
                sent[0] += 1

        for _ in range(clients):  # open every connection before the clock
            await post_batch(http, url, mod.next())
        t0 = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(client, t0 + seconds)
        elapsed = anyio.current_time() - t0
    return sent[0] * mod.size / elapsed, sent[0]


async def saturate_raw(nc: Client, mod: ModBatches, names: Names, seconds: float) -> float:
    """Mod events per second of one publisher pipelining every batch's messages."""
    js, messages = nc.jetstream(), mod.messages(names)
    sent, t0 = 0, anyio.current_time()
    while anyio.current_time() < t0 + seconds:
        tag = str(uuid.uuid4())[:24]
        for subject, body, headers in messages:
            hdrs = {**headers, "Nats-Msg-Id": headers["Nats-Msg-Id"].replace(ID_TAG, tag)}
            await js.publish_async(subject, body, headers=hdrs)
        sent += 1
    await js.publish_async_completed()
    return sent * mod.size / (anyio.current_time() - t0)


def rows(clients: int) -> list[Row]:
    batch = "gateway, 50-event batch every 100 ms"
    return [
        Row("gateway.rate_p50_ms", f"{batch}, p50 ms"),
        Row("gateway.rate_p99_ms", f"{batch}, p99 ms", goal_max=16.0, absolute=True),
        Row(
            "gateway.events_per_s",
            f"gateway saturated by {clients} HTTP clients, events/s",
            goal_min=0.5,
        ),
        Row("gateway.cpu_us", "gateway saturated, gateway process CPU µs/event"),
        Row(
            "gateway.events_per_s_2w",
            f"gateway, 2 workers on one port (JIMBOT_HTTP_WORKERS=2), saturated by {clients} "
            "HTTP clients, events/s",
            goal_min=0.5,
        ),
        Row("gateway.cpu_us_2w", "gateway, 2 workers, saturated, CPU µs/event (both)"),
    ]


async def measure(
    url: str,
    results: Results,
    *,
    batches: int,
    seconds: float,
    clients: int,
    rounds: int,
    logs: Path,
) -> str:
    """The rate case, then ``rounds`` saturation rounds; returns the summary sentence."""
    mod, names = ModBatches(), Names(f"benchw{uuid.uuid4().hex[:10]}")
    nc = await connect(url, name="bench-gateway-raw")
    try:
        async with gateway_process(url, names.prefix, logs) as gateway:
            for side, values in (await rate(nc, gateway.base_url, mod, names, batches)).items():
                results.add("gateway.rate_p50_ms", side, percentile(values, 0.50))
                results.add("gateway.rate_p99_ms", side, percentile(values, 0.99))
            saturation = Saturation(nc, mod, names, results, seconds, clients)
            await saturation.rounds(rounds, gateway.base_url, [gateway.pid], "")
        port = free_port()  # two workers sharing one port (JIMBOT_HTTP_WORKERS=2)
        async with (
            gateway_process(url, names.prefix, logs, port=port, workers=2) as one,
            gateway_process(url, names.prefix, logs, port=port, workers=2) as two,
        ):
            # Warm both up first, as the rate case did for the single gateway.
            await saturate_gateway(one.base_url, mod, clients, seconds)
            await saturation.rounds(rounds, one.base_url, [one.pid, two.pid], "_2w")
        await drop_prefix(nc.jetstream(), names)
    finally:
        await nc.close()
    return (
        f"Gateway: a real gateway process over keep-alive HTTP (and two sharing one port, "
        f"each client's connection going to one of them); {mod.size}-event mod batches "
        f"({mod.bytes:,} B of the mod's JSON: {mod.game_states} GAME_STATE with the full deck, "
        f"{mod.changes} change events, {mod.scoring} SCORING / JOKER_TRIGGER; new ids every "
        f"batch). Rate: {batches} batches 100 ms apart, raw interleaved 50 ms later. "
        f"Saturation: {seconds:g} s per side, median of {rounds}; raw pipelines the "
        f"{len(mod.messages(names))} messages the gateway publishes per batch, pre-encoded."
    )


@dataclass
class Saturation:
    """Saturation rounds: the gateway (one or more workers) and raw, alternating first."""

    nc: Client
    mod: ModBatches
    names: Names
    results: Results
    seconds: float
    clients: int

    async def rounds(self, rounds: int, base_url: str, pids: list[int], suffix: str) -> None:
        """Record ``gateway.events_per_s<suffix>`` (both sides) and ``gateway.cpu_us<suffix>``,
        the CPU of every process in ``pids``."""
        events_row, cpu_row = f"gateway.events_per_s{suffix}", f"gateway.cpu_us{suffix}"
        for index in range(rounds):
            for side in (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW):
                if side == RAW:
                    raw = await saturate_raw(self.nc, self.mod, self.names, self.seconds)
                    self.results.add(events_row, RAW, raw)
                    continue
                cpu = sum(cpu_seconds(pid) for pid in pids)
                events_per_s, sent = await saturate_gateway(
                    base_url, self.mod, self.clients, self.seconds
                )
                cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
                self.results.add(events_row, RUNTIME, events_per_s)
                self.results.add(cpu_row, RUNTIME, cpu / (sent * self.mod.size) * 1e6)
