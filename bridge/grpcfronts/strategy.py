"""``jimbot.events.v1.StrategyAdvisor`` over gRPC: ``RequestStrategy`` is one NATS request to
``rpc.strategy.request``, bounded by the client's deadline (or the spec's 5 s without one).

The advisor answers from its cache at once, otherwise computes within that budget, so the
only errors a client sees are about reaching it: ``UNAVAILABLE`` when no advisor runs or NATS
is down, ``DEADLINE_EXCEEDED`` when the budget ran out, ``INVALID_ARGUMENT`` when the advisor
refused the request, ``INTERNAL`` for anything else; each with a detail that says what to do.
A 503 (nobody answers, or this process's breaker for the advisor is open) is ``UNAVAILABLE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError

import subjects
from handlers import BusUnavailable, DeadlineExceeded, ServiceError, request
from schemas import events_pb2, events_pb2_grpc

if TYPE_CHECKING:
    from nats.aio.client import Client

    from subjects import Names

SERVICE = "jimbot.events.v1.StrategyAdvisor"
DEFAULT_BUDGET = 5.0
"""The spec's strategy timeout, for a client that sets no deadline."""


class StrategyAdvisorFront(events_pb2_grpc.StrategyAdvisorServicer):
    """Relays each call to whichever copy of the strategy advisor answers first."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc = nc
        self.subject = names.subject(subjects.RPC_STRATEGY_REQUEST)

    async def RequestStrategy(
        self, req: events_pb2.StrategyRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.StrategyResponse:
        remaining = context.time_remaining()
        budget = DEFAULT_BUDGET if remaining is None else max(remaining - 0.01, 0.001)
        try:
            return await request(
                self.nc, self.subject, req, events_pb2.StrategyResponse, timeout=budget
            )
        except DeadlineExceeded:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the strategy advisor did not answer within {budget:.3f}s",
            )
        except ServiceError as exc:
            if isinstance(exc.__cause__, NoRespondersError):
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    "no strategy advisor is running: start it with `jimbot run strategy_advisor`",
                )
            if exc.code == "503":  # e.g. this caller's breaker for the advisor is open
                await context.abort(grpc.StatusCode.UNAVAILABLE, exc.description)
            code = grpc.StatusCode.INTERNAL
            if exc.code == "400":
                code = grpc.StatusCode.INVALID_ARGUMENT
            await context.abort(code, f"strategy advisor error {exc.code}: {exc.description}")
        except (BusUnavailable, NatsError) as exc:
            detail = str(exc) or type(exc).__name__
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"event bus unavailable: {detail}")
        raise AssertionError("context.abort returned")  # it raises; this keeps the types honest


def add(server: grpc.aio.Server, nc: Client, names: Names) -> str:
    """Register the front on ``server``; the full service name."""
    events_pb2_grpc.add_StrategyAdvisorServicer_to_server(StrategyAdvisorFront(nc, names), server)
    return SERVICE
