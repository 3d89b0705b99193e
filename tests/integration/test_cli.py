"""The ``jimbot`` commands other than ``up`` and ``dlq``, against a real nats-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio

from handlers import Consumer, Context, Endpoint
from ops.ports import free_port
from tests.integration.clihelp import jimbot, put_dead_letter
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


async def test_config_shows_values_from_the_environment() -> None:
    env = {
        "NATS_URL": "nats://example:4999",
        "EVENT_BUS_TOPIC_PREFIX": "shop",
        "METRICS_PORT": "9999",
        "ANTHROPIC_API_KEY": "sk-secret",
    }
    text = await jimbot(None, "config", env=env)
    as_json = await jimbot(None, "config", "--json", env=env)

    assert text.exit_code == 0, text.output
    lines = dict(line.split(None, 1) for line in text.stdout.splitlines())
    assert lines["nats_url"] == "nats://example:4999"
    assert lines["prefix"] == "shop"
    assert lines["metrics_port"] == "9999"
    assert lines["llm_api_key"] == "(set)"
    assert "sk-secret" not in text.stdout + as_json.stdout
    assert json.loads(as_json.stdout)["prefix"] == "shop"


async def test_an_invalid_setting_is_one_line_naming_the_variable() -> None:
    result = await jimbot(None, "config", env={"JIMBOT_REPLICAS": "2"})
    assert result.exit_code == 1
    assert result.stderr == "jimbot: JIMBOT_REPLICAS=2: use 1, 3 or 5\n"


async def test_provision_twice_changes_nothing_the_second_time(
    settings: Settings, names: Names
) -> None:
    first = await jimbot(settings, "provision")
    second = await jimbot(settings, "provision", "--replicas", "1")

    assert first.exit_code == 0, first.output
    assert f"created   stream   {names.events_stream}" in first.stdout
    assert second.exit_code == 0, second.output
    actions = [line.split()[0] for line in second.stdout.splitlines()]
    assert actions and set(actions) == {"unchanged"}
    assert len(actions) == len(first.stdout.splitlines())


async def test_status_lists_streams_consumers_dead_letters_and_services(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def noop(body: bytes, ctx: Context) -> None:
        return None

    async def echo(body: bytes, ctx: Context) -> bytes:
        return body

    consumer = Consumer(name="watcher", subjects=["events.custom.status"], handle=noop)
    endpoint = Endpoint(name="echo", subject="rpc.echo", handle=echo)
    await put_dead_letter(nc.jetstream(), names, reason="terminated")
    await put_dead_letter(nc.jetstream(), names, reason="max_deliveries")
    await put_dead_letter(nc.jetstream(), names, reason="max_deliveries")
    async with running(consumer, endpoint, settings=settings, nc=nc):
        text = await jimbot(settings, "status")
        as_json = await jimbot(settings, "status", "--json")

    assert text.exit_code == 0, text.output
    for stream in (names.events_stream, names.dlq_stream, names.commands_stream):
        assert stream in text.stdout
    assert f"{names.events_stream}/{names.durable('watcher')}" in text.stdout
    assert names.service("echo") in text.stdout
    assert f"endpoint echo {names.subject('rpc.echo')}" in text.stdout
    data = json.loads(as_json.stdout)
    assert data["dead_letters"] == {"max_deliveries": 2, "terminated": 1}
    dlq = next(s for s in data["streams"] if s["name"] == names.dlq_stream)
    assert dlq["messages"] == 3
    assert [s["name"] for s in data["services"]] == [names.service("echo")]


async def test_status_before_provisioning_names_the_fix(settings: Settings) -> None:
    result = await jimbot(settings, "status")
    assert result.exit_code == 0, result.output
    assert "missing: run `jimbot provision`" in result.stdout


async def test_decode_prints_an_event_as_json() -> None:
    from schemas.events_pb2 import HAND_PLAYED, Event

    event = Event(event_id="e-42", type=HAND_PLAYED, source="pytest")
    event.metadata["hand"] = "flush"
    result = await jimbot(None, "decode", input=event.SerializeToString())

    assert result.exit_code == 0, result.output
    decoded = json.loads(result.stdout)
    assert decoded["event_id"] == "e-42"
    assert decoded["source"] == "pytest"


async def test_decode_rejects_bytes_that_are_not_an_event_in_one_line() -> None:
    result = await jimbot(None, "decode", input=b"\xff\xff\xff not protobuf")
    assert result.exit_code == 1
    assert result.stderr.startswith("jimbot: stdin (")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


async def test_no_reachable_nats_is_one_line_and_exit_1() -> None:
    env = {**os.environ, "NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    outcomes = []
    for args in (["status"], ["provision"], ["dlq", "ls"], ["dlq", "replay"]):
        outcomes.append(
            await anyio.run_process(
                [sys.executable, "-m", "ops.cli", *args], env=env, check=False,
                stdin=subprocess.DEVNULL,
            )
        )  # fmt: skip

    for result in outcomes:
        stderr = result.stderr.decode()
        assert result.returncode == 1
        assert stderr.startswith(f"jimbot: cannot reach NATS at {env['NATS_URL']}: ")
        assert stderr.count("\n") == 1
        assert "Traceback" not in stderr + result.stdout.decode()


async def test_run_without_nats_url_or_with_an_unknown_handler_names_the_fix() -> None:
    no_url = await jimbot(None, "run", "dlq_mover")
    unknown = await jimbot(None, "run", "no_such_handler", env={"NATS_URL": "nats://x:1"})

    assert no_url.exit_code == 1
    assert no_url.stderr.startswith("jimbot: NATS_URL is not set: start everything with")
    assert unknown.exit_code == 1
    assert "no handler named 'no_such_handler'; known handlers: " in unknown.stderr


async def test_demo_runs_every_step_and_exits_0() -> None:
    with anyio.fail_after(30):
        result = await anyio.run_process(
            [sys.executable, "-m", "ops.cli", "demo"], check=False, stdin=subprocess.DEVNULL
        )
    stdout = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "every hand processed exactly once; the DLQ is empty" in stdout
    assert "processed: pair, flush, straight, full_house, cursed" in stdout
