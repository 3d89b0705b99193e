"""Interop: a Java client built from the contract proto with Debian's grpc-java, like Jason's
``GrpcBridgeEnvironment`` (blocking stub, plaintext, no deadline), against the shim."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agent_stream import endpoint as stream_endpoint
from schemas import agent_bridge_pb2 as pb
from tests.interop import javabuild
from tests.interop.harness import client, policies, server_action, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

pytestmark = pytest.mark.interop
POLICIES = "JIMBOT_AGENT_POLICIES"
FAULTS = "tests.integration.test_agentbridge_faults"
HOSTILE = "tests.integration.test_agentbridge_hostile"


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = javabuild.missing_toolchain()
    if reason is not None:
        pytest.skip(f"Java interop toolchain absent: {reason}")
    return javabuild.build(tmp_path_factory.mktemp("java"))


async def run_java(classes: Path, port: int, agent: str, *commands: str) -> list[str]:
    argv = ["java", "-cp", javabuild.runtime_classpath(classes), "BridgeClient"]
    with anyio.fail_after(60):
        done = await anyio.run_process([*argv, f"127.0.0.1:{port}", agent, *commands])
    return done.stdout.decode().splitlines()


async def test_the_java_client_plays_the_seed_trace_and_reads_the_stream(
    settings: Settings, nc: Client, java_classes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"slowpoke={FAULTS}:slow_policy,hostile={HOSTILE}:hostile_policy")
    config = BridgeConfig(budget=0.3)
    async with (
        policies(decide_endpoint, stream_endpoint, settings=settings, nc=nc),
        shim(settings, config) as port,
    ):
        lines = await run_java(
            java_classes, port, "python_link",
            "request:startup", "push:temperature=32C", "request:search", "stream:plan",
            "agent:slowpoke", "request:anything", "agent:hostile", "request:x",
        )  # fmt: skip
        async with client(port) as stub:
            hostile = await stub.RequestAction(pb.ActionRequest(agent="hostile", context="x"))
    assert lines[:9] == [
        'ACTION server_action("idle", "ctx_len=7;percept_len=0")',
        "ACK true percept stored",
        'ACTION server_action("cool_down", "ctx_len=6;percept_len=15")',
        'STREAM server_action("step_0", "index=0")',
        'STREAM server_action("step_1", "index=1")',
        'STREAM server_action("step_2", "index=2")',
        "END",
        'ACTION server_action("idle", ";status=error;detail=policy_timeout")',
        f"ACTION {server_action(hostile)}",
    ]
    assert len(lines) == 9


async def test_the_java_client_gets_no_policy_at_once_when_no_handler_runs(
    settings: Settings, nc: Client, java_classes: Path
) -> None:
    async with shim(settings) as port:
        lines = await run_java(java_classes, port, "python_link", "request:startup")
    assert lines == ['ACTION server_action("idle", ";status=error;detail=no_policy")']
