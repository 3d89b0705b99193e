"""The strategy advisor (the spec's ClaudeAdvisor): strategy requests in, strategies out.

Two ways in, one advisor (``handlers/_strategy``: cache → provider within the shared token
bucket and the ``claude_advisor`` breaker → offline fallback):

- **Work queue** ``events.strategy.request``: ``Event``s carrying a ``StrategyRequest``, shared
  by every copy through one durable consumer (``<prefix>_strategy_queue``). Each is answered
  with a ``STRATEGY_RESPONSE`` event on ``events.strategy.response`` whose ``correlation_id``
  is the request event's id (``Nats-Msg-Id`` ``strategy:<request id>``, so a redelivered
  request never answers twice). The spec's 5 s timeout (or the request's ``time_budget_ms``)
  counts from when the request was received: a request picked up after it is still answered,
  at once, by the offline strategist (``strategy_name="fallback:stale"``), because the asker
  may still be listening and a cheap late answer beats silence, while spending Claude tokens
  on a question whose asker has likely moved on would waste the quota, and dead-lettering it
  would file a normal overload as a failure. An event that is not a strategy request is
  dead-lettered.
- **Request-reply** ``rpc.strategy.request`` (ADR-32 service ``<prefix>_strategy_advisor``,
  and the gRPC ``StrategyAdvisor.RequestStrategy`` front): a cached strategy is answered at
  once without calling any provider (``cached=true``); otherwise the advisor computes one
  within the caller's deadline (and at most the 5 s timeout), so a caller always gets an
  answer.

Configuration: ``JIMBOT_STRATEGY_PROVIDER`` (``auto``: Claude when ``ANTHROPIC_API_KEY`` is
set), ``ANTHROPIC_BASE_URL``, ``JIMBOT_STRATEGY_MODEL``, ``JIMBOT_STRATEGY_CACHE_TTL``,
``JIMBOT_STRATEGY_TIMEOUT``, ``JIMBOT_BREAKER_CLAUDE_ADVISOR``; rate limits at run time with
``PUT /api/v1/config/rate_limits``.
"""

from __future__ import annotations

import time

import anyio

import subjects
from handlers import Consumer, Context, Endpoint, PermanentError, run
from handlers._strategy import Advisor, StrategyConfig, create_advisor
from schemas import SchemaDecodeError, create_event, events_pb2, unpack_payload

SOURCE = "strategy_advisor"


def request_age(event: events_pb2.Event, now: float) -> float:
    """Seconds since the request was received (or created); 0 when the event carries no time."""
    stamp = event.received_at if event.HasField("received_at") else event.timestamp
    at = stamp.seconds + stamp.nanos / 1e9
    return max(0.0, now - at) if at > 0 else 0.0


def _strategy_request(event: events_pb2.Event) -> events_pb2.StrategyRequest:
    try:
        payload = unpack_payload(event)
    except SchemaDecodeError as exc:
        raise PermanentError(f"strategy request payload does not parse: {exc}") from exc
    if event.type != events_pb2.STRATEGY_REQUEST or not isinstance(
        payload, events_pb2.StrategyRequest
    ):
        raise PermanentError(
            "not a strategy request: expected a STRATEGY_REQUEST event with a StrategyRequest "
            f"payload, got type {events_pb2.EventType.Name(event.type)} "
            f"({event.payload.type_url or 'no payload'})"
        )
    return payload


def create_handlers(
    advisor: Advisor,
    config: StrategyConfig,
    *,
    queue_name: str = "strategy_queue",
    endpoint_name: str = "strategy_advisor",
    concurrency: int = 16,
) -> tuple[Consumer, Endpoint]:
    """The work-queue consumer and the request-reply endpoint serving ``advisor``."""

    async def answer_queued(event: events_pb2.Event, ctx: Context) -> None:
        """Answer one queued request with a STRATEGY_RESPONSE event."""
        request = _strategy_request(event)
        timeout = request.time_budget_ms / 1000 if request.time_budget_ms > 0 else config.timeout
        age = request_age(event, time.time())
        left = timeout - age
        if left <= 0:
            response = advisor.fallback(request, "stale")
            response.extra.update({"age_seconds": round(age, 3)})
        else:
            deadline = min(ctx.deadline, anyio.current_time() + left)
            response = await advisor.advise(
                request, kv=ctx.kv, deadline=deadline, logger=ctx.logger
            )
        if not response.request_id:
            response.request_id = event.event_id
        out = create_event(response, source=SOURCE, correlation_id=event.event_id)
        if session := event.metadata.get("session"):
            out.metadata["session"] = session
        await ctx.publish(
            subjects.STRATEGY_RESPONSE,
            out,
            msg_id=f"strategy:{event.event_id or ctx.stream_seq}",
            event_type="STRATEGY_RESPONSE",
        )

    async def serve_request(
        request: events_pb2.StrategyRequest, ctx: Context
    ) -> events_pb2.StrategyResponse:
        """The cached strategy, else one computed within the caller's deadline."""
        deadline = min(ctx.deadline, anyio.current_time() + config.timeout)
        return await advisor.advise(request, kv=ctx.kv, deadline=deadline, logger=ctx.logger)

    consumer = Consumer(
        name=queue_name,
        subjects=[subjects.STRATEGY_REQUEST],
        handle=answer_queued,
        concurrency=concurrency,
        max_deliver=5,
        ack_wait=max(30.0, 3 * config.timeout),
    )
    endpoint = Endpoint(
        name=endpoint_name,
        subject=subjects.RPC_STRATEGY_REQUEST,
        handle=serve_request,
        concurrency=64,
        timeout=config.timeout,
        description="jimbot strategy advisor: StrategyRequest -> StrategyResponse (cached first)",
    )
    return consumer, endpoint


# Read at import, so a wrong setting stops the worker at start, not at the first request.
config = StrategyConfig.from_env()
advisor = create_advisor(config)
queue, endpoint = create_handlers(advisor, config)

if __name__ == "__main__":
    raise SystemExit(run([queue, endpoint]))
