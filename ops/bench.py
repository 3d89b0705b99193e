"""``just bench``: jimbot against raw nats-py, on one embedded nats-server.

    python -m ops.bench [--suite NAME|all] [--quick]
        [--rounds N] [--messages N] [--requests N] [--games N] [--in-flight N] [--json PATH]

NAME is one of the suites below. One run starts one ``nats-server`` (temporary store,
loopback) and measures, on it, the selected suites (all by default):

- ``runtime``: JetStream consume (fetch + process + ack), messages/s, a plain ``fetch(batch)``
  + ``ack()`` loop against a :class:`handlers.Consumer` run by a :class:`handlers.Worker`;
  request-reply p50/p99 latency and throughput with 1 and with many concurrent callers, a
  ``cb=`` responder called with ``nc.request`` against a :class:`handlers.Endpoint` called
  with :func:`handlers.request`, and the same endpoint called with plain ``nc.request``; and
  what the circuit breaker guarding every request costs (``ops._bench_breaker``).
- ``gateway``: ``POST /api/v1/events/batch`` through a gateway process, 50-event mod batches
  at the mod's rate (p50/p99) and at saturation (events/s), against raw ``publish_async`` of
  the same messages (``ops._bench_gateway``).
- ``decision``: the decision service against raw echo request-reply (``ops._bench_decision``).
- ``games``: simulated games/hour end to end through a gateway process and a worker process
  (``ops._bench_games``).
- ``agentbridge``: the Jason bridge's ``RequestAction`` through the gRPC shim and one or two
  ``agent_decide`` worker processes, against the seed's reference grpcio server
  (``ops._bench_agentbridge``).
- ``knowledge``: the spec's GraphQL ``JokerSynergies`` query on ``rpc.knowledge.query`` against
  raw echo request-reply (``ops._bench_knowledge``).
- ``resources``: resource requests to two coordinator copies under contention, against raw
  echo request-reply (``ops._bench_resources``).
- ``analytics``: ingest of events into the DuckDB/Parquet store against a raw ``fetch`` + ``ack``
  loop, and ad hoc query times over a million stored events (``ops._bench_analytics``).

Every run of every side gets a fresh prefix (its own stream, subjects and durable). The
sides alternate which goes first each round, after a short warm-up; the table shows the
median of the rounds. It also shows this process's CPU time per message, which a busy
machine disturbs far less than wall-clock rates.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio
import msgspec

from handlers import tune_gc
from ops import (
    _bench_agentbridge,
    _bench_analytics,
    _bench_breaker,
    _bench_decision,
    _bench_games,
    _bench_gateway,
    _bench_knowledge,
    _bench_resources,
)
from ops._bench_consume import consume_raw, consume_runtime
from ops._bench_report import RAW, RUNTIME, Results, Row, load_average, machine, render
from ops._bench_rpc import RpcFigures, rpc_raw, rpc_runtime
from ops.natsserver import NatsServer
from schemas import JimbotError
from subjects import Names

if TYPE_CHECKING:
    from collections.abc import Sequence


class RequestSuite(Protocol):
    """A bench module measuring one request-reply service (``ops._bench_decision`` and kin)."""

    async def measure(
        self,
        url: str,
        results: Results,
        *,
        requests: int,
        callers: int,
        rounds: int,
        warmup: bool,
    ) -> str: ...


SUITES = (
    "runtime",
    "gateway",
    "decision",
    "games",
    "agentbridge",
    "knowledge",
    "resources",
    "analytics",
)


@dataclass(frozen=True, kw_only=True)
class Options:
    """What one bench run does (see ``--help``)."""

    rounds: int
    messages: int
    requests: int
    callers: int
    concurrency: int
    warmup: bool
    json_path: Path | None
    command: str
    suites: tuple[str, ...] = SUITES
    batches: int = 200
    """Gateway batches at the mod's rate (one per 100 ms)."""
    seconds: float = 3.0
    """Seconds per side of a gateway saturation round."""
    clients: int = 4
    """HTTP clients saturating the gateway."""
    games: int = 160
    in_flight: int = 32
    stored: int = 1_000_000
    """Events in the analytics store the query timings run over."""


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m ops.bench",
        description="jimbot against raw nats-py on one embedded nats-server: the handler "
        "runtime, the HTTP gateway, the decision service and simulated games end to end.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, one round (CI)")
    parser.add_argument("--rounds", type=int, help="rounds per side; medians are shown (5)")
    parser.add_argument("--messages", type=int, help="messages per consume run (20000)")
    parser.add_argument(
        "--requests", type=int, help="requests with 1 caller (5000); 4x that with many callers"
    )
    parser.add_argument("--callers", type=int, default=50, help="concurrent callers (50)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="consumer concurrency = raw fetch batch (16)"
    )
    parser.add_argument(
        "--suite", choices=(*SUITES, "all"), default="all", help="what to measure (all)"
    )
    parser.add_argument("--games", type=int, help="simulated games end to end (160)")
    parser.add_argument("--in-flight", type=int, help="simulated games in flight (32)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    ns = parser.parse_args(argv)
    quick = bool(ns.quick)
    opts = Options(
        rounds=ns.rounds or (1 if quick else 5),
        messages=ns.messages or (2000 if quick else 20_000),
        requests=ns.requests or (500 if quick else 5000),
        callers=ns.callers,
        concurrency=ns.concurrency,
        warmup=not quick,
        json_path=ns.json,
        command=shlex.join(["python", "-m", "ops.bench", *argv]),
        suites=SUITES if ns.suite == "all" else (ns.suite,),
        batches=20 if quick else 200,
        seconds=0.5 if quick else 3.0,
        games=(2 if quick else 160) if ns.games is None else ns.games,
        in_flight=(2 if quick else 32) if ns.in_flight is None else ns.in_flight,
        stored=20_000 if quick else 1_000_000,
    )
    for name in ("rounds", "messages", "requests", "callers", "concurrency", "games", "in_flight"):
        if getattr(opts, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return opts


def _rows(opts: Options) -> list[Row]:
    rows = _runtime_rows(opts) if "runtime" in opts.suites else []
    if "gateway" in opts.suites:
        rows += _bench_gateway.rows(opts.clients)
    if "decision" in opts.suites:
        rows += _bench_decision.rows(opts.callers)
    if "games" in opts.suites:
        rows += _bench_games.rows(opts.in_flight)
    if "agentbridge" in opts.suites:
        rows += _bench_agentbridge.rows(opts.callers)
    if "knowledge" in opts.suites:
        rows += _bench_knowledge.rows(opts.callers)
    if "resources" in opts.suites:
        rows += _bench_resources.rows(opts.callers)
    if "analytics" in opts.suites:
        rows += _bench_analytics.rows(opts.stored)
    return rows


def _runtime_rows(opts: Options) -> list[Row]:
    rows = [
        Row("consume.msgs_per_s", f"JetStream consume, msg/s (batch {opts.concurrency})", 0.8),
        Row("consume.cpu_us", "JetStream consume, CPU µs/msg"),
    ]
    for case, who in (("rpc1", "1 caller"), ("rpcn", f"{opts.callers} callers")):
        rows += [
            Row(f"{case}.p50_us", f"request-reply, {who}, p50 µs"),
            Row(f"{case}.p99_us", f"request-reply, {who}, p99 µs", goal_max=1.5),
            Row(f"{case}.req_per_s", f"request-reply, {who}, req/s"),
            Row(f"{case}.cpu_us", f"request-reply, {who}, CPU µs/req"),
        ]
    return rows + _bench_breaker.rows()


def _fresh() -> Names:
    return Names(f"bench{uuid.uuid4().hex[:10]}")


def _order(index: int) -> tuple[str, str]:
    """Raw first on even rounds, the runtime first on odd ones, so drift hits both sides."""
    return (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW)


def _record_rpc(results: Results | None, case: str, side: str, figures: RpcFigures) -> None:
    if results is not None:
        results.add_figures(case, side, figures)


async def _round(url: str, opts: Options, index: int, results: Results | None) -> None:
    """One round of every case; a warm-up (a tenth of the counts) when ``results`` is None."""
    scale = 1 if results is not None else 10
    messages, requests = max(opts.messages // scale, 1), max(opts.requests // scale, 1)
    for side in _order(index):
        run = consume_raw if side == RAW else consume_runtime
        figures = await run(url, _fresh(), messages, opts.concurrency)
        if results is not None:
            results.add("consume.msgs_per_s", side, figures.msgs_per_s)
            results.add("consume.cpu_us", side, figures.cpu_us)
    for case, callers, total in (("rpc1", 1, requests), ("rpcn", opts.callers, 4 * requests)):
        for side in _order(index):
            if side == RAW:
                _record_rpc(results, case, RAW, await rpc_raw(url, _fresh(), total, callers))
                continue
            for kind, rpc in (await rpc_runtime(url, _fresh(), total, callers)).items():
                _record_rpc(results, case, kind, rpc)


def _progress(results: Results, index: int, rounds: int) -> None:
    def last(key: str, side: str) -> str:
        return f"{results.values[key, side][-1]:,.0f}"

    print(
        f"round {index + 1}/{rounds}: consume {last('consume.msgs_per_s', RAW)} raw / "
        f"{last('consume.msgs_per_s', RUNTIME)} runtime msg/s; p99 µs 1 caller "
        f"{last('rpc1.p99_us', RAW)} / {last('rpc1.p99_us', RUNTIME)}, many callers "
        f"{last('rpcn.p99_us', RAW)} / {last('rpcn.p99_us', RUNTIME)}",
        file=sys.stderr,
        flush=True,
    )


async def _request_suite(
    url: str, opts: Options, results: Results, name: str, suite: RequestSuite
) -> str:
    """A request-reply service against raw echo: a fifth of ``--requests`` per caller count."""
    summary = await suite.measure(
        url,
        results,
        requests=max(opts.requests // 5, 1),
        callers=opts.callers,
        rounds=opts.rounds,
        warmup=opts.warmup,
    )
    print(f"{name}: done", file=sys.stderr, flush=True)
    return summary


async def measure(
    url: str, opts: Options, *, logs: Path, nats_pid: int | None = None
) -> tuple[Results, list[str]]:
    """Run the selected suites against the server at ``url``; the results and summaries."""
    results, summaries = Results(_rows(opts)), []
    if "runtime" in opts.suites:
        if opts.warmup:
            await _round(url, opts, 0, None)
        for index in range(opts.rounds):
            await _round(url, opts, index, results)
            _progress(results, index, opts.rounds)
        summaries.append(
            await _bench_breaker.measure(
                url, results, requests=opts.requests, rounds=opts.rounds, warmup=opts.warmup
            )
        )
        summaries.append(
            f"Runtime: median of {opts.rounds} round(s), sides alternating; {opts.messages:,} "
            f"messages of 100 B per consume run; {opts.requests:,} requests with 1 caller and "
            f"{4 * opts.requests:,} with {opts.callers} callers; 100 B bodies."
        )
    if "gateway" in opts.suites:
        summary = await _bench_gateway.measure(
            url,
            results,
            batches=opts.batches,
            seconds=opts.seconds,
            clients=opts.clients,
            rounds=opts.rounds,
            logs=logs,
        )
        summaries.append(summary)
        print("gateway: done", file=sys.stderr, flush=True)
    if "decision" in opts.suites:
        summaries.append(await _request_suite(url, opts, results, "decision", _bench_decision))
    if "games" in opts.suites:
        summary = await _bench_games.measure(
            url,
            results,
            games=opts.games,
            in_flight=opts.in_flight,
            warmup=opts.in_flight // 4 if opts.warmup else 0,
            nats_pid=nats_pid,
            logs=logs,
        )
        summaries.append(summary)
    if "agentbridge" in opts.suites:
        summary = await _bench_agentbridge.measure(
            url,
            results,
            requests=max(opts.requests // 10, 1),
            clients=opts.callers,
            rounds=opts.rounds,
            warmup=opts.warmup,
            logs=logs,
        )
        summaries.append(summary)
        print("agentbridge: done", file=sys.stderr, flush=True)
    for name, suite in (("knowledge", _bench_knowledge), ("resources", _bench_resources)):
        if name in opts.suites:
            summaries.append(await _request_suite(url, opts, results, name, suite))
    if "analytics" in opts.suites:
        summary = await _bench_analytics.measure(
            url,
            results,
            events=opts.messages,
            stored=opts.stored,
            rounds=opts.rounds,
            warmup=opts.warmup,
            work=logs,
        )
        summaries.append(summary)
        print("analytics: done", file=sys.stderr, flush=True)
    return results, summaries


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        host = machine()
        with tempfile.TemporaryDirectory(prefix="jimbot-bench-") as store:
            server = NatsServer(
                store_dir=Path(store) / "nats", monitor_port=0, die_with_parent=True
            )
            with server:
                results, summaries = anyio.run(
                    partial(measure, server.url, opts, logs=Path(store), nats_pid=server.pid)
                )
        host["load_after"] = load_average()
    except JimbotError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    summary = "\n\n".join(summaries)
    print(render(results, command=opts.command, host=host, summary=summary))
    if opts.json_path is not None:
        doc = {
            "command": opts.command,
            "machine": host,
            "params": {
                "rounds": opts.rounds,
                "messages": opts.messages,
                "requests": opts.requests,
                "callers": opts.callers,
                "concurrency": opts.concurrency,
                "suites": list(opts.suites),
                "batches": opts.batches,
                "seconds": opts.seconds,
                "clients": opts.clients,
                "games": opts.games,
                "in_flight": opts.in_flight,
            },
            "results": results.as_json(),
        }
        opts.json_path.write_bytes(msgspec.json.format(msgspec.json.encode(doc)) + b"\n")
    return 0


if __name__ == "__main__":
    tune_gc()  # as every service process does (handlers/_runtime/_loop.py); raw sides too
    sys.exit(main())
