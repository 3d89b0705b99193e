"""The Claude provider through the official SDK against a local stand-in of the Messages API,
and the limits around it: the shared token bucket, the circuit breaker, the cache.

No real API is reachable here, so :class:`MessagesStandIn` speaks the Messages API's shape
(``POST /v1/messages`` → a ``message`` with text content and usage) on 127.0.0.1 and fails on
demand (HTTP 500, a hang, or text that is not the JSON asked for).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import uvicorn

import subjects
from handlers import BreakerSettings, breaker, breaker_states, connect, forget_breakers, request
from handlers._strategy import (
    BREAKER,
    Advisor,
    ClaudeProvider,
    StrategyConfig,
    TokenBucket,
    _advisor,
    create_advisor,
)
from handlers.strategy_advisor import create_handlers
from schemas import create_event, decode_event_bytes, events_pb2, unpack_payload
from tests.integration.helpers import running, wait_for
from tests.integration.test_strategy_advisor import strategy_request

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.kv import KeyValue

    from handlers import Settings
    from subjects import Names

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
MODEL = "claude-standin-1"


class MessagesStandIn:
    """An ASGI app answering ``POST /v1/messages`` as the Messages API does.

    ``mode``: ``ok`` (a JSON strategy in a code fence, the rule-based hint's action unless
    ``action`` says otherwise), ``fail`` (HTTP 500 ``api_error``), ``hang`` (answers after
    ``hang`` seconds) or ``garbage`` (prose instead of JSON).
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.hang = 3.0
        self.delay = 0.0
        self.action: str | None = None
        self.calls = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST" or scope["path"] != "/v1/messages":
            await self._send(send, 404, _error("not_found_error", "no such route"))
            return
        self.calls += 1
        asked = json.loads(body)
        self.bodies.append(asked)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if self.mode == "fail":
            await self._send(send, 500, _error("api_error", "stand-in failure"))
            return
        await anyio.sleep(self.hang if self.mode == "hang" else self.delay)
        content = json.loads(asked["messages"][0]["content"])
        action = self.action or content["rule_based_strategist"]["recommended_action"]
        answer = {
            "recommended_action": action,
            "reasoning": "The stand-in agrees with the rules.",
            "confidence": 0.8,
            "action_values": {action: 1.5},
        }
        text = f"Here is my advice:\n```json\n{json.dumps(answer)}\n```"
        if self.mode == "garbage":
            text = "You should play well and have fun."
        message_body = {
            "id": f"msg_{self.calls:04d}",
            "type": "message",
            "role": "assistant",
            "model": asked["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 321, "output_tokens": 54},
        }
        await self._send(send, 200, message_body)

    async def _send(self, send: Send, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"request-id", b"req_standin")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@asynccontextmanager
async def serving(app: MessagesStandIn) -> AsyncIterator[str]:
    """The stand-in on a free loopback port; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await wait_for(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


@pytest.fixture(autouse=True)
def _fresh_breakers() -> None:
    forget_breakers()


@pytest.fixture
async def standin() -> AsyncIterator[tuple[MessagesStandIn, str]]:
    app = MessagesStandIn()
    async with serving(app) as url:
        yield app, url


def claude_config(url: str) -> StrategyConfig:
    return StrategyConfig(provider="claude", api_key="sk-test-key", base_url=url, model=MODEL)


@asynccontextmanager
async def claude_advisor(
    url: str, settings: BreakerSettings | None = None
) -> AsyncIterator[tuple[Advisor, StrategyConfig]]:
    config = claude_config(url)
    advisor = create_advisor(config, breaker_settings=settings)
    try:
        yield advisor, config
    finally:
        await advisor.aclose()


async def set_limits(nc: Client, names: Names, **limits: float) -> KeyValue:
    kv = await nc.jetstream().key_value(names.bucket(subjects.LIMITS_BUCKET))
    await kv.put(subjects.LIMITS_CONFIG_KEY, json.dumps(limits).encode())
    return kv


async def test_claude_answers_through_the_sdk_and_a_repeat_comes_from_cache(
    standin: tuple[MessagesStandIn, str], nc: Client, names: Names, settings: Settings
) -> None:
    app, url = standin
    subject = names.subject(subjects.RPC_STRATEGY_REQUEST)
    req = strategy_request(blind=300, money=12, question="play or discard?")
    async with claude_advisor(url) as (advisor, config):
        _, endpoint = create_handlers(advisor, config)
        async with running(endpoint, settings=settings, nc=nc):
            first = await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)
            second = await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)
    assert first.strategy_name == "claude" and first.model == MODEL
    assert first.reasoning == "The stand-in agrees with the rules."
    assert first.confidence == pytest.approx(0.8)
    assert first.extra["input_tokens"] == 321 and not first.cached
    # The second identical question never reached the provider.
    assert app.calls == 1
    assert second.cached and second.recommended_action == first.recommended_action
    asked = app.bodies[0]
    assert asked["model"] == MODEL and "Balatro" in asked["system"]
    sent = app.headers[0]
    # The SDK sends the key as x-api-key or (this SDK generation) as a bearer token.
    assert "sk-test-key" in sent.get("x-api-key", sent.get("authorization", ""))
    assert sent["anthropic-version"]
    content = json.loads(asked["messages"][0]["content"])
    assert content["question"] == "play or discard?"
    assert content["game_state"]["money"] == 12 and len(content["game_state"]["hand"]) == 8


async def test_the_breaker_opens_after_three_failures_falls_back_half_opens_and_closes(
    standin: tuple[MessagesStandIn, str], nc: Client, names: Names, settings: Settings
) -> None:
    app, url = standin
    subject = names.subject(subjects.RPC_STRATEGY_REQUEST)
    asked = 0

    async def ask() -> events_pb2.StrategyResponse:
        nonlocal asked
        asked += 1  # a new state each time: no cache hit hides a provider call
        req = strategy_request(money=asked)
        return await request(nc, subject, req, events_pb2.StrategyResponse, timeout=5)

    app.mode = "fail"
    # A 2 s reset timeout: each ask while "open" must come well within it, even when a loaded
    # machine stalls a request for a few hundred ms; the sleeps outlast it.
    async with claude_advisor(url, BreakerSettings(3, 2.0, 2)) as (advisor, config):
        _, endpoint = create_handlers(advisor, config)
        async with running(endpoint, settings=settings, nc=nc):
            failed = [await ask() for _ in range(3)]
            assert [r.strategy_name for r in failed] == ["fallback:provider_error"] * 3
            assert app.calls == 3 and breaker_states()[BREAKER] == "open"
            # Open: the offline strategist answers at once, Claude is not called.
            shut = await ask()
            assert shut.strategy_name == "fallback:breaker_open" and app.calls == 3
            assert shut.recommended_action and shut.model == "offline:rules"
            assert shut.extra["wanted"] == f"claude:{MODEL}"
            # After the timeout one trial goes through; it fails, so the breaker opens again.
            await anyio.sleep(2.1)
            trial = await ask()
            assert trial.strategy_name == "fallback:provider_error" and app.calls == 4
            assert breaker_states()[BREAKER] == "open"
            assert (await ask()).strategy_name == "fallback:breaker_open" and app.calls == 4
            # Claude is back: half-open after the first success, closed after the second.
            app.mode = "ok"
            await anyio.sleep(2.1)
            assert (await ask()).strategy_name == "claude"
            assert breaker_states()[BREAKER] == "half-open"
            assert (await ask()).strategy_name == "claude"
            assert breaker_states()[BREAKER] == "closed"
            assert app.calls == 6
    # Tokens went only to calls made: none to the answers the open breaker gave.
    kv = await nc.jetstream().key_value(names.bucket(subjects.LIMITS_BUCKET))
    state = json.loads((await kv.get(subjects.LIMITS_STATE_KEY)).value or b"")
    assert 94.0 <= state["tokens"] < 94.5


async def test_the_breaker_takes_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    standin: tuple[MessagesStandIn, str],
    nc: Client,
    names: Names,
) -> None:
    monkeypatch.setenv("JIMBOT_BREAKER_CLAUDE_ADVISOR", "2/30/1")
    app, url = standin
    app.mode = "garbage"  # prose instead of JSON is a failure too
    async with claude_advisor(url) as (advisor, _):
        answers = [
            await advisor.advise(
                strategy_request(money=i), kv=_kv(nc, names), deadline=anyio.current_time() + 5
            )
            for i in range(4)
        ]
    assert [a.strategy_name for a in answers] == [
        "fallback:provider_error",
        "fallback:provider_error",
        "fallback:breaker_open",
        "fallback:breaker_open",
    ]
    assert app.calls == 2 and breaker(BREAKER).reset_timeout == 30


def _kv(nc: Client, names: Names) -> Callable[[str], Awaitable[KeyValue]]:
    async def get(suffix: str) -> KeyValue:
        return await nc.jetstream().key_value(names.bucket(suffix))

    return get


async def test_a_slow_claude_is_cut_off_at_the_deadline_and_counts_as_a_failure(
    standin: tuple[MessagesStandIn, str],
    nc: Client,
    names: Names,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0.3 s (not 20 ms) kept to build and send the fallback: room for a loaded machine's
    # scheduling between the cut and the reply. The stand-in hangs 3 s, past the 1.5 s budget.
    monkeypatch.setattr(_advisor, "REPLY_MARGIN", 0.3)
    app, url = standin
    app.mode = "hang"
    subject = names.subject(subjects.RPC_STRATEGY_REQUEST)
    async with claude_advisor(url) as (advisor, config):
        _, endpoint = create_handlers(advisor, config)
        async with running(endpoint, settings=settings, nc=nc):
            started = time.monotonic()
            answer = await request(
                nc, subject, strategy_request(), events_pb2.StrategyResponse, timeout=1.5
            )
            spent = time.monotonic() - started
    assert answer.strategy_name == "fallback:timeout" and answer.recommended_action
    assert spent < 1.5
    assert app.calls == 1 and breaker(BREAKER).fail_counter == 1


async def test_an_action_the_request_does_not_offer_is_refused(
    standin: tuple[MessagesStandIn, str], nc: Client, names: Names
) -> None:
    app, url = standin
    app.action = "buy_joker:1"
    req = strategy_request(available=["play_hand", "discard"])
    async with claude_advisor(url) as (advisor, _):
        answer = await advisor.advise(req, kv=_kv(nc, names), deadline=anyio.current_time() + 5)
    assert answer.strategy_name == "fallback:provider_error"
    assert answer.recommended_action.partition(":")[0] in ("play_hand", "discard")


async def test_a_stale_queued_request_spends_no_claude_call(
    standin: tuple[MessagesStandIn, str], nc: Client, names: Names, settings: Settings
) -> None:
    app, url = standin
    got: list[Msg] = []

    async def keep(msg: Msg) -> None:
        got.append(msg)

    sub = await nc.subscribe(names.subject(subjects.STRATEGY_RESPONSE), cb=keep)
    stale = create_event(strategy_request(), source="test", timestamp=time.time() - 6)
    async with claude_advisor(url) as (advisor, config):
        queue, _ = create_handlers(advisor, config)
        async with running(queue, settings=settings, nc=nc):
            await nc.jetstream().publish(
                names.subject(subjects.STRATEGY_REQUEST), stale.SerializeToString()
            )
            await wait_for(lambda: got)
    await sub.unsubscribe()
    answer = unpack_payload(decode_event_bytes(got[0].data))
    assert isinstance(answer, events_pb2.StrategyResponse)
    assert answer.strategy_name == "fallback:stale" and app.calls == 0


class CountingProvider:
    """One copy's provider: Claude, counting the calls this copy made."""

    def __init__(self, inner: ClaudeProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    async def advise(self, request: events_pb2.StrategyRequest) -> events_pb2.StrategyResponse:
        self.calls += 1
        return await self.inner.advise(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_two_copies_of_the_queue_share_one_token_bucket(
    standin: tuple[MessagesStandIn, str], nc: Client, names: Names, settings: Settings
) -> None:
    app, url = standin
    app.delay = 0.05
    await set_limits(
        nc, names, capacity=4, refill_per_hour=0, burst_capacity=4, burst_refill_per_minute=0
    )
    got: list[Msg] = []

    async def keep(msg: Msg) -> None:
        got.append(msg)

    sub = await nc.subscribe(names.subject(subjects.STRATEGY_RESPONSE), cb=keep)
    config = claude_config(url)
    copies = [CountingProvider(ClaudeProvider(config)) for _ in range(2)]
    conns = [await connect(settings.nats_url or "", name=f"copy-{i}") for i in range(2)]
    try:
        queues = [
            create_handlers(create_advisor(config, provider=p), config, concurrency=2)[0]
            for p in copies
        ]
        a = dataclasses.replace(settings, component_name="copy-a")
        b = dataclasses.replace(settings, component_name="copy-b")
        async with (
            running(queues[0], settings=a, nc=conns[0]),
            running(queues[1], settings=b, nc=conns[1]),
        ):
            for i in range(16):
                event = create_event(strategy_request(money=i), source="test")
                await nc.jetstream().publish(
                    names.subject(subjects.STRATEGY_REQUEST), event.SerializeToString()
                )
            await wait_for(lambda: len(got) == 16, timeout=20)
    finally:
        for provider in copies:
            await provider.aclose()
        for conn in conns:
            await conn.close()
    await sub.unsubscribe()
    answers = [unpack_payload(decode_event_bytes(m.data)) for m in got]
    names_seen = sorted(
        a.strategy_name for a in answers if isinstance(a, events_pb2.StrategyResponse)
    )
    assert names_seen == ["claude"] * 4 + ["fallback:rate_limited"] * 12
    assert app.calls == 4 == sum(p.calls for p in copies)
    # Both copies took work from the one queue.
    assert {(m.headers or {}).get("Jimbot-Source") for m in got} == {"copy-a", "copy-b"}


async def test_racing_buckets_on_two_connections_never_grant_more_than_the_capacity(
    nc: Client, names: Names, nats_url: str
) -> None:
    await set_limits(
        nc, names, capacity=10, refill_per_hour=0, burst_capacity=10, burst_refill_per_minute=0
    )
    conns = [await connect(nats_url, name=f"bucket-{i}") for i in range(2)]
    granted: list[bool] = []
    try:
        kvs = [await c.jetstream().key_value(names.bucket(subjects.LIMITS_BUCKET)) for c in conns]

        async def hammer(kv: KeyValue) -> None:
            bucket = TokenBucket()
            for _ in range(25):
                granted.append((await bucket.take(kv)).granted)

        async with anyio.create_task_group() as tg:
            for kv in kvs:
                for _ in range(3):  # three racing takers per copy
                    tg.start_soon(hammer, kv)
    finally:
        for conn in conns:
            await conn.close()
    assert len(granted) == 150 and granted.count(True) == 10


async def test_shared_buckets_refill_at_the_rate_and_never_exceed_it(
    nc: Client, names: Names, nats_url: str
) -> None:
    # Quota: 3 now, then 4 per second. Pace: bursts of 3, then 10 per second.
    await set_limits(
        nc, names, capacity=3, refill_per_hour=4 * 3600, burst_capacity=3,
        burst_refill_per_minute=600,
    )  # fmt: skip
    conns = [await connect(nats_url, name=f"bucket-{i}") for i in range(2)]
    grants: list[float] = []
    try:
        kvs = [await c.jetstream().key_value(names.bucket(subjects.LIMITS_BUCKET)) for c in conns]
        # The clock starts once connected: the bucket's state starts at the first take (after
        # this), so the upper bounds below hold, and connecting eats none of the window.
        started = time.time()

        async def hammer(kv: KeyValue) -> None:
            bucket = TokenBucket()
            while time.time() - started < 1.5:
                if (await bucket.take(kv)).granted:
                    grants.append(time.time())
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            for kv in kvs:
                tg.start_soon(hammer, kv)
    finally:
        for conn in conns:
            await conn.close()
    elapsed = time.time() - started
    # Never more than the capacity plus what the rate refilled, at any moment.
    for n, at in enumerate(sorted(grants), start=1):
        assert n <= 3 + 4 * (at - started) + 1e-6
    assert len(grants) <= 3 + 4 * elapsed
    # And the refill really arrives: ideally 3 + 5 or 6 in the window; at least 3 refills
    # leaves room for ~0.5 s of stalled takes on a loaded machine.
    assert len(grants) >= 3 + 4 * 0.75


async def test_the_burst_bucket_bounds_back_to_back_calls(nc: Client, names: Names) -> None:
    kv = await set_limits(
        nc, names, capacity=100, refill_per_hour=100, burst_capacity=3, burst_refill_per_minute=0
    )
    bucket = TokenBucket()
    takes = [await bucket.take(kv) for _ in range(6)]
    assert [t.granted for t in takes] == [True] * 3 + [False] * 3
    assert takes[2].tokens == pytest.approx(97, abs=0.1)
    assert takes[3].retry_after == float("inf")  # this pace never refills
