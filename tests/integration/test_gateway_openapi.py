"""Property-based API test of the gateway's own OpenAPI document (schemathesis).

The gateway runs as a real process (``python -m bridge.gateway``) against the test server;
schemathesis generates requests from the served document. While NATS is up, no request may
get a 5xx, and every response must match what the document promises.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ops.ports import free_port


@pytest.fixture(scope="module")
def gateway_url(nats_server: object) -> Iterator[str]:
    from ops.natsserver import NatsServer

    assert isinstance(nats_server, NatsServer)
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "EVENT_BUS_TOPIC_PREFIX": "openapi",
        "JIMBOT_HTTP_PORT": str(port),
        "METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.gateway"], env=env, cwd=Path(__file__).parents[2]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the gateway did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def api_schema(gateway_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{gateway_url}/schema/openapi.json")


def test_no_request_gets_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    # Driven through hypothesis directly: schemathesis's own pytest plugin does not support
    # this pytest version.
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {"/api/v1/events/batch", "/api/v1/commands/poll"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Any) -> None:
            response = case.call(timeout=10)
            assert response.status_code < 500, (
                case.method,
                case.path,
                response.status_code,
                response.text[:500],
            )

        check()
