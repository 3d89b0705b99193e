"""The Jason bridge's decide endpoint: answers ``rpc.agent.decide`` (``agentbridge.ActionRequest``
→ ``agentbridge.ActionResponse``) for the gRPC shim's ``RequestAction``.

Rule: read the agent's latest percept from the ``PERCEPTS`` KV bucket (``""`` if none; from
this process's mirror of the bucket when the shim's ``Jimbot-Percept-Digest`` header matches
it, see :mod:`handlers.agentpolicy._percepts`), pick the agent's policy from
``JIMBOT_AGENT_POLICIES`` (default: the reference server's — battery → ``recharge``,
temperature → ``cool_down``, ``search`` in the context → ``explore``, else ``idle``, with
``metadata="ctx=<context>|percept=<percept>"`` and ``ctx_len``/``percept_len`` meta), and
answer with its response. A response without a status is marked OK.

Errors: a policy raising :class:`ServiceError` answers with its code; a bad policy table or a
policy returning something else than an ``ActionResponse`` answers ``500``; the caller's
deadline (``Jimbot-Deadline-Ms``) bounds the policy, and past it the answer is ``504``. The
shim turns each of these into an ``ERROR`` response with a safe action.

Publishes nothing: the shim publishes the ``agent.action`` event for what it answered.
"""

from __future__ import annotations

import inspect

import subjects
from handlers import Context, Endpoint, ServiceError, run
from handlers.agentpolicy import PolicyConfigError, latest_percept, policy_for, policy_request
from schemas import agent_bridge_pb2 as pb


async def decide(request: pb.ActionRequest, ctx: Context) -> pb.ActionResponse:
    """The configured policy's answer for this agent, from its latest percept."""
    percept = await latest_percept(
        ctx.js, ctx.names, request.agent, digest=ctx.headers.get(subjects.PERCEPT_DIGEST)
    )
    try:
        policy = policy_for(request.agent)
        asked = policy_request(request.agent, request.context, percept)
    except PolicyConfigError as exc:
        ctx.logger.error("%s", exc)
        raise ServiceError("500", "agent policy configuration is invalid") from exc
    result = policy(asked)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, pb.ActionResponse):
        ctx.logger.error("policy for %r returned %s", request.agent, type(result).__name__)
        raise ServiceError("500", "the agent policy returned no ActionResponse")
    if result.status == pb.ACTION_STATUS_UNSPECIFIED:
        result.status = pb.ACTION_STATUS_OK
    return result


endpoint = Endpoint(
    name="agent_decide",
    subject=subjects.RPC_AGENT_DECIDE,
    handle=decide,
    concurrency=256,
    description="Jason AgentBridge: next action for an agent (per-agent policies)",
)

if __name__ == "__main__":
    raise SystemExit(run([endpoint]))
