"""Error events: the runtime and the edges publish the spec's ErrorEvent on failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY

from bridge.gateway import Gateway, create_app
from handlers import (
    Consumer,
    Context,
    Endpoint,
    ErrorReporter,
    PermanentError,
    ServiceError,
    Settings,
    connect,
    publish,
    request,
)
from ops.natsserver import NatsServer
from schemas import decode_event_bytes, events_pb2, unpack_payload
from schemas.agent_bridge_pb2 import ActionRequest
from subjects import Names, provision
from tests.integration.helpers import running, wait_for
from tests.interop.harness import client, shim

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

ErrorEvent = events_pb2.ErrorEvent
SEVERITY = ErrorEvent.ErrorSeverity.Name
ACTION = ErrorEvent.RecoveryAction.Name


class Collector:
    """Error events of one prefix as they arrive on ``<prefix>.events.error.>``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, events_pb2.Event, ErrorEvent]] = []

    async def on_msg(self, msg: Msg) -> None:
        event = decode_event_bytes(msg.data)
        payload = unpack_payload(event)
        assert isinstance(payload, ErrorEvent)
        self.events.append((msg.subject, event, payload))

    def kinds(self) -> list[tuple[str, str, str]]:
        """(component, severity, action) of each event, in arrival order."""
        return [
            (e.source_component, SEVERITY(e.severity), ACTION(e.suggested_action))
            for _, _, e in self.events
        ]


async def collect(nc: Client, names: Names) -> Collector:
    collector = Collector()
    await nc.subscribe(names.subject("events.error.>"), cb=collector.on_msg)
    await nc.flush()
    return collector


def every_error(settings: Settings) -> Settings:
    """No rate limit: every report becomes an event (the tests count them)."""
    return replace(settings, error_event_interval=0.0)


