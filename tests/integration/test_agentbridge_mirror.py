"""The decide copy's mirror of the PERCEPTS bucket: used only when it holds exactly the percept
the shim last stored, so a RequestAction right after a PushPercept always sees the new one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from prometheus_client import REGISTRY

from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from schemas import agent_bridge_pb2 as pb
from tests.integration.helpers import running
from tests.interop.harness import client, policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names


def reads(source: str) -> float:
    return REGISTRY.get_sample_value("agent_percept_reads_total", {"source": source}) or 0.0


async def answered_from_mirror(stub: object, agent: str, expected: str) -> bool:
    """Ask until one answer came from the mirror (it starts on the first digest it sees)."""
    with anyio.fail_after(10):
        while True:
            before = reads("mirror")
            reply = await stub.RequestAction(pb.ActionRequest(agent=agent, context="x"))  # type: ignore[attr-defined]
            assert reply.metadata == f"ctx=x|percept={expected}", reply
            if reads("mirror") > before:
                return True
            await anyio.sleep(0.02)


async def test_a_request_right_after_each_push_sees_that_push(
    settings: Settings, nc: Client
) -> None:
    async with (
        policies(decide_endpoint, settings=settings, nc=nc),
        # Two copies: each request may land on either mirror.
        running(decide_endpoint, settings=settings),
        shim(settings, BridgeConfig(percept_rate=0)) as port,
        client(port) as stub,
    ):
        await stub.PushPercept(pb.Percept(agent="rw", payload="warmup"))
        assert await answered_from_mirror(stub, "rw", "warmup")
        from_mirror, from_kv = reads("mirror"), reads("kv")
        for i in range(200):
            payload = ("battery=3%", "temperature=40C", f"door={i}")[i % 3]
            ack = await stub.PushPercept(pb.Percept(agent="rw", payload=payload))
            assert ack.ok, ack.detail
            reply = await stub.RequestAction(pb.ActionRequest(agent="rw", context="search"))
            assert reply.metadata == f"ctx=search|percept={payload}", (i, reply)
            expected = ("recharge", "cool_down", "explore")[i % 3]
            assert (reply.status, reply.action) == (pb.ACTION_STATUS_OK, expected)
        # Some answers came from a mirror that had caught up, the others from the KV: both
        # are counted, and together they are every request.
        used_mirror, used_kv = reads("mirror") - from_mirror, reads("kv") - from_kv
    assert used_mirror + used_kv == 200
    print(f"mirror {used_mirror:.0f}, kv {used_kv:.0f}")


async def test_a_value_put_by_another_writer_is_read_from_the_kv(
    settings: Settings, nc: Client, names: Names
) -> None:
    kv = await nc.jetstream().key_value(names.bucket("PERCEPTS"))
    async with (
        policies(decide_endpoint, settings=settings, nc=nc),
        shim(settings) as port,
        client(port) as stub,
    ):
        await stub.PushPercept(pb.Percept(agent="other", payload="door=open"))
        assert await answered_from_mirror(stub, "other", "door=open")
        # Someone else writes the key: the shim still vouches for "door=open", the mirror
        # now holds another value, so the digests differ and the KV answers.
        await kv.put("other", b"battery=1%")
        from_kv = reads("kv")
        with anyio.fail_after(10):
            while True:
                reply = await stub.RequestAction(pb.ActionRequest(agent="other", context="x"))
                if reply.metadata == "ctx=x|percept=battery=1%":
                    break
                assert reply.metadata == "ctx=x|percept=door=open", reply
                await anyio.sleep(0.01)
        assert reads("kv") > from_kv
        assert reply.action == "recharge"
        # Deleted: never answered from what the mirror had.
        await kv.delete("other")
        with anyio.fail_after(10):
            while True:
                reply = await stub.RequestAction(pb.ActionRequest(agent="other", context="x"))
                if reply.metadata == "ctx=x|percept=":
                    break
                assert reply.metadata == "ctx=x|percept=battery=1%", reply
                await anyio.sleep(0.01)


async def test_agents_never_get_each_others_percepts_from_the_mirror(
    settings: Settings, nc: Client
) -> None:
    async with (
        policies(decide_endpoint, settings=settings, nc=nc),
        shim(settings) as port,
        client(port) as stub,
    ):
        # Same payload for two agents, then one changes: digests match across agents, keys
        # must not.
        for agent in ("twin-a", "twin-b"):
            assert (await stub.PushPercept(pb.Percept(agent=agent, payload="same"))).ok
        assert await answered_from_mirror(stub, "twin-a", "same")
        assert (await stub.PushPercept(pb.Percept(agent="twin-b", payload="battery=9%"))).ok
        for _ in range(20):
            a = await stub.RequestAction(pb.ActionRequest(agent="twin-a", context="x"))
            b = await stub.RequestAction(pb.ActionRequest(agent="twin-b", context="x"))
            assert a.metadata == "ctx=x|percept=same"
            assert b.metadata == "ctx=x|percept=battery=9%"
