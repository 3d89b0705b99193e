"""With TRACE_ENDPOINT set, a worker process exports its spans to a real OTLP/gRPC collector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.integration.helpers import wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
RUN = "import sys; from handlers import load, run; sys.exit(run(load(sys.argv[1])))"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace collector that keeps what it receives (the protocol's own stubs)."""

    def __init__(self) -> None:
        self.trace_ids: list[str] = []
        self.services: list[str] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for attr in resource_spans.resource.attributes:
                if attr.key == "service.name":
                    self.services.append(attr.value.string_value)
            for scope in resource_spans.scope_spans:
                self.trace_ids += [span.trace_id.hex() for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(0)


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, "tests.integration.workers:counting"],
        env=env,
        cwd=Path(__file__).parents[2],
    )


async def test_worker_exports_the_continued_trace_over_otlp(
    nc: Client, names: Names, nats_url: str, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    servicer, port = collector
    out = tmp_path / "out.txt"
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "EVENT_BUS_TOPIC_PREFIX": names.prefix,
        "METRICS_PORT": "0",
        "TRACE_ENDPOINT": f"http://127.0.0.1:{port}",
        "COMPONENT_NAME": "traced-worker",
        "JIMBOT_TEST_OUT": str(out),
        "LOG_LEVEL": "WARNING",
    }
    proc = start(env)
    try:
        await nc.jetstream().publish(
            names.subject("events.custom.work"),
            b"traced",
            headers={"Nats-Msg-Id": "t-1", "traceparent": TRACEPARENT},
        )
        await wait_for(lambda: out.exists() and out.read_bytes() == b"traced\n", timeout=20)
        proc.send_signal(signal.SIGTERM)  # exit flushes the batch exporter
        with anyio.fail_after(15):
            while proc.poll() is None:
                await anyio.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert TRACE_ID in servicer.trace_ids
    assert "traced-worker" in servicer.services
