"""The ``jimbot`` command: run, inspect and repair the service set.

Every failure we can foresee prints one line on stderr that names the fix, and exits 1: the
top-level group translates jimbot's own errors and nats-py's connection errors once, here,
so no command shows a traceback for an operational problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from functools import partial
from typing import Any

import anyio
import click
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

import handlers
import schemas
import subjects
from ops._child import exit_when_orphaned
from ops._console import fail, run_async
from ops._dlq_cli import dlq
from ops._query import query
from ops._up import run_up
from ops.config import load_settings, names_of, open_bus
from schemas import JimbotError, SchemaDecodeError


def _explain(exc: Exception) -> str:
    """One line for a foreign error that escaped a command."""
    if isinstance(exc, NoRespondersError):
        return "JetStream did not answer: is JetStream enabled on the server (nats-server -js)?"
    if isinstance(exc, NatsTimeoutError):
        return "NATS did not answer in time: is the server overloaded or unreachable? try again"
    if isinstance(exc, APIError):
        return f"JetStream refused the request: {exc.description or exc} (code {exc.err_code})"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}"
    return f"NATS error: {exc}"


class _Cli(click.Group):
    """A click group that turns operational errors into one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JimbotError as exc:
            fail(str(exc))
        except BrokenPipeError:
            raise  # `jimbot dlq ls | head`: click exits quietly
        except (NatsError, APIError, OSError) as exc:
            fail(_explain(exc))
        except BaseExceptionGroup as group:
            # anyio task groups wrap what their tasks raise; report the first cause we know.
            known, _ = group.split((JimbotError, NatsError, APIError, OSError))
            if known is None:
                raise
            first = _first_leaf(known)
            fail(str(first) if isinstance(first, JimbotError) else _explain(first))


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, Exception)
    return exc


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """jimbot: the NATS JetStream service set for JimBot and the Jason AgentBridge.

    Settings come from the environment (NATS_URL, EVENT_BUS_TOPIC_PREFIX, ...); see
    `jimbot config`.
    """


@cli.command(short_help="Run everything: NATS, provisioning, handlers, edges.")
@click.option(
    "--nats-port", type=int, default=None, help="Embedded server port [JIMBOT_NATS_PORT]."
)
@click.option(
    "--monitor-port",
    type=int,
    default=8222,
    show_default=True,
    help="Embedded server monitoring port; -1 picks a free one, 0 turns it off.",
)
def up(nats_port: int | None, monitor_port: int) -> None:
    """Start NATS (unless NATS_URL is set), provision, and run every handler and edge."""
    import logging

    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="jimbot up: %(message)s")
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    port = settings.nats_port if nats_port is None else nats_port
    anyio.run(partial(run_up, settings, nats_port=port, monitor_port=monitor_port))


@cli.command(short_help="Run one handler until SIGTERM.")
@click.argument("name")
def run(name: str) -> None:
    """Run one handler (a module under handlers/, or module:attribute) until SIGTERM."""
    settings = load_settings()
    decls = handlers.load(name)
    if not settings.nats_url:
        fail(
            "NATS_URL is not set: start everything with `jimbot up`, or export "
            "NATS_URL=nats://127.0.0.1:4222 to run this handler against a running server"
        )
    if not os.environ.get("COMPONENT_NAME"):
        settings = dataclasses.replace(settings, component_name=name.rpartition(":")[2])
    exit_when_orphaned()
    raise SystemExit(handlers.run(decls, settings))


@cli.command(short_help="Create or update the streams and buckets.")
@click.option("--replicas", type=click.Choice(["1", "3", "5"]), default=None,
              help="Stream replicas [JIMBOT_REPLICAS].")  # fmt: skip
def provision(replicas: str | None) -> None:
    """Create or update every stream and bucket of the prefix (idempotent)."""
    settings = load_settings()
    count = int(replicas) if replicas else settings.replicas

    async def go() -> list[subjects.Change]:
        async with open_bus(settings) as nc:
            return await subjects.provision(nc.jetstream(), names_of(settings), replicas=count)

    for change in run_async(go):
        click.echo(str(change))


@cli.command(short_help="Streams, consumers, dead letters, services.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Streams, consumers, dead letters by reason, and micro services of the prefix."""
    from ops import _status

    settings = load_settings()

    async def go() -> _status.Status:
        async with open_bus(settings) as nc:
            return await _status.collect(nc, names_of(settings))

    result = run_async(go)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else _status.render(result))


@cli.command(short_help="A protobuf Event on stdin as JSON.")
@click.option("--compact", is_flag=True, help="One line of JSON per message.")
@click.option(
    "--type",
    "message_type",
    default=None,
    metavar="NAME",
    help="Full protobuf name of the body [jimbot.events.v1.Event], e.g. agentbridge.Percept.",
)
def decode(compact: bool, message_type: str | None) -> None:
    """Read a protobuf jimbot.events.v1.Event on stdin and print it as JSON.

    For `nats sub 'jimbot.events.>' --translate 'jimbot decode'`.
    """
    data = sys.stdin.buffer.read()
    what = message_type or "jimbot.events.v1.Event"
    try:
        value = schemas.message_to_json(data, message_type=message_type)
    except SchemaDecodeError as exc:
        hint = "" if message_type else " (another message type? pass --type)"
        fail(f"stdin ({len(data)} bytes) is not a protobuf {what}: {exc.reason}{hint}")
    click.echo(json.dumps(value, indent=None if compact else 2, ensure_ascii=False))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config(as_json: bool) -> None:
    """Print the effective settings (the LLM key masked)."""
    values = load_settings().describe()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    width = max(map(len, values))
    for key, value in values.items():
        click.echo(f"{key:<{width}}  {value}")


@cli.command(short_help="A guided tour, or N simulated games with --games.")
@click.option("--games", type=click.IntRange(min=1), default=None, help="Play N simulated games.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
def demo(games: int | None, concurrency: int) -> None:
    """Without --games: events, a failing handler, a dead letter, a replay.

    With --games N: N simulated Balatro games through the gateway, the decision service and
    the game director (the running `jimbot up` if there is one), then a summary.
    """
    if games is None:
        from ops.demo import run_demo

        run_async(run_demo)
        return
    from ops.gamedemo import run_game_demo

    run_async(run_game_demo, load_settings(), games, min(concurrency, games))


cli.add_command(dlq)
cli.add_command(query)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="jimbot")


if __name__ == "__main__":
    main()
