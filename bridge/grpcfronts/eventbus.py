"""The spec's ``EventBus`` over gRPC, for components that prefer gRPC to a NATS client.

``PublishEvent`` checks the event (see ``_eventcheck``), fills the gateway's defaults, stores it
on its subject in the EVENTS stream with ``Nats-Msg-Id`` = ``event_id`` and answers only after
JetStream acknowledged it: ``stored`` (new) or ``duplicate`` (an event with this id was stored
before; ``stream_sequence`` is the earlier copy's). A bad event is ``INVALID_ARGUMENT`` and kept
raw under ``dlq.ingest.grpc``; NATS down or slow is ``UNAVAILABLE``: retry with the same id.

``SubscribeEvents`` streams stored events in stream order from a pull consumer on the EVENTS
stream filtered by ``types`` and relative ``subjects``, from ``start_time`` (else only new
events). Without ``durable`` the consumer is ephemeral and deleted when the call ends (cancel,
disconnect, deadline). With ``durable`` it is the named consumer ``<prefix>_grpc_<durable>``:
each event is acknowledged once written to the call, so the next call with that name resumes
after it (``start_time`` only matters when the durable is created; events that were written but
not yet read by a client that cancels count as delivered). Events are written one at a time and
the next ones pulled only as the client reads, so a slow client slows the consumer. An event's
``traceparent``/``tracestate`` headers travel in its ``metadata``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from functools import partial
from typing import TYPE_CHECKING, NoReturn

import grpc
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError, NotFoundError

from bridge._cleanup import finish
from bridge.grpcfronts._eventcheck import check_event, fill_defaults, relative_subject
from bridge.grpcfronts._filters import check_durable, filter_subjects
from bridge.grpcfronts._pull import BusClosed, ConsumerGone, EventsLost, Puller
from bridge.grpcfronts._rejects import InvalidInput, Rejects, parse
from bridge.grpcfronts._tracectx import TRACE_KEYS, continued, trace_metadata
from handlers import standard_headers
from schemas import (
    SchemaDecodeError,
    decode_event_bytes,
    encode_event,
    events_pb2,
    type_string,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from google.protobuf.message import Message
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from subjects import Names

log = logging.getLogger("jimbot.grpcfronts")

SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventBus"].full_name
EVENT_CONTENT_TYPE = "application/protobuf; messageType=jimbot.events.v1.Event"
ACK_TIMEOUT = 2.0
"""Seconds JetStream has to store a published event (less when the client's deadline is)."""
EPHEMERAL_IDLE = 30.0
"""Seconds after which the server drops an ephemeral consumer nobody reads (a crashed front)."""
DURABLE_IDLE = 7 * 24 * 3600.0
"""Seconds a durable subscription survives unread: the events' own retention."""
DURABLE_ACK_WAIT = 30.0
"""Seconds an event written to a durable's call may wait for the write before it comes again."""
GIVE_BACK_TIMEOUT = 5.0
"""Seconds a cancelled durable call may take to give back what it did not deliver."""


def _method_path(method: str) -> str:
    return f"/{SERVICE}/{method}"


class EventBusFront:
    """Serves ``jimbot.events.v1.EventBus`` on one NATS connection under one prefix."""

    def __init__(self, nc: Client, names: Names) -> None:
        self.nc = nc
        self.names = names
        self.rejects = Rejects(nc, names, consumer="grpc_eventbus")

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to a ``grpc.aio`` server (requests arrive as bytes)."""

        def out(message: Message) -> bytes:
            return message.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "PublishEvent": grpc.unary_unary_rpc_method_handler(
                    self.publish_event, response_serializer=out
                ),
                # Writes bytes: a stored event goes out as stored, without a re-encode.
                "SubscribeEvents": grpc.unary_stream_rpc_method_handler(self.subscribe_events),
            },
        )

    # --- PublishEvent ---------------------------------------------------------------------

    async def publish_event(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> events_pb2.PublishResponse:
        """Store the event; answer once JetStream has it."""
        method = _method_path("PublishEvent")
        try:
            event = parse(events_pb2.Event, body)
            check_event(event)
        except InvalidInput as exc:
            await self.rejects.refuse(
                context, method, "jimbot.events.v1.Event", body, str(exc), intended=""
            )
        fill_defaults(event)
        subject = self.names.subject(relative_subject(event))
        if not self.nc.is_connected:
            await _unavailable(context, "the event bus (NATS) is not connected; retry later")
        remaining: float | None = context.time_remaining()
        timeout = ACK_TIMEOUT if remaining is None else max(min(ACK_TIMEOUT, remaining), 0.001)
        carrier = trace_metadata(context)
        with continued(carrier):
            headers = standard_headers(
                EVENT_CONTENT_TYPE,
                msg_id=event.event_id,
                event_type=type_string(event),
                source=event.source,
                extra=carrier,
            )
            try:
                ack = await self.nc.jetstream().publish(
                    subject, encode_event(event), headers=headers, timeout=timeout
                )
            except NoStreamResponseError:
                await _unavailable(
                    context,
                    f"no stream stores {subject}: run `jimbot provision` (is JetStream on?)",
                )
            except (NatsTimeoutError, TimeoutError):
                await _unavailable(
                    context,
                    f"JetStream did not store the event within {timeout:.3f}s; retry with the "
                    "same event_id (retries are deduplicated)",
                )
            except Exception as exc:
                await _unavailable(
                    context, f"JetStream refused the event ({exc or type(exc).__name__}); retry"
                )
        duplicate = bool(ack.duplicate)
        return events_pb2.PublishResponse(
            event_id=event.event_id,
            stored=not duplicate,
            duplicate=duplicate,
            stream_sequence=ack.seq,
            subject=subject,
        )

    # --- SubscribeEvents ------------------------------------------------------------------

    async def subscribe_events(self, body: bytes, context: grpc.aio.ServicerContext) -> None:
        """Write the matching stored events to the call until it ends."""
        method = _method_path("SubscribeEvents")
        try:
            request = parse(events_pb2.SubscribeRequest, body)
            filters = filter_subjects(request, self.names)
            durable = check_durable(request.durable) if request.durable else None
            start = _start_time(request)
        except InvalidInput as exc:
            await self.rejects.refuse(
                context, method, "jimbot.events.v1.SubscribeRequest", body, str(exc)
            )
        if not self.nc.is_connected:
            await _unavailable(context, "the event bus (NATS) is not connected; retry later")
        stream = self.names.events_stream
        consumer = await self._open_consumer(context, stream, filters, start, durable)
        try:
            await self._relay(context, stream, consumer, acked=durable is not None)
        except (ConsumerGone, BusClosed) as exc:
            await _unavailable(context, f"{exc}; subscribe again")
        except ConnectionClosedError:
            await _unavailable(context, "the event bus connection (NATS) was closed; retry")
        except EventsLost as exc:
            await context.abort(
                grpc.StatusCode.ABORTED,
                f"{exc}; subscribe again with start_time at the last event you received",
            )
        finally:
            if durable is None:
                await finish(partial(self._delete, stream, consumer), within=2.0)

    async def _relay(
        self, context: grpc.aio.ServicerContext, stream: str, consumer: str, *, acked: bool
    ) -> None:
        puller = Puller(self.nc, stream, consumer, check_gaps=not acked)
        current: Msg | None = None
        async with puller:
            try:
                while True:
                    current = await puller.next()
                    data = _outgoing(current)
                    if data is not None:
                        try:
                            await context.write(data)
                        except Exception:
                            if context.done():
                                return  # the client went away while it was being written
                            raise
                    if acked:
                        await current.ack()
                    current = None
            finally:
                if acked:
                    # Give back what this call took but did not deliver, so the next call on
                    # the durable gets it at once and first, not after the ack wait. The one
                    # being written goes back first: with one event in flight it is what
                    # holds the durable. It runs to its end even if the call is cancelled.
                    await finish(partial(_give_back_all, puller, current), within=GIVE_BACK_TIMEOUT)

    async def _open_consumer(
        self,
        context: grpc.aio.ServicerContext,
        stream: str,
        filters: list[str],
        start: dt.datetime | None,
        durable: str | None,
    ) -> str:
        js = self.nc.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME if start else DeliverPolicy.NEW,
            opt_start_time=start,
            filter_subjects=filters,
        )
        try:
            if durable is None:
                config.name = f"{self.names.durable('grpc')}_{uuid.uuid4().hex[:16]}"
                config.ack_policy = AckPolicy.NONE
                config.inactive_threshold = EPHEMERAL_IDLE
                config.mem_storage = True
                config.num_replicas = 1
                return (await js.add_consumer(stream, config)).name
            name = f"{self.names.durable('grpc')}_{durable}"
            try:
                info = await js.consumer_info(stream, name)
            except NotFoundError:
                config.name = config.durable_name = name
                config.ack_policy = AckPolicy.EXPLICIT
                config.ack_wait = DURABLE_ACK_WAIT
                # One event in flight: the next call on this durable gets, first, the one a
                # cancelled call had not written yet; strict order costs a NATS hop per event.
                config.max_ack_pending = 1
                config.inactive_threshold = DURABLE_IDLE
                return (await js.add_consumer(stream, config)).name
            existing = info.config.filter_subjects or [info.config.filter_subject or ""]
            if sorted(existing) != sorted(filters):
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"durable {durable!r} exists with the filters {sorted(existing)}, not "
                    f"{sorted(filters)}: resume with the same types and subjects, or use "
                    "another name",
                )
            return name
        except BadRequestError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"JetStream refused the subscription: {exc}"
            )
        except NotFoundError:
            await _unavailable(
                context, f"the stream {stream} does not exist: run `jimbot provision`"
            )
        except APIError as exc:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"JetStream refused the subscription: {exc}"
            )
        except (NatsTimeoutError, TimeoutError):
            await _unavailable(context, "JetStream did not answer; retry later")
        raise AssertionError("unreachable")

    async def _delete(self, stream: str, consumer: str) -> None:
        try:
            await self.nc.jetstream().delete_consumer(stream, consumer)
        except NotFoundError:
            pass
        except Exception as exc:  # it expires by itself after EPHEMERAL_IDLE
            log.warning("could not delete consumer %s: %s", consumer, exc or type(exc).__name__)


def _start_time(request: events_pb2.SubscribeRequest) -> dt.datetime | None:
    if not request.HasField("start_time"):
        return None
    try:
        return request.start_time.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"start_time is not a time (seconds={request.start_time.seconds}, "
            f"nanos={request.start_time.nanos})"
        ) from None


def _outgoing(msg: Msg) -> bytes | None:
    """The bytes to write for a stored message; ``None`` for one that is not an ``Event``."""
    try:
        event = decode_event_bytes(msg.data)
    except SchemaDecodeError as exc:
        log.warning("skipping %s seq %s: %s", msg.subject, msg.metadata.sequence.stream, exc)
        return None
    trace = _trace_headers(msg.headers)
    if not trace or all(event.metadata.get(k) == v for k, v in trace.items()):
        return msg.data
    event.metadata.update(trace)
    return encode_event(event)


def _trace_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    return {k: headers[k] for k in TRACE_KEYS if k in headers}


async def _unavailable(context: grpc.aio.ServicerContext, detail: str) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAVAILABLE, detail)
    raise AssertionError("context.abort returned")


def add(server: grpc.aio.Server, nc: Client, names: Names) -> str:
    """Serve ``EventBus`` on ``server``; its full service name."""
    server.add_generic_rpc_handlers((EventBusFront(nc, names).handler(),))
    return SERVICE


async def _give_back_all(puller: Puller, current: Msg | None) -> None:
    """Close ``puller`` and ``nak`` what the call took but did not deliver, ``current`` first."""
    left = await puller.close()
    for msg in left if current is None else [current, *left]:
        await _give_back(msg)


async def _give_back(msg: Msg) -> None:
    """``nak`` a message this call took but did not deliver; it is redelivered at once."""
    try:
        await msg.nak()
    except Exception as exc:  # redelivered after the ack wait anyway
        log.debug("nak: %s", exc or type(exc).__name__)
