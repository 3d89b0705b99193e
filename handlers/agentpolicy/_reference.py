"""The reference Python server's behaviour, kept as the default policies.

The seed's ``server.py`` decided from the agent's latest percept and the request's context;
an existing Jason MAS was written against exactly these answers, so they stay the default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from schemas import agent_bridge_pb2 as pb


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """What a policy decides from: who asks, in what context, and their latest percept."""

    agent: str
    context: str
    percept: str
    """The agent's latest ``PushPercept`` payload; ``""`` when it never pushed one."""
    data: Any = None
    """The percept read by ``JIMBOT_AGENT_PERCEPT_FORMAT``: the text itself (``text``), the
    JSON value (``json``), a ``{key: value}`` dict (``kv``), or what your parser returns;
    ``None`` without a percept or for one that does not fit the format."""


def choose_action(context: str, percept: str) -> str:
    """First match wins: battery → recharge, temperature → cool_down, search → explore."""
    if "battery" in percept:
        return "recharge"
    if "temperature" in percept:
        return "cool_down"
    if "search" in context:
        return "explore"
    return "idle"


def reference_decide(request: PolicyRequest) -> pb.ActionResponse:
    """The reference answer, with its legacy ``metadata`` and its ``meta`` entries."""
    return pb.ActionResponse(
        action=choose_action(request.context, request.percept),
        metadata=f"ctx={request.context}|percept={request.percept}",
        meta=[
            pb.MetaEntry(key="ctx_len", value=str(len(request.context))),
            pb.MetaEntry(key="percept_len", value=str(len(request.percept))),
        ],
        status=pb.ACTION_STATUS_OK,
    )


async def reference_stream(request: PolicyRequest) -> AsyncIterator[pb.ActionResponse]:
    """The reference stream: ``step_0``, ``step_1``, ``step_2`` with ``index`` meta."""
    for index in range(3):
        yield pb.ActionResponse(
            action=f"step_{index}",
            meta=[pb.MetaEntry(key="index", value=str(index))],
            status=pb.ACTION_STATUS_OK,
        )
