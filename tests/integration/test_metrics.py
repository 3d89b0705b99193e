"""Per-handler Prometheus metrics, named as the spec names them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

from handlers import Consumer, Context, PermanentError, publish
from tests.integration.helpers import running, wait_for

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_messages_durations_and_errors_are_counted(
    nc: Client, names: Names, settings: Settings
) -> None:
    async def maybe(body: bytes, ctx: Context) -> None:
        if body == b"bad":
            raise PermanentError("bad body")

    consumer = Consumer(name="metered", subjects=["events.custom.metered"], handle=maybe)
    js = nc.jetstream()
    labels = {"source": "producer", "destination": "metered", "event_type": "CUSTOM"}
    before = sample("jimbot_event_bus_messages_total", **labels)
    async with running(consumer, settings=settings, nc=nc):
        for i, body in enumerate([b"ok", b"ok", b"bad"]):
            await publish(
                js,
                names.subject("events.custom.metered"),
                body,
                msg_id=str(i),
                source="producer",
                event_type="CUSTOM",
            )
        await wait_for(lambda: sample("jimbot_event_bus_messages_total", **labels) - before == 3)
    assert (
        sample(
            "jimbot_request_duration_seconds_count",
            service="metered",
            method="consume",
            status="ok",
        )
        == 2
    )
    assert (
        sample(
            "jimbot_request_duration_seconds_count",
            service="metered",
            method="consume",
            status="term",
        )
        == 1
    )
    assert (
        sample(
            "jimbot_error_rate_total",
            component="metered",
            severity="ERROR",
            error_type="PermanentError",
        )
        == 1
    )
    assert sample("jimbot_handler_outcomes_total", handler="metered", outcome="ack") == 2
    assert sample("jimbot_handler_outcomes_total", handler="metered", outcome="term") == 1
