"""``just bench``: the handler runtime against raw nats-py, on one embedded nats-server.

    python -m ops.bench [--quick] [--rounds N] [--messages N] [--requests N] [--json PATH]

One run starts one ``nats-server`` (temporary store, loopback) and measures, on it:

1. JetStream consume (fetch + process + ack), messages/s: a plain ``fetch(batch)`` +
   ``ack()`` loop against a :class:`handlers.Consumer` run by a :class:`handlers.Worker`.
2. Request-reply p50/p99 latency and throughput with 1 and with many concurrent callers: a
   ``cb=`` responder called with ``nc.request`` against a :class:`handlers.Endpoint` called
   with :func:`handlers.request`, and the same endpoint called with plain ``nc.request``.

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
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ops._bench_consume import consume_raw, consume_runtime
from ops._bench_report import RAW, RUNTIME, Results, Row, load_average, machine, render
from ops._bench_rpc import RpcFigures, rpc_raw, rpc_runtime
from ops.natsserver import NatsServer
from schemas import JimbotError
from subjects import Names

if TYPE_CHECKING:
    from collections.abc import Sequence


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


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m ops.bench",
        description="The handler runtime against raw nats-py on one embedded nats-server.",
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
    )
    for name in ("rounds", "messages", "requests", "callers", "concurrency"):
        if getattr(opts, name) < 1:
            parser.error(f"--{name} must be >= 1")
    return opts


def _rows(opts: Options) -> list[Row]:
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
    return rows


def _fresh() -> Names:
    return Names(f"bench{uuid.uuid4().hex[:10]}")


def _order(index: int) -> tuple[str, str]:
    """Raw first on even rounds, the runtime first on odd ones, so drift hits both sides."""
    return (RAW, RUNTIME) if index % 2 == 0 else (RUNTIME, RAW)


def _record_rpc(results: Results | None, case: str, side: str, figures: RpcFigures) -> None:
    if results is not None:
        for name in ("p50_us", "p99_us", "req_per_s", "cpu_us"):
            results.add(f"{case}.{name}", side, getattr(figures, name))


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


async def measure(url: str, opts: Options) -> Results:
    """Warm up, then run ``opts.rounds`` rounds against the server at ``url``."""
    results = Results(_rows(opts))
    if opts.warmup:
        await _round(url, opts, 0, None)
    for index in range(opts.rounds):
        await _round(url, opts, index, results)
        _progress(results, index, opts.rounds)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        host = machine()
        with tempfile.TemporaryDirectory(prefix="jimbot-bench-") as store:
            with NatsServer(store_dir=Path(store), monitor_port=0) as server:
                results = anyio.run(measure, server.url, opts)
        host["load_after"] = load_average()
    except JimbotError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    summary = (
        f"Median of {opts.rounds} round(s), sides alternating; {opts.messages:,} messages of "
        f"100 B per consume run; {opts.requests:,} requests with 1 caller and "
        f"{4 * opts.requests:,} with {opts.callers} callers; 100 B bodies."
    )
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
            },
            "results": results.as_json(),
        }
        opts.json_path.write_bytes(msgspec.json.format(msgspec.json.encode(doc)) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
