"""Request-reply endpoints: concurrency, ADR-32 errors and discovery, deadlines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from handlers import (
    DeadlineExceeded,
    Endpoint,
    ServiceError,
    request,
)
from tests.integration.helpers import running

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Context, Settings
    from subjects import Names


class Ask(msgspec.Struct):
    n: int
    sleep: float = 0.0
    fail: str = ""


class Answer(msgspec.Struct):
    n: int


state = {"active": 0, "peak": 0, "cancelled": 0}


async def answer(ask: Ask, ctx: Context) -> Answer:
    state["active"] += 1
    state["peak"] = max(state["peak"], state["active"])
    try:
        await anyio.sleep(ask.sleep)
    except anyio.get_cancelled_exc_class():
        state["cancelled"] += 1
        raise
    finally:
        state["active"] -= 1
    if ask.fail == "service":
        raise ServiceError(404, f"no such thing: {ask.n}")
    if ask.fail == "bug":
        raise KeyError("secret internals")
    return Answer(ask.n * 2)


ENDPOINT = Endpoint(name="echo", subject="rpc.test.echo", handle=answer, concurrency=64)


@pytest.fixture(autouse=True)
def _reset() -> None:
    state.update(active=0, peak=0, cancelled=0)


async def test_many_concurrent_requests_are_served_at_once(
    nc: Client, names: Names, settings: Settings
) -> None:
    results: list[int] = []
    async with running(ENDPOINT, settings=settings, nc=nc):

        async def call(i: int) -> None:
            # 1 s each (not 0.3 s): the 50 requests overlap even if sending them all is slow.
            reply = await request(
                nc, names.subject("rpc.test.echo"), Ask(i, sleep=1.0), Answer, timeout=5
            )
            results.append(reply.n)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(call, i)
    assert sorted(results) == [i * 2 for i in range(50)]
    # One process, one subscription: requests overlapped instead of queueing one by one.
    assert state["peak"] >= 25


async def test_errors_use_adr32_headers_and_never_leak_internals(
    nc: Client, names: Names, settings: Settings
) -> None:
    subject = names.subject("rpc.test.echo")
    async with running(ENDPOINT, settings=settings, nc=nc):
        with pytest.raises(ServiceError) as service:
            await request(nc, subject, Ask(7, fail="service"), Answer)
        raw_bug = await nc.request(subject, msgspec.json.encode(Ask(1, fail="bug")), timeout=5)
        raw_bad = await nc.request(subject, b"{not json", timeout=5)
    assert service.value.code == "404"
    assert service.value.description == "no such thing: 7"
    bug_headers = raw_bug.headers or {}
    assert bug_headers["Nats-Service-Error-Code"] == "500"
    assert "secret internals" not in bug_headers["Nats-Service-Error"]
    assert "KeyError" not in bug_headers["Nats-Service-Error"]
    bad_headers = raw_bad.headers or {}
    assert bad_headers["Nats-Service-Error-Code"] == "400"
    assert "does not decode" in bad_headers["Nats-Service-Error"]


async def test_caller_deadline_travels_and_stops_the_work(
    nc: Client, names: Names, settings: Settings
) -> None:
    async with running(ENDPOINT, settings=settings, nc=nc):
        with pytest.raises(DeadlineExceeded):
            await request(nc, names.subject("rpc.test.echo"), Ask(1, sleep=3), Answer, timeout=0.3)
        with anyio.fail_after(2):
            while state["cancelled"] == 0:
                await anyio.sleep(0.02)
    assert state["cancelled"] == 1


async def test_service_is_listed_by_srv_ping_info_and_stats(
    nc: Client, names: Names, settings: Settings
) -> None:
    service = names.service("echo")
    async with running(ENDPOINT, settings=settings, nc=nc):
        await request(nc, names.subject("rpc.test.echo"), Ask(2, sleep=0.05), Answer)
        ping = json.loads((await nc.request(f"$SRV.PING.{service}", b"", timeout=2)).data)
        info = json.loads((await nc.request(f"$SRV.INFO.{service}", b"", timeout=2)).data)
        stats = json.loads((await nc.request(f"$SRV.STATS.{service}", b"", timeout=2)).data)
    assert ping["name"] == service
    assert ping["type"] == "io.nats.micro.v1.ping_response"
    [endpoint] = info["endpoints"]
    assert endpoint["subject"] == names.subject("rpc.test.echo")
    [endpoint_stats] = stats["endpoints"]
    assert endpoint_stats["num_requests"] == 1
    # Our accounting, not the dispatcher's: the handler slept 50 ms.
    assert endpoint_stats["processing_time"] >= 40_000_000


async def test_no_responder_is_a_clear_service_error(nc: Client, names: Names) -> None:
    with pytest.raises(ServiceError) as caught:
        await request(nc, names.subject("rpc.nobody.home"), Ask(1), Answer, timeout=1)
    assert caught.value.code == "503"
