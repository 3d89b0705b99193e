"""Client helpers shared by handlers and edges: connect, publish with the standard headers,
and typed request-reply that carries the caller's deadline.

Edges (``bridge/``) use these so a message from the gateway looks exactly like one from a
handler: ``Nats-Msg-Id``, ``Content-Type``, ``Jimbot-Event-Type``, ``Jimbot-Source`` and W3C
trace context on every message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError

from handlers._runtime._breakers import request_breaker
from handlers._runtime._codec import codec_for, encode_any
from handlers._runtime._errors import DeadlineExceeded, ServiceError
from handlers._runtime._telemetry import inject_trace, producer_span, tracing_enabled
from schemas import JimbotError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.api import PubAck
    from nats.js.client import JetStreamContext

T = TypeVar("T")
log = logging.getLogger("jimbot.nats")

DEADLINE_HEADER = "Jimbot-Deadline-Ms"
"""The caller's remaining budget in milliseconds when it sent the request."""
EVENT_TYPE_HEADER = "Jimbot-Event-Type"
SOURCE_HEADER = "Jimbot-Source"
ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"


class BusUnavailable(JimbotError):
    """Raised when NATS (or JetStream) cannot be reached or did not store a message."""


@contextmanager
def map_nats_errors(url: str = "") -> Iterator[None]:
    """Translate nats-py's connection failures into :class:`BusUnavailable`, once."""
    try:
        yield
    except (NoServersError, ConnectionClosedError, OSError) as exc:
        where = f" at {url}" if url else ""
        raise BusUnavailable(
            f"cannot reach NATS{where}: start it with `jimbot up`, or set NATS_URL to a running "
            "server"
        ) from exc
    except NoStreamResponseError as exc:
        raise BusUnavailable(
            "JetStream did not answer for this subject: run `jimbot provision` (is JetStream on?)"
        ) from exc


async def connect(url: str, *, name: str = "jimbot", **options: Any) -> Client:
    """Dial NATS with reconnects on; the first failure raises :class:`BusUnavailable`."""
    nc = NATS()

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc or type(exc).__name__)

    async def on_disconnect() -> None:
        if not (nc.is_closed or nc.is_draining):
            log.warning("nats: disconnected from %s; reconnecting", url)

    async def on_reconnect() -> None:
        log.warning("nats: reconnected to %s", url)

    opts: dict[str, Any] = {
        "name": name,
        "error_cb": on_error,
        "disconnected_cb": on_disconnect,
        "reconnected_cb": on_reconnect,
        "connect_timeout": 2,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "allow_reconnect": True,
    }
    opts.update(options)
    forever = opts["max_reconnect_attempts"]
    # nats-py retries even the first dial `max_reconnect_attempts` times (-1 and 0: forever):
    # give up after one retry, so a wrong URL is one clear error, then reconnect as configured.
    opts["max_reconnect_attempts"] = 1
    with map_nats_errors(url):
        await nc.connect(servers=[url], **opts)
    nc.options["max_reconnect_attempts"] = forever
    return nc


def standard_headers(
    content_type: str,
    *,
    msg_id: str | None = None,
    event_type: str | None = None,
    source: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers every jimbot message carries, with the current trace context."""
    headers = dict(extra or {})
    headers["Content-Type"] = content_type
    if msg_id:
        headers["Nats-Msg-Id"] = msg_id
    if event_type:
        headers[EVENT_TYPE_HEADER] = event_type
    if source:
        headers[SOURCE_HEADER] = source
    return inject_trace(headers)


async def publish(
    js: JetStreamContext,
    subject: str,
    value: object,
    *,
    msg_id: str | None = None,
    event_type: str | None = None,
    source: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> PubAck:
    """Publish to JetStream and wait for the store's ack (dedup by ``msg_id``)."""
    data, content_type = encode_any(value)
    with producer_span(f"{subject} publish", {"messaging.destination.name": subject}):
        hdrs = standard_headers(
            content_type, msg_id=msg_id, event_type=event_type, source=source, extra=headers
        )
        with map_nats_errors():
            try:
                return await js.publish(subject, data, headers=hdrs, timeout=timeout)
            except NatsTimeoutError as exc:
                raise BusUnavailable(f"JetStream did not ack {subject} within {timeout}s") from exc


class _LinkDown(BusUnavailable):
    """Raised when a request timed out because the NATS connection itself was down."""

    breaker_neutral = True
    """The bus failed, not the service asked: its breaker does not count it."""


async def _send(
    nc: Client, subject: str, data: bytes, budget: float, headers: dict[str, str]
) -> Msg:
    try:
        return await nc.request(subject, data, timeout=budget, headers=headers)
    except NoRespondersError as exc:
        raise ServiceError("503", f"no service answers {subject}") from exc
    except NatsTimeoutError as exc:
        if not nc.is_connected:
            raise _LinkDown(
                f"the NATS connection was lost while asking {subject}; it reconnects by itself"
            ) from exc
        raise DeadlineExceeded(f"no answer from {subject} within {budget:.3f}s") from exc


async def _exchange(
    nc: Client, subject: str, data: bytes, budget: float, headers: dict[str, str]
) -> Msg:
    """One request and its reply; an ADR-32 error reply raises :class:`ServiceError`."""
    if tracing_enabled():
        with producer_span(f"{subject} request", {"messaging.destination.name": subject}):
            reply = await _send(nc, subject, data, budget, inject_trace(headers))
    else:
        reply = await _send(nc, subject, data, budget, headers)
    reply_headers = reply.headers
    if reply_headers and ERROR_CODE_HEADER in reply_headers:
        raise ServiceError(
            reply_headers[ERROR_CODE_HEADER], reply_headers.get(ERROR_HEADER, "error")
        )
    return reply


async def request(
    nc: Client,
    subject: str,
    value: object,
    response_type: type[T],
    *,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    guard: bool = True,
) -> T:
    """A typed request whose deadline travels with it, guarded by a circuit breaker.

    The budget is ``timeout``, or what is left of the current anyio deadline, whichever is
    sooner; the server sees it in ``Jimbot-Deadline-Ms`` and stops working when it runs out.
    The breaker is the one of the service asked (``rpc.decision.get`` → ``decision``, see
    ``handlers._runtime._breakers``): no responders, timeouts and 5xx answers count as its
    failures; once open, the request fails fast without being sent.

    Args:
        guard: ``False`` sends without a breaker (probes that expect failures).

    Raises:
        ServiceError: the endpoint answered with an ADR-32 error (code and description);
            ``503`` when nobody serves the subject.
        CircuitOpen: the service's breaker is open (a ``ServiceError`` 503 too).
        DeadlineExceeded: no answer within the budget.
        BusUnavailable: the NATS connection was down.
    """
    remaining = anyio.current_effective_deadline() - anyio.current_time()
    budget = min(timeout if timeout is not None else 5.0, remaining)
    if budget <= 0:
        raise DeadlineExceeded("no time left to send the request")
    data, _ = encode_any(value)
    # Only the deadline (and trace context) travel: the endpoint decodes by its annotation,
    # and every header costs encoding on this hot path.
    hdrs = dict(headers) if headers else {}
    hdrs[DEADLINE_HEADER] = str(max(1, math.floor(budget * 1000)))
    if guard:
        cb = request_breaker(subject)
        reply = await cb.guard(partial(_exchange, nc, subject, data, budget, hdrs))
    else:
        reply = await _exchange(nc, subject, data, budget, hdrs)
    codec = codec_for(cast("Any", response_type))
    result: T = codec.decode(reply.data)
    return result
