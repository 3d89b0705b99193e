"""The ``agentbridge.AgentBridge`` service: exactly the methods the Java client calls.

Requests arrive as raw bytes and are parsed here, so a body that is not the contract's message
(bad wire data, invalid UTF-8) is answered ``INVALID_ARGUMENT`` and kept as a dead letter like
any other rejected input, instead of dying inside gRPC's deserializer as ``INTERNAL``.

``RequestAction`` always answers within its budget: the client's deadline when it sent one
(less a small margin to send the answer), else ``JIMBOT_AGENT_BUDGET_MS``. Every way the policy
can fail becomes an ``ERROR`` answer with the configured safe action and an ``error_detail``:
``policy_timeout``, ``no_policy``, ``policy_error:<code>``, ``circuit_open`` (the policy's
circuit breaker is open: answered at once, without asking), ``bus_unavailable``,
``action_not_allowed`` or ``invalid_action``. Each is also an error event on
``events.error.agentbridge`` (action ``FALLBACK``, rate-limited per kind).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from google.protobuf.message import DecodeError, Message
from nats.errors import NoRespondersError

import subjects
from bridge._budget import call_budget
from bridge.agentbridge._bus import Bus
from bridge.agentbridge._checks import (
    MAX_CONTEXT_BYTES,
    InvalidInput,
    cap_metadata,
    check_action,
    check_agent,
    check_text,
    fallback,
)
from bridge.agentbridge._metrics import Outcome, measured, status_of
from bridge.agentbridge._ratelimit import RateLimiter
from bridge.agentbridge._relay import StreamFailed, detail_for_code, relay
from bridge.agentbridge._stored import StoredPercepts
from handlers import (
    BusUnavailable,
    CircuitOpen,
    DeadlineExceeded,
    ErrorReporter,
    ServiceError,
    request,
)
from schemas import agent_bridge_pb2 as pb
from subjects import PERCEPT_DIGEST, percept_digest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

    from bridge.agentbridge._config import BridgeConfig
    from subjects import Names

log = logging.getLogger("jimbot.agentbridge")

SERVICE = "agentbridge.AgentBridge"
REPLY_MARGIN = 0.05
"""Seconds kept from a client's deadline to send the fallback before the client gives up."""


def _parse(cls: type[Message], body: bytes) -> Any:
    try:
        return cls.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise InvalidInput(f"body is not a valid {cls.DESCRIPTOR.full_name}: {exc}") from None


