"""The AgentBridge contract, byte for byte: the existing Java client must work unchanged."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from schemas import agent_bridge_pb2 as ab

VECTORS: list[tuple[Message, str]] = [
    (
        ab.Percept(agent="python_link", payload="temperature=32C"),
        "0a0b707974686f6e5f6c696e6b120f74656d70657261747572653d333243",
    ),
    (
        ab.ActionRequest(agent="python_link", context="startup"),
        "0a0b707974686f6e5f6c696e6b120773746172747570",
    ),
    (ab.Ack(ok=True, detail="percept stored"), "0801120e706572636570742073746f726564"),
    (
        ab.ActionResponse(
            action="idle", status=ab.ACTION_STATUS_ERROR, error_detail="policy_timeout"
        ),
        "0a0469646c6520022a0e706f6c6963795f74696d656f7574",
    ),
]


@pytest.mark.parametrize(("message", "wire"), VECTORS, ids=lambda v: type(v).__name__)
def test_serializes_to_the_contract_vector(message: Message, wire: str) -> None:
    assert message.SerializeToString().hex() == wire


@pytest.mark.parametrize(("message", "wire"), VECTORS, ids=lambda v: type(v).__name__)
def test_parses_the_contract_vector(message: Message, wire: str) -> None:
    assert type(message).FromString(bytes.fromhex(wire)) == message


def test_package_java_options_and_service() -> None:
    file = ab.DESCRIPTOR
    assert file.package == "agentbridge"
    assert file.GetOptions().java_multiple_files is True
    assert file.GetOptions().java_package == "org.jason.grpc.proto"
    assert file.GetOptions().java_outer_classname == "AgentBridgeProto"
    service = file.services_by_name["AgentBridge"]
    methods = {m.name: m for m in service.methods}
    assert set(methods) == {"PushPercept", "RequestAction", "StreamActions"}
    assert methods["PushPercept"].input_type.name == "Percept"
    assert methods["PushPercept"].output_type.name == "Ack"
    assert methods["RequestAction"].input_type.name == "ActionRequest"
    assert methods["RequestAction"].output_type.name == "ActionResponse"
    assert methods["StreamActions"].input_type.name == "ActionRequest"
    assert methods["StreamActions"].output_type.name == "ActionResponse"
    assert methods["StreamActions"].server_streaming
    assert not methods["StreamActions"].client_streaming
    assert not methods["RequestAction"].server_streaming


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ("Percept", {"agent": 1, "payload": 2}),
        ("Ack", {"ok": 1, "detail": 2}),
        ("ActionRequest", {"agent": 1, "context": 2}),
        ("MetaEntry", {"key": 1, "value": 2}),
        (
            "ActionResponse",
            {"action": 1, "metadata": 2, "meta": 3, "status": 4, "error_detail": 5},
        ),
    ],
)
def test_field_numbers(message: str, fields: dict[str, int]) -> None:
    desc = ab.DESCRIPTOR.message_types_by_name[message]
    assert {f.name: f.number for f in desc.fields} == fields


def test_action_status_is_a_top_level_enum() -> None:
    enum = ab.DESCRIPTOR.enum_types_by_name["ActionStatus"]
    assert {v.name: v.number for v in enum.values} == {
        "ACTION_STATUS_UNSPECIFIED": 0,
        "ACTION_STATUS_OK": 1,
        "ACTION_STATUS_ERROR": 2,
        "ACTION_STATUS_PARTIAL": 3,
    }


def test_grpc_method_paths() -> None:
    from schemas import agent_bridge_pb2_grpc

    assert agent_bridge_pb2_grpc.AgentBridgeStub.__init__.__doc__ is not None
    service = ab.DESCRIPTOR.services_by_name["AgentBridge"]
    paths = {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert paths == {
        "/agentbridge.AgentBridge/PushPercept",
        "/agentbridge.AgentBridge/RequestAction",
        "/agentbridge.AgentBridge/StreamActions",
    }
