"""Many agents at once: every call answered, each from the agent's own percept."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from schemas import agent_bridge_pb2 as pb
from tests.integration.helpers import running
from tests.interop.harness import client, policies, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

AGENTS = 1000
KINDS = ("battery={i}%", "temperature={i}C", "")


def percept_of(i: int) -> str:
    return KINDS[i % 3].format(i=i)


async def test_a_thousand_agents_at_once_each_get_an_answer_from_their_own_percept(
    settings: Settings, nc: Client
) -> None:
    answers: dict[int, pb.ActionResponse] = {}
    # The 500 ms default budget is for one agent's call; 2,000 calls queued at once on a
    # 2-core machine need more, and the claim here is correctness, not latency (see bench).
    config = BridgeConfig(budget=20.0, percept_rate=0)
    started = time.perf_counter()
    async with (
        policies(decide_endpoint, settings=settings, nc=nc),
        # A second copy, on its own connection, shares the work through the queue group.
        running(decide_endpoint, settings=settings),
        shim(settings, config) as port,
        client(port) as stub,
    ):

        async def agent(i: int) -> None:
            name = f"agent-{i:04d}"
            if percept := percept_of(i):
                ack = await stub.PushPercept(pb.Percept(agent=name, payload=percept))
                assert ack.ok, ack.detail
            context = "search" if i % 2 else f"ctx-{i}"
            answers[i] = await stub.RequestAction(pb.ActionRequest(agent=name, context=context))

        with anyio.fail_after(45):
            async with anyio.create_task_group() as tg:
                for i in range(AGENTS):
                    tg.start_soon(agent, i)
    elapsed = time.perf_counter() - started
    assert len(answers) == AGENTS
    for i, reply in answers.items():
        context = "search" if i % 2 else f"ctx-{i}"
        percept = percept_of(i)
        assert reply.status == pb.ACTION_STATUS_OK, (i, reply.error_detail)
        assert reply.metadata == f"ctx={context}|percept={percept}"
        expected = (
            "recharge" if "battery" in percept
            else "cool_down" if "temperature" in percept
            else "explore" if "search" in context
            else "idle"
        )  # fmt: skip
        assert reply.action == expected
    print(f"{AGENTS} agents in {elapsed:.2f}s")
