"""The small context a handler receives next to its typed input."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from handlers._runtime import _client
from handlers._runtime._telemetry import TRACE_HEADERS, tracing_enabled

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.api import PubAck
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from subjects import Names

T = TypeVar("T")


@dataclass(kw_only=True)
class Context:
    """What a handler may use besides its input: publish, request, KV, a logger, the deadline.

    Publishing from a consumer handler derives each ``Nats-Msg-Id`` from the input message,
    so when the input is redelivered after a crash its outputs are deduplicated, not doubled.
    """

    handler: str
    names: Names
    nc: Client
    js: JetStreamContext
    subject: str
    headers: Mapping[str, str]
    logger: logging.LoggerAdapter[logging.Logger]
    deliveries: int = 1
    """1 on the first delivery; > 1 when this is a retry."""
    stream_seq: int | None = None
    source: str = "jimbot"
    expires_at: float = math.inf
    """Absolute anyio time when the caller stops waiting (request-reply)."""
    _kv: dict[str, KeyValue] = field(default_factory=dict)
    _published: int = 0

    @property
    def msg_id(self) -> str | None:
        """The input's ``Nats-Msg-Id`` (the event id), if it had one."""
        return self.headers.get("Nats-Msg-Id")

    @property
    def deadline(self) -> float:
        """Absolute anyio time when this work must be done (``inf`` when unbounded)."""
        return min(self.expires_at, anyio.current_effective_deadline())

    def _derived_msg_id(self) -> str:
        self._published += 1
        base = self.msg_id or (f"seq{self.stream_seq}" if self.stream_seq else None)
        if base is None:
            import uuid

            return uuid.uuid4().hex
        return f"{base}:{self.handler}:{self._published}"

    async def publish(
        self,
        subject: str,
        value: object,
        *,
        msg_id: str | None = None,
        event_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck:
        """Publish ``value`` to the relative ``subject`` and wait for JetStream's ack."""
        headers = self._with_trace(headers)
        return await _client.publish(
            self.js,
            self.names.subject(subject),
            value,
            msg_id=msg_id or self._derived_msg_id(),
            event_type=event_type,
            source=self.source,
            headers=headers,
        )

    async def request(
        self, subject: str, value: object, response_type: type[T], *, timeout: float = 5.0
    ) -> T:
        """Typed request-reply to a relative subject, within this handler's own deadline.

        Guarded by the asked service's circuit breaker: while it is open this raises
        :class:`CircuitOpen` at once (a ``RetryableError``, so a consumer naks until the
        breaker lets a trial through; a 503 ``ServiceError``, so an endpoint answers 503).
        """
        return await _client.request(
            self.nc,
            self.names.subject(subject),
            value,
            response_type,
            timeout=timeout,
            headers=self._with_trace(None),
        )

    def _with_trace(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """Without a tracing SDK there is no current span: carry the input's context on."""
        if tracing_enabled():
            return headers
        carried = {k: self.headers[k] for k in TRACE_HEADERS if k in self.headers}
        if not carried:
            return headers
        return {**carried, **(headers or {})}

    async def kv(self, suffix: str) -> KeyValue:
        """The KV bucket ``<PREFIX>_<suffix>`` (e.g. ``"PERCEPTS"``), bound once per context."""
        if suffix not in self._kv:
            self._kv[suffix] = await self.js.key_value(self.names.bucket(suffix))
        return self._kv[suffix]

    def log_extra(self, **fields: Any) -> dict[str, Any]:
        return {"handler": self.handler, "subject": self.subject, **fields}