async def test_a_permanent_failure_publishes_error_with_fallback(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def refuse(body: bytes, ctx: Context) -> None:
        raise PermanentError("not a hand")

    errors = await collect(nc, names)
    consumer = Consumer(name="picky", subjects=["events.custom.picky"], handle=refuse)
    async with running(consumer, settings=every_error(settings), nc=nc):
        await publish(nc.jetstream(), names.subject("events.custom.picky"), b"x", msg_id="m-1")
        await wait_for(lambda: errors.events)
    subject, event, error = errors.events[0]
    assert subject == names.subject("events.error.picky")
    assert event.type == events_pb2.ERROR and event.source == "picky"
    assert event.event_id == error.error_id
    assert (SEVERITY(error.severity), ACTION(error.suggested_action)) == ("ERROR", "FALLBACK")
    assert "not a hand" in error.message and "dead-lettered" in error.message
    assert error.context["error_type"] == "PermanentError"
    assert error.context["msg_id"] == "m-1"
    assert error.context["dlq_subject"] == names.dlq_subject(names.durable("picky"))
    assert list(error.affected_components) == ["picky"]
    assert not error.stack_trace  # raised on purpose: the message says it all


async def test_retries_publish_warnings_then_the_last_delivery_escalates(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def crash(body: bytes, ctx: Context) -> None:
        raise RuntimeError("the model file is missing")

    errors = await collect(nc, names)
    consumer = Consumer(
        name="flaky",
        subjects=["events.custom.flaky"],
        handle=crash,
        max_deliver=3,
        retry_delay=0.05,
    )
    async with running(consumer, settings=every_error(settings), nc=nc):
        await publish(nc.jetstream(), names.subject("events.custom.flaky"), b"x", msg_id="m-2")
        await wait_for(lambda: len(errors.events) >= 3)
    assert errors.kinds() == [
        ("flaky", "WARNING", "RETRY"),
        ("flaky", "WARNING", "RETRY"),
        ("flaky", "ERROR", "ESCALATE"),
    ]
    first, last = errors.events[0][2], errors.events[2][2]
    assert first.context["retry_in_seconds"] == "0.05"
    assert first.context["deliveries"] == "1"
    assert "retries ran out" in last.message
    assert "RuntimeError: the model file is missing" in last.stack_trace


async def test_a_hot_failure_loop_is_one_event_per_window_and_the_rest_are_counted(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def crash(body: bytes, ctx: Context) -> None:
        raise RuntimeError("still broken")

    def failures() -> float:
        labels = {"component": "hot", "severity": "WARNING", "error_type": "RuntimeError"}
        return REGISTRY.get_sample_value("jimbot_error_rate_total", labels) or 0.0

    before = failures()
    errors = await collect(nc, names)
    consumer = Consumer(
        name="hot",
        subjects=["events.custom.hot"],
        handle=crash,
        max_deliver=100,
        retry_delay=0.01,
        max_retry_delay=0.01,
    )
    async with running(consumer, settings=replace(settings, error_event_interval=30), nc=nc):
        for i in range(5):
            await publish(nc.jetstream(), names.subject("events.custom.hot"), b"x", msg_id=str(i))
        await wait_for(lambda: failures() - before >= 50)
        await anyio.sleep(0.2)  # any extra event would have arrived by now
        assert errors.kinds() == [("hot", "WARNING", "RETRY")]
    # Stopping flushes the window: one summary counts what was held back.
    await wait_for(lambda: len(errors.events) == 2)
    summary = errors.events[1][2]
    assert int(summary.context["repeats"]) >= 49
    assert summary.context["window_seconds"] == "30"


async def test_the_reporter_summarises_a_window_when_it_ends(nc: Client, names: Names) -> None:
    errors = await collect(nc, names)
    reporter = ErrorReporter(nc, names, component="unit", interval=0.5)
    try:
        for _ in range(20):
            reporter.report(severity="WARNING", action="RETRY", message="busy", error_type="Busy")
        reporter.report(severity="ERROR", action="ESCALATE", message="other", error_type="Other")
        await wait_for(lambda: len(errors.events) == 2)
        assert sorted(e.message for _, _, e in errors.events) == ["busy", "other"]
        await wait_for(lambda: len(errors.events) == 3, timeout=3)
        summary = errors.events[2][2]
        assert summary.message == "busy (x19 in the last 0.5s)"
        assert summary.context["repeats"] == "19"
        await wait_for(lambda: reporter.statistics().published == 3)  # its ack came back
        stats = reporter.statistics()
        assert (stats.suppressed, stats.failed, stats.dropped) == (19, 0, 0)
    finally:
        await reporter.aclose()


async def test_an_error_while_publishing_an_error_is_only_logged(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await connect(nats_url, name="pytest-unprovisioned")
    try:
        # No stream for this prefix: every publish fails.
        reporter = ErrorReporter(nc, Names("nostreamhere"), component="unit", timeout=0.3)
        reporter.report(severity="ERROR", action="ESCALATE", message="boom", error_type="Boom")
        await wait_for(lambda: reporter.statistics().failed == 1)
        await anyio.sleep(0.2)
        stats = reporter.statistics()
        assert (stats.published, stats.failed, stats.pending) == (0, 1, 0)
        assert "could not publish error event" in caplog.text
        await reporter.aclose()
    finally:
        await nc.close()


async def test_an_unexpected_endpoint_exception_is_an_error_event_and_a_500(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def buggy(value: int, ctx: Context) -> int:
        return value // 0

    errors = await collect(nc, names)
    endpoint = Endpoint(name="divider", subject="rpc.divider.go", handle=buggy)
    async with running(endpoint, settings=every_error(settings), nc=nc):
        with pytest.raises(ServiceError) as caught:
            await request(nc, names.subject("rpc.divider.go"), 7, int)
        await wait_for(lambda: errors.events)
    assert caught.value.code == "500"
    subject, _, error = errors.events[0]
    assert subject == names.subject("events.error.divider")
    assert (SEVERITY(error.severity), ACTION(error.suggested_action)) == ("ERROR", "ESCALATE")
    assert error.context["error_type"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in error.stack_trace


async def test_the_gateway_publishes_its_unexpected_errors(
    nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = await collect(nc, names)
    reporter = ErrorReporter(nc, names, component="gateway", interval=0)
    gateway = Gateway(nc, names, errors=reporter)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gateway.ingest, "store", broken)
    transport = httpx.ASGITransport(app=create_app(gateway))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        body = b'{"type": "HEARTBEAT", "source": "BalatroMCP", "data": {}}'
        response = await http.post("/api/v1/events", content=body)
    await wait_for(lambda: errors.events)
    await reporter.aclose()
    assert response.status_code == 500
    subject, _, error = errors.events[0]
    assert subject == names.subject("events.error.gateway")
    assert (SEVERITY(error.severity), ACTION(error.suggested_action)) == ("ERROR", "ESCALATE")
    assert "POST /api/v1/events" in error.message
    assert "disk on fire" in error.stack_trace


async def test_the_shim_publishes_a_fallback_answer_as_an_error_event(
    nc: Client, names: Names, settings: Settings
) -> None:
    errors = await collect(nc, names)
    async with shim(settings) as port, client(port) as stub:
        reply = await stub.RequestAction(ActionRequest(agent="python_link", context="go"))
        await wait_for(lambda: errors.events)
    assert reply.error_detail == "no_policy"
    subject, event, error = errors.events[0]
    assert subject == names.subject("events.error.agentbridge")
    assert event.source == "agentbridge"
    assert (SEVERITY(error.severity), ACTION(error.suggested_action)) == ("ERROR", "FALLBACK")
    assert error.context["error_detail"] == "no_policy"
    assert error.context["agent"] == "python_link"
    assert list(error.affected_components) == ["agentbridge", "agent_decide"]


async def test_a_lost_nats_connection_is_published_after_the_reconnect(
    settings: Settings, tmp_path: Path
) -> None:
    # Port -1: the server picks a free one itself (no pick-close-reuse race); the restart
    # below takes the same port again, as a restarted server would.
    server = NatsServer(store_dir=tmp_path / "js").start()
    port = server.port
    names = Names(settings.prefix)

    async def noop(body: bytes, ctx: Context) -> None:
        return None

    consumer = Consumer(name="steady", subjects=["events.custom.steady"], handle=noop)
    own = replace(settings, nats_url=server.url, heartbeat_interval=0.5)
    worker_nc = await connect(server.url, name="steady-worker")
    try:
        await provision(worker_nc.jetstream(), names)
        async with running(consumer, settings=own, nc=worker_nc):
            server.kill()
            await anyio.sleep(1.0)
            # Same store: the stream is there again after the restart.
            server = NatsServer(store_dir=tmp_path / "js", port=port).start()
            js = worker_nc.jetstream()
            stream, subject = names.events_stream, names.subject("events.error.test")

            async def published() -> bool:
                try:
                    await js.get_last_msg(stream, subject)
                except Exception:
                    return False
                return True

            with anyio.fail_after(15):
                while not await published():
                    await anyio.sleep(0.1)
            raw = await js.get_last_msg(stream, subject)
    finally:
        await worker_nc.close()
        server.stop()
    error = unpack_payload(decode_event_bytes(raw.data or b""))
    assert isinstance(error, ErrorEvent)
    assert (SEVERITY(error.severity), ACTION(error.suggested_action)) == ("WARNING", "RETRY")
    assert error.context["error_type"] == "NatsDisconnected"
    assert float(error.context["down_seconds"]) > 0.5