class AgentBridgeService:
    """Serves the contract on top of NATS; one instance per server."""

    def __init__(
        self,
        nc: Client,
        names: Names,
        config: BridgeConfig,
        *,
        errors: ErrorReporter | None = None,
    ) -> None:
        self.nc = nc
        self.names = names
        self.config = config
        self.errors = errors
        self.bus = Bus(nc, names)
        self.limiter = RateLimiter(config.percept_rate, config.percept_burst)
        self.stored = StoredPercepts()
        """Digests of the percepts this shim stored, sent with RequestAction (see _stored)."""
        self._decide_subject = names.subject(subjects.RPC_AGENT_DECIDE)

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to a ``grpc.aio`` server."""

        def out(message: Message) -> bytes:
            return message.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "PushPercept": grpc.unary_unary_rpc_method_handler(
                    self.push_percept, response_serializer=out
                ),
                "RequestAction": grpc.unary_unary_rpc_method_handler(
                    self.request_action, response_serializer=out
                ),
                "StreamActions": grpc.unary_stream_rpc_method_handler(
                    self.stream_actions, response_serializer=out
                ),
            },
        )

    async def _reject(
        self,
        context: grpc.aio.ServicerContext,
        outcome: Outcome,
        method: str,
        body: bytes,
        code: grpc.StatusCode,
        detail: str,
        *,
        intended: str,
    ) -> NoReturn:
        outcome.status = code.name.lower()
        await self.bus.dead_letter(method, body, detail, intended=intended)
        await context.abort(code, detail)
        raise RuntimeError("context.abort returned")  # it raises; this keeps the types honest

    async def push_percept(self, body: bytes, context: grpc.aio.ServicerContext) -> pb.Ack:
        """Store the percept (event + KV); ``ok`` only once JetStream has both."""
        with measured("PushPercept") as outcome:
            try:
                percept: pb.Percept = _parse(pb.Percept, body)
                check_agent(percept.agent)
                check_text("payload", percept.payload, self.config.max_percept_bytes)
                if misfit := self.config.percept_format.check(percept.payload):
                    raise InvalidInput(misfit)
            except InvalidInput as exc:
                await self._reject(
                    context,
                    outcome,
                    "PushPercept",
                    body,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    str(exc),
                    intended=subjects.AGENT_PERCEPT,
                )
            if not self.limiter.admit(percept.agent):
                wait = self.limiter.retry_after(percept.agent)
                await self._reject(
                    context,
                    outcome,
                    "PushPercept",
                    body,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"agent {percept.agent!r} pushes percepts faster than "
                    f"{self.config.percept_rate:g}/s; retry in {wait:.2f}s",
                    intended=subjects.AGENT_PERCEPT,
                )
            remaining: float | None = context.time_remaining()
            ticket = self.stored.begin(percept.agent)
            try:
                revision = await self.bus.store_percept(
                    percept.agent,
                    percept.payload,
                    timeout=remaining if remaining is not None else self.bus.ack_timeout,
                )
            except BusUnavailable as exc:
                self.stored.failed(ticket)
                outcome.status = "not_stored"
                return pb.Ack(ok=False, detail=f"percept not stored: {exc}; retry later")
            except BaseException:
                self.stored.failed(ticket)  # cancelled: it may have been stored all the same
                raise
            self.stored.stored(ticket, revision, percept_digest(percept.payload.encode()))
            return pb.Ack(ok=True, detail="percept stored")

    def _budget(self, context: grpc.aio.ServicerContext, default: float) -> float:
        return call_budget(context.time_remaining(), default, REPLY_MARGIN)

    async def _check_request(
        self, method: str, body: bytes, context: grpc.aio.ServicerContext, outcome: Outcome
    ) -> pb.ActionRequest:
        try:
            req: pb.ActionRequest = _parse(pb.ActionRequest, body)
            check_agent(req.agent)
            check_text("context", req.context, MAX_CONTEXT_BYTES)
        except InvalidInput as exc:
            intended = (
                subjects.RPC_AGENT_DECIDE
                if method == "RequestAction"
                else subjects.RPC_AGENT_STREAM
            )
            await self._reject(
                context,
                outcome,
                method,
                body,
                grpc.StatusCode.INVALID_ARGUMENT,
                str(exc),
                intended=intended,
            )
        return req

    def _finish(self, response: pb.ActionResponse) -> pb.ActionResponse:
        """Apply the output rules: a bad or disallowed action becomes the fallback."""
        if detail := check_action(response.action, self.config.actions):
            log.warning("policy answered a rejected action (%s)", detail)
            response = fallback(self.config.fallback_action, detail)
        cap_metadata(response)
        return response

    async def _decide(self, req: pb.ActionRequest, budget: float) -> pb.ActionResponse:
        fb = self.config.fallback_action
        if not self.nc.is_connected:
            return fallback(fb, "bus_unavailable")
        digest = self.stored.digest(req.agent)
        try:
            return await request(
                self.nc,
                self._decide_subject,
                req,
                pb.ActionResponse,
                timeout=budget,
                headers={PERCEPT_DIGEST: digest} if digest is not None else None,
            )
        except DeadlineExceeded:
            return fallback(fb, "policy_timeout")
        except CircuitOpen:
            return fallback(fb, "circuit_open")
        except ServiceError as exc:
            if isinstance(exc.__cause__, NoRespondersError):
                return fallback(fb, "no_policy")
            return fallback(fb, detail_for_code(exc.code))
        except BusUnavailable:
            return fallback(fb, "bus_unavailable")
        except Exception as exc:
            log.warning("decide request failed: %s", exc or type(exc).__name__)
            return fallback(fb, "bus_unavailable")

    def _report_fallback(self, method: str, agent: str, detail: str) -> None:
        """An error event for a fallback answer: the agent got the safe action, not a policy's."""
        if self.errors is None:
            return
        kind = status_of(detail)
        # The policy is gone or broken for everyone; a late or odd answer may be one agent's.
        severe = kind in ("no_policy", "bus_unavailable") or detail == "policy_error:500"
        self.errors.report(
            severity="ERROR" if severe else "WARNING",
            action="FALLBACK",
            message=f"{method} for agent {agent!r} answered the fallback action: {detail}",
            error_type=kind,
            affected=["agent_decide"],
            context={"error_detail": detail, "agent": agent, "method": method},
        )

    async def request_action(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> pb.ActionResponse:
        """The policy's answer within the budget, or the fallback saying why not."""
        with measured("RequestAction") as outcome:
            req = await self._check_request("RequestAction", body, context, outcome)
            budget = self._budget(context, self.config.budget)
            # The NATS request carries its own timeout; this scope is the guarantee that the
            # Java client, which sets no deadline, is answered whatever else is slow.
            # (asyncio's scope: grpc.aio runs its handlers as asyncio tasks, and it costs a
            # fraction of an anyio cancel scope on this per-request path.)
            decided: pb.ActionResponse | None = None
            try:
                async with asyncio.timeout(budget + 0.005):
                    decided = await self._decide(req, budget)
            except TimeoutError:
                decided = None
            if decided is None:
                decided = fallback(self.config.fallback_action, "policy_timeout")
            response = self._finish(decided)
            if response.status == pb.ACTION_STATUS_ERROR:
                outcome.status = status_of(response.error_detail)
                self._report_fallback("RequestAction", req.agent, response.error_detail)
            await self.bus.audit(req, response)
            return response

    async def stream_actions(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ActionResponse]:
        """Relay the policy's stream; the client's reading pace paces the policy."""
        with measured("StreamActions") as outcome:
            req = await self._check_request("StreamActions", body, context, outcome)
            budget = self._budget(context, self.config.stream_budget)
            subject = self.names.subject(subjects.RPC_AGENT_STREAM)
            try:
                if not self.nc.is_connected:
                    raise StreamFailed("bus_unavailable")
                items = relay(
                    self.nc, subject, req, window=self.config.stream_window, budget=budget
                )
                async with aclosing(items):
                    async for item in items:
                        response = self._finish(item)
                        await self.bus.audit(req, response)
                        yield response
            except StreamFailed as exc:
                outcome.status = status_of(exc.detail)
                self._report_fallback("StreamActions", req.agent, exc.detail)
                response = fallback(self.config.fallback_action, exc.detail)
                await self.bus.audit(req, response)
                yield response
