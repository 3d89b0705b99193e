"""A real agent loop: the seed's ``python_link`` plans run by the ``agentspeak`` interpreter,
with ``request_action``/``push_percept`` actions that call the shim as the Java environment does
(the reply becomes a ``server_action(...)`` percept parsed from the same escaped text)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import grpc
import pytest

from bridge.agentbridge import BridgeConfig
from handlers import Settings
from handlers.agent_decide import endpoint as decide_endpoint
from schemas import agent_bridge_pb2 as pb
from schemas import agent_bridge_pb2_grpc as pb_grpc
from tests.interop.harness import policies, server_action, shim

if TYPE_CHECKING:
    from nats.aio.client import Client

SKIP = "the agentspeak test dependency is absent (pip install agentspeak)"
agentspeak = pytest.importorskip("agentspeak", reason=SKIP)
runtime = pytest.importorskip("agentspeak.runtime", reason=SKIP)
stdlib = pytest.importorskip("agentspeak.stdlib", reason=SKIP)

AGENT_FILE = Path(__file__).parents[1] / "interop" / "agentspeak" / "python_link.asl"


def parse_percept(text: str) -> Any:
    """Parse ``server_action(...)`` text with the interpreter's own parser, as Jason would."""
    scratch = runtime.Environment().build_agent(
        agentspeak.StringSource("percept", text + ".\n"), stdlib.actions
    )
    (belief,) = scratch.beliefs[("server_action", 2)]
    return agentspeak.Literal(belief.functor, belief.args)


class JavaLikeEnvironment:
    """The two actions of ``GrpcBridgeEnvironment``: a blocking stub, no deadline, no retry."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.AgentBridgeStub(self.channel)
        self.seen: list[str] = []
        self.actions = agentspeak.Actions(stdlib.actions)
        self.actions.add("request_action", 1, self._request_action)
        self.actions.add("push_percept", 1, self._push_percept)

    @staticmethod
    def _text(term: Any, intention: Any) -> str:
        value = agentspeak.grounded(term.args[0], intention.scope)
        return value if isinstance(value, str) else str(value)

    def _request_action(self, agent: Any, term: Any, intention: Any) -> Any:
        request = pb.ActionRequest(agent=agent.name, context=self._text(term, intention))
        text = server_action(self.stub.RequestAction(request))
        self.seen.append(text)
        agent.beliefs[("server_action", 2)].clear()  # the environment clears old percepts
        agent.call(
            agentspeak.Trigger.addition,
            agentspeak.GoalType.belief,
            parse_percept(text),
            runtime.Intention(),
            delayed=True,
        )
        yield

    def _push_percept(self, agent: Any, term: Any, intention: Any) -> Any:
        self.stub.PushPercept(pb.Percept(agent=agent.name, payload=self._text(term, intention)))
        yield


async def test_the_python_link_agent_gets_idle_then_cool_down_and_survives_a_policy_outage(
    settings: Settings, nc: Client
) -> None:
    env = runtime.Environment()
    async with shim(settings, BridgeConfig(budget=0.5)) as port:
        bridge = JavaLikeEnvironment(port)
        with AGENT_FILE.open() as source:
            agent = env.build_agent(source, bridge.actions, name="python_link")

        def again() -> None:
            agent.call(
                agentspeak.Trigger.addition,
                agentspeak.GoalType.achievement,
                agentspeak.Literal("again"),
                runtime.Intention(),
                delayed=True,
            )
            env.run()

        with anyio.fail_after(30):
            async with policies(decide_endpoint, settings=settings, nc=nc):
                await anyio.to_thread.run_sync(env.run)
            await anyio.to_thread.run_sync(again)  # no decide handler now
            async with policies(decide_endpoint, settings=settings, nc=nc):
                await anyio.to_thread.run_sync(again)
        bridge.channel.close()
    beliefs = [str(b) for b in agent.beliefs[("server_action", 2)]]
    assert bridge.seen == [
        'server_action("idle", "ctx_len=7;percept_len=0")',
        'server_action("cool_down", "ctx_len=6;percept_len=15")',
        'server_action("idle", ";status=error;detail=no_policy")',
        'server_action("cool_down", "ctx_len=6;percept_len=15")',
    ]
    assert len(beliefs) == 1 and "cool_down" in beliefs[0]


def test_hostile_text_parses_back_to_the_same_strings_in_agentspeak() -> None:
    # ASCII only: python-agentspeak decodes string literals with `unicode_escape`, which
    # mangles non-ASCII text (Jason's own parser does not); the shim passes it through intact.
    reply = pb.ActionResponse(
        action='say "hi"\\ now\r\nthen (done)',
        meta=[pb.MetaEntry(key="q", value='a"b\\c')],
        status=pb.ACTION_STATUS_ERROR,
        error_detail="policy_timeout",
    )
    literal = parse_percept(server_action(reply))
    assert literal.args == (
        'say "hi"\\ now  then (done)',
        'q=a"b\\c;status=error;detail=policy_timeout',
    )
