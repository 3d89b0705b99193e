"""Interop: a Node client (``@grpc/grpc-js``) requests, reads the status and releases through
the ResourceCoordinator gRPC edge, with a deadline on every call."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from bridge.resources import EdgeConfig, serve
from handlers._resources import ResourceConfig
from tests.integration.test_resource_support import coordinators

if TYPE_CHECKING:
    from handlers import Settings

pytestmark = pytest.mark.interop
NODE_DIR = Path(__file__).parent / "node"


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


async def test_the_node_client_requests_reads_status_and_releases(
    settings: Settings, node: str
) -> None:
    # The default capacities: the spec's 32 GB memory plan.
    async with coordinators(settings, ResourceConfig()), anyio.create_task_group() as tg:
        port: int = await tg.start(serve, settings, EdgeConfig(port=0))
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [node, str(NODE_DIR / "resource_client.js"), f"127.0.0.1:{port}", "3000"],
                check=False,
            )
        tg.cancel_scope.cancel()
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        "GRANT true 512 MEMORY_MB",
        "STATUS MEMORY_MB 512/32768",
        "RELEASED true released 512 MEMORY_MB",
        "RPC_ERROR INVALID_ARGUMENT amount must be >= 1, got 0",
    ]
