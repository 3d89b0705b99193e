"""Hostile input: escaping, oversize and malformed fields, allowlist, metadata cap, floods."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest
from prometheus_client import REGISTRY

import subjects
from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agentpolicy import PolicyRequest
from schemas import agent_bridge_pb2 as pb
from tests.integration.helpers import wait_for_async
from tests.interop.harness import client, meta_of, policies, server_action, shim

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.api import RawStreamMsg

    from subjects import Names

POLICIES = "JIMBOT_AGENT_POLICIES"
HOSTILE_ACTION = 'say "hi"\\ now\r\nthen café ☕'


def hostile_policy(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(
        action=HOSTILE_ACTION,
        meta=[pb.MetaEntry(key="quote", value='a"b'), pb.MetaEntry(key="path", value="c:\\x\ny")],
        status=pb.ACTION_STATUS_PARTIAL,
    )


def wordy_policy(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(
        action="idle",
        metadata="é" * 400,
        meta=[pb.MetaEntry(key=f"k{i}", value="v" * 40) for i in range(20)],
        status=pb.ACTION_STATUS_OK,
    )


def explorer_policy(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(action="explore", status=pb.ACTION_STATUS_OK)


async def test_quotes_backslashes_newlines_and_non_ascii_are_escaped_for_agentspeak(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"*={__name__}:hostile_policy")
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            reply = await stub.RequestAction(pb.ActionRequest(agent="agent_ü", context='"x"'))
    assert reply.action == HOSTILE_ACTION
    assert server_action(reply) == (
        'server_action("say \\"hi\\"\\\\ now  then café ☕", '
        '"quote=a\\"b;path=c:\\\\x y;status=partial")'
    )


async def test_metadata_over_256_bytes_is_cut_and_marked(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"*={__name__}:wordy_policy")
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            reply = await stub.RequestAction(pb.ActionRequest(agent="talker", context="x"))
    meta = meta_of(reply)
    assert meta.pop("truncated") == "meta,metadata"
    assert len(";".join(f"{k}={v}" for k, v in meta.items()).encode()) <= 256
    assert len(reply.metadata.encode()) <= 256
    assert reply.metadata == "é" * 128


async def test_an_action_outside_the_allowlist_becomes_the_fallback(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICIES, f"*={__name__}:explorer_policy")
    config = BridgeConfig(actions=frozenset({"idle", "recharge"}))
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        async with client(port) as stub:
            reply = await stub.RequestAction(pb.ActionRequest(agent="rover", context="x"))
    assert (reply.action, reply.status, reply.error_detail) == (
        "idle",
        pb.ACTION_STATUS_ERROR,
        "action_not_allowed",
    )


BAD_REQUESTS = [
    ("RequestAction", pb.ActionRequest(agent="", context="x"), "agent must be a non-empty"),
    ("RequestAction", pb.ActionRequest(agent="a\x00b", context="x"), "U+0000"),
    ("RequestAction", pb.ActionRequest(agent="a\u202eb", context="x"), "U+202E"),
    ("RequestAction", pb.ActionRequest(agent="x" * 129, context="x"), "longer than 128"),
    ("RequestAction", pb.ActionRequest(agent="a", context="c" * 4097), "limit is 4096"),
    ("RequestAction", pb.ActionRequest(agent="a", context="\x1b[2J"), "U+001B"),
    ("StreamActions", pb.ActionRequest(agent="a\nb", context="x"), "U+000A"),
    ("PushPercept", pb.Percept(agent="a", payload="p" * (64 * 1024 + 1)), "limit is 65536"),
    ("PushPercept", pb.Percept(agent=" ", payload="p"), "agent must be a non-empty"),
]


@pytest.mark.parametrize(("method", "message", "detail"), BAD_REQUESTS)
async def test_invalid_fields_get_invalid_argument_and_a_dead_letter(
    settings: Settings, nc: Client, names: Names, method: str, message: object, detail: str
) -> None:
    body = message.SerializeToString()  # type: ignore[attr-defined]
    status = await _raw_call(settings, method, body)
    assert status[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in status[1]
    dead = await _dead_letter(nc, names)
    headers = dead.headers or {}
    assert dead.data == body
    assert headers[subjects.DLQ_REASON] == "ingest"
    assert detail in headers[subjects.DLQ_ERROR]
    assert headers["Jimbot-Grpc-Method"] == method


async def test_a_body_that_is_not_the_contract_message_is_invalid_argument(
    settings: Settings, nc: Client, names: Names
) -> None:
    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, a length far past the end
    code, detail = await _raw_call(settings, "PushPercept", garbage)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid agentbridge.Percept" in detail
    assert (await _dead_letter(nc, names)).data == garbage


async def test_a_percept_flood_is_rate_limited_per_agent_while_others_are_served(
    settings: Settings, nc: Client, names: Names
) -> None:
    # One token per 4 s after the burst of 5: the 40 calls below must not outlast it (they take
    # ~0.1 s; at 2/s a loaded machine taking 0.5 s let one flooder push through).
    config = BridgeConfig(percept_rate=0.25, percept_burst=5)
    labels = {"method": "PushPercept", "status": "resource_exhausted"}
    before = REGISTRY.get_sample_value("bridge_errors_total", labels) or 0.0
    async with shim(settings, config) as port, client(port) as stub:
        results: list[str] = []
        for i in range(20):
            try:
                ack = await stub.PushPercept(pb.Percept(agent="flooder", payload=f"p{i}"))
                results.append("ok" if ack.ok else "not_ok")
            except grpc.aio.AioRpcError as exc:
                results.append(exc.code().name)
                rejected = exc.details() or ""
            neighbour = await stub.PushPercept(pb.Percept(agent=f"calm{i}", payload="x"))
            assert neighbour.ok
        # The flooder may push again once the wait the last rejection named has passed.
        retry = re.search(r"retry in ([0-9.]+)s", rejected)
        assert retry is not None, rejected
        await anyio.sleep(float(retry.group(1)) + 0.05)
        again = await stub.PushPercept(pb.Percept(agent="flooder", payload="later"))
    assert results[:5] == ["ok"] * 5
    assert set(results[5:]) == {"RESOURCE_EXHAUSTED"}
    assert "faster than 0.25/s" in rejected
    assert again.ok
    assert REGISTRY.get_sample_value("bridge_errors_total", labels) == before + 15
    js = nc.jetstream()
    await wait_for_async(
        lambda: _count(js, names.dlq_stream, names.dlq_ingest_subject("grpc"), 15), timeout=5
    )


async def _count(js: object, stream: str, subject: str, expected: int) -> bool:
    info = await js.stream_info(stream, subjects_filter=subject)  # type: ignore[attr-defined]
    return bool(info.state.messages >= expected)


async def _raw_call(settings: Settings, method: str, body: bytes) -> tuple[object, str]:
    async with shim(settings) as port:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            path = f"/agentbridge.AgentBridge/{method}"
            started = time.perf_counter()
            try:
                if method == "StreamActions":
                    async for _ in channel.unary_stream(path)(body):
                        pass
                else:
                    await channel.unary_unary(path)(body)
            except grpc.aio.AioRpcError as exc:
                assert time.perf_counter() - started < 2
                return exc.code(), exc.details() or ""
    raise AssertionError("the call was not rejected")


async def _dead_letter(nc: Client, names: Names) -> RawStreamMsg:
    js = nc.jetstream()
    subject = names.dlq_ingest_subject("grpc")
    return await js.get_last_msg(names.dlq_stream, subject)
