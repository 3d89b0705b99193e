from __future__ import annotations

import schemas


def test_all_is_sorted_and_lists_every_public_name() -> None:
    public = {name for name in vars(schemas) if not name.startswith("_")}
    submodules = {"events_pb2", "agent_bridge_pb2", "events_pb2_grpc", "agent_bridge_pb2_grpc"}
    submodules.add("analytics")  # schemas.analytics: the analytics store's public module
    assert schemas.__all__ == sorted(schemas.__all__)
    assert public - submodules - {"annotations"} == set(schemas.__all__)


def test_every_exported_member_is_documented() -> None:
    for name in schemas.__all__:
        member = getattr(schemas, name)
        if callable(member) and name != "EventTypeValue":
            assert member.__doc__, name
