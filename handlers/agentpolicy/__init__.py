"""Agent policies for the Jason bridge: the reference behaviour and per-agent plug-ins.

A decide policy is any callable ``PolicyRequest -> agentbridge.ActionResponse``, sync or
async; a stream policy returns an async iterator (or an iterable) of ``ActionResponse``. The
agent's latest percept comes from the ``PERCEPTS`` KV bucket, so policies stay stateless and
any number of handler copies can serve. A sync policy runs on the event loop: keep it quick,
or make it ``async`` and move heavy work off the loop yourself.

Configuration (see :mod:`handlers.agentpolicy._table`)::

    JIMBOT_AGENT_POLICIES="python_link=mypkg.policy:decide,*=mypkg.policy:default"
    JIMBOT_AGENT_STREAM_POLICIES="planner_*=mypkg.plans:steps"
    JIMBOT_AGENT_PERCEPT_FORMAT=json      # PolicyRequest.data: the percept's JSON value
"""

from __future__ import annotations

from handlers.agentpolicy._percepts import latest_percept
from handlers.agentpolicy._reference import (
    PolicyRequest,
    choose_action,
    reference_decide,
    reference_stream,
)
from handlers.agentpolicy._table import (
    POLICIES_ENV,
    STREAM_POLICIES_ENV,
    Policy,
    PolicyConfigError,
    PolicyTable,
    StreamPolicy,
    load_target,
    parse_table,
    policy_for,
    policy_request,
    stream_policy_for,
)
from schemas import PERCEPT_FORMAT_ENV
from subjects import percept_key

__all__ = [
    "PERCEPT_FORMAT_ENV",
    "POLICIES_ENV",
    "STREAM_POLICIES_ENV",
    "Policy",
    "PolicyConfigError",
    "PolicyRequest",
    "PolicyTable",
    "StreamPolicy",
    "choose_action",
    "latest_percept",
    "load_target",
    "parse_table",
    "percept_key",
    "policy_for",
    "policy_request",
    "reference_decide",
    "reference_stream",
    "stream_policy_for",
]
