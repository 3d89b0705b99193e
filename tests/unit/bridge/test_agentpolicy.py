"""Agent policies: the reference rule, per-agent tables, and the stream wire protocol."""

from __future__ import annotations

import pytest

import handlers.agent_stream as producer
from bridge.agentbridge import _relay as consumer
from handlers.agent_decide import endpoint as decide_endpoint
from handlers.agent_stream import endpoint as stream_endpoint
from handlers.agentpolicy import (
    PolicyConfigError,
    PolicyRequest,
    choose_action,
    parse_table,
    policy_for,
    reference_decide,
    reference_stream,
    stream_policy_for,
)
from schemas import agent_bridge_pb2 as pb


@pytest.mark.parametrize(
    ("context", "percept", "action"),
    [
        ("startup", "", "idle"),
        ("search", "temperature=32C", "cool_down"),
        ("search", "battery=3% temperature=40C", "recharge"),
        ("please search", "", "explore"),
        ("SEARCH", "Battery", "idle"),
    ],
)
def test_the_reference_rule_first_match_wins(context: str, percept: str, action: str) -> None:
    assert choose_action(context, percept) == action


def test_the_reference_answer_carries_metadata_and_meta() -> None:
    reply = reference_decide(PolicyRequest("python_link", "startup", ""))
    assert (
        reply.SerializeToString()
        == pb.ActionResponse(
            action="idle",
            metadata="ctx=startup|percept=",
            meta=[
                pb.MetaEntry(key="ctx_len", value="7"),
                pb.MetaEntry(key="percept_len", value="0"),
            ],
            status=pb.ACTION_STATUS_OK,
        ).SerializeToString()
    )


async def test_the_reference_stream_is_three_indexed_steps() -> None:
    items = [i async for i in reference_stream(PolicyRequest("a", "", ""))]
    assert [(i.action, i.meta[0].value) for i in items] == [
        ("step_0", "0"),
        ("step_1", "1"),
        ("step_2", "2"),
    ]


def mine(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(action="mine")


def rovers(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(action="rover")


def fallback(request: PolicyRequest) -> pb.ActionResponse:
    return pb.ActionResponse(action="fallback")


def test_exact_name_then_first_glob_then_star_then_reference() -> None:
    here = __name__
    table = parse_table(
        f"rover_*={here}:rovers, rover_1={here}:mine, r*={here}:mine, *={here}:fallback",
        variable="V",
        default=reference_decide,
    )
    assert table.for_agent("rover_1") is mine
    assert table.for_agent("rover_2") is rovers
    assert table.for_agent("robot") is mine
    assert table.for_agent("python_link") is fallback
    assert parse_table("", variable="V", default=reference_decide).for_agent("x") is (
        reference_decide
    )


def test_policies_come_from_the_environment() -> None:
    env = {"JIMBOT_AGENT_POLICIES": f"a={__name__}:mine"}
    assert policy_for("a", env) is mine
    assert policy_for("b", env) is reference_decide
    assert stream_policy_for("a", {}) is reference_stream


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("agent", "missing '<agent>='"),
        ("a=nomodule", "is not 'module:attribute'"),
        ("a=no.such.module:x", "cannot import 'no.such.module'"),
        (f"a={__name__}:nothing", "has no 'nothing'"),
        (f"a={__name__}:__doc__", "is not callable"),
    ],
)
def test_a_bad_entry_is_named_with_its_variable(raw: str, message: str) -> None:
    with pytest.raises(PolicyConfigError) as info:
        parse_table(raw, variable="JIMBOT_AGENT_POLICIES", default=reference_decide)
    assert message in str(info.value)
    assert str(info.value).startswith("JIMBOT_AGENT_POLICIES: entry")


def test_both_sides_of_the_stream_protocol_use_the_same_headers() -> None:
    for name in ("STREAM_INBOX", "STREAM_WINDOW", "STREAM_SEQ", "STREAM_ACK", "STREAM_CANCEL"):
        assert getattr(producer, name) == getattr(consumer, name)


def test_the_endpoints_serve_the_agent_subjects() -> None:
    assert decide_endpoint.subject == "rpc.agent.decide"
    assert stream_endpoint.subject == "rpc.agent.stream"
    assert decide_endpoint.input_codec.type is pb.ActionRequest
    assert stream_endpoint.output_codec.type is pb.ActionResponse
