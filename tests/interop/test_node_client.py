"""Interop: a Node client (``@grpc/grpc-js``) with a deadline on every call, against the shim."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from bridge.agentbridge import BridgeConfig
from bridge.agentbridge import _service as agentbridge_service
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agent_stream import endpoint as stream_endpoint
from tests.interop.harness import policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

pytestmark = pytest.mark.interop
NODE_DIR = Path(__file__).parent / "node"
POLICIES = "JIMBOT_AGENT_POLICIES"
FAULTS = "tests.integration.test_agentbridge_faults"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("Node interop toolchain absent: `node` not found; run tests/interop/setup.sh")
    for package in ("grpc-js", "proto-loader"):
        if not (NODE_DIR / "node_modules" / "@grpc" / package).is_dir():
            pytest.skip(f"Node interop toolchain absent: @grpc/{package} not installed; run "
                        "tests/interop/setup.sh")  # fmt: skip
    return found


async def run_node(node: str, port: int, deadline_ms: int, *commands: str) -> list[str]:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [node, str(NODE_DIR / "client.js"), f"127.0.0.1:{port}", str(deadline_ms), *commands]
        )
    return done.stdout.decode().splitlines()


async def test_the_node_client_plays_the_seed_trace_with_a_deadline(
    settings: Settings, nc: Client, node: str
) -> None:
    async with (
        policies(decide_endpoint, stream_endpoint, settings=settings, nc=nc),
        shim(settings) as port,
    ):
        lines = await run_node(
            node, port, 2000, "request:startup", "push:temperature=32C", "request:search",
            "stream:plan",
        )  # fmt: skip
    answers = [line for line in lines if not line.startswith("ELAPSED_MS")]
    assert answers == [
        'ACTION server_action("idle", "ctx_len=7;percept_len=0")',
        "ACK true percept stored",
        'ACTION server_action("cool_down", "ctx_len=6;percept_len=15")',
        'STREAM server_action("step_0", "index=0")',
        'STREAM server_action("step_1", "index=1")',
        'STREAM server_action("step_2", "index=2")',
        "END",
    ]


async def test_a_client_deadline_shorter_than_the_budget_still_gets_the_fallback(
    settings: Settings, nc: Client, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"*={FAULTS}:slow_policy")
    # The shim keeps min(REPLY_MARGIN, a fifth) of the 1.5 s deadline to send the fallback:
    # 0.25 s rather than 50 ms, room for a loaded machine. The policy sleeps 2 s.
    monkeypatch.setattr(agentbridge_service, "REPLY_MARGIN", 0.25)
    config = BridgeConfig(budget=5.0)
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        lines = await run_node(node, port, 1500, "request:search")
    assert lines[0] == 'ACTION server_action("idle", ";status=error;detail=policy_timeout")'
    assert int(lines[1].split()[1]) < 1500
