"""Pluggable percept serialization (the bridge seed's roadmap): with a format set, the shim
refuses payloads that do not fit it and policies get the parsed percept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

import subjects
from bridge.agentbridge import BridgeConfig
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agentpolicy import PERCEPT_FORMAT_ENV, POLICIES_ENV, PolicyRequest
from schemas import agent_bridge_pb2 as pb
from schemas import percept_format
from tests.interop.harness import client, meta_of, policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

    from handlers import Settings
    from subjects import Names


def by_data(request: PolicyRequest) -> pb.ActionResponse:
    """Acts on the parsed percept: cool down above 30 degrees, else idle."""
    data = request.data if isinstance(request.data, dict) else {}
    hot = float(data.get("temperature", 0)) > 30
    return pb.ActionResponse(
        action="cool_down" if hot else "idle",
        meta=[pb.MetaEntry(key="data", value=repr(request.data))],
        status=pb.ACTION_STATUS_OK,
    )


@pytest.mark.parametrize(
    ("fmt", "payload", "seen"),
    [
        ("json", '{"temperature": 32, "door": "open"}', "{'temperature': 32, 'door': 'open'}"),
        ("kv", "temperature=32; door=open", "{'temperature': '32', 'door': 'open'}"),
    ],
)
async def test_the_policy_decides_from_the_parsed_percept(
    settings: Settings,
    nc: Client,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    payload: str,
    seen: str,
) -> None:
    monkeypatch.setenv(POLICIES_ENV, f"*={__name__}:by_data")
    monkeypatch.setenv(PERCEPT_FORMAT_ENV, fmt)
    config = BridgeConfig(percept_format=percept_format(fmt))
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings, config) as port:
        async with client(port) as stub:
            before = await stub.RequestAction(pb.ActionRequest(agent="thermo", context="x"))
            ack = await stub.PushPercept(pb.Percept(agent="thermo", payload=payload))
            after = await stub.RequestAction(pb.ActionRequest(agent="thermo", context="x"))
    assert ack.ok
    assert (before.action, meta_of(before)["data"]) == ("idle", "None")
    assert (after.action, meta_of(after)["data"]) == ("cool_down", seen)


async def test_a_payload_that_does_not_fit_is_refused_and_kept(
    settings: Settings, nc: Client, names: Names
) -> None:
    config = BridgeConfig(percept_format=percept_format("json"))
    bad = pb.Percept(agent="thermo", payload="temperature=32C")
    async with shim(settings, config) as port:
        async with client(port) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.PushPercept(bad)
            ok = await stub.PushPercept(pb.Percept(agent="thermo", payload='{"t": 32}'))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("percept payload is not json: not JSON")
    assert ok.ok
    js = nc.jetstream()
    letter = await js.get_last_msg(names.dlq_stream, names.dlq_ingest_subject("grpc"))
    assert letter.data == bad.SerializeToString()
    assert "percept payload is not json" in (letter.headers or {})[subjects.DLQ_ERROR]
    kept = await (await js.key_value(names.bucket("PERCEPTS"))).get(subjects.percept_key("thermo"))
    assert kept.value == b'{"t": 32}'  # only the payload that fits was stored


async def test_a_format_that_does_not_load_is_an_error_answer_not_a_crash(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PERCEPT_FORMAT_ENV, "xml")
    async with policies(decide_endpoint, settings=settings, nc=nc), shim(settings) as port:
        async with client(port) as stub:
            reply = await stub.RequestAction(pb.ActionRequest(agent="thermo", context="x"))
    assert reply.status == pb.ACTION_STATUS_ERROR
    assert reply.error_detail == "policy_error:500"
    assert reply.action == "idle"
