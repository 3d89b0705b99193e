"""The declaration API: a handler is one plain value naming what it consumes or serves.

    consumer = Consumer(name="score_hand", subjects=[subjects.HAND_PLAYED], handle=score_hand)
    endpoint = Endpoint(name="decision", subject=subjects.RPC_DECISION_GET, handle=decide)

The input and output types come from ``handle``'s annotations, so the declaration stays short.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers._runtime._batch import item_type
from handlers._runtime._codec import Codec, codec_for
from subjects import ConsumerSpec

_NAME_RULE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

HandleFn = Callable[[Any, Any], Awaitable[Any]]


def _annotations(fn: HandleFn, what: str) -> tuple[Any, Any]:
    """The input and return types of ``handle``, evaluated in its module.

    Only these two are evaluated (the ``ctx`` annotation may well be a TYPE_CHECKING import);
    they must be importable at run time because the runtime decodes with them.
    """
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{what}: handle must be an `async def` taking (value, ctx)")
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise TypeError(f"{what}: handle must take exactly (value, ctx), got {params}")
    raw = inspect.get_annotations(fn)
    if params[0] not in raw:
        raise TypeError(f"{what}: annotate the first parameter of handle with its input type")

    def evaluate(annotation: Any) -> Any:
        if not isinstance(annotation, str):
            return annotation
        try:
            return eval(annotation, getattr(fn, "__globals__", {}))
        except NameError as exc:
            raise TypeError(
                f"{what}: cannot resolve annotation {annotation!r} ({exc}); the input and "
                "return types must be imported at run time, not under TYPE_CHECKING"
            ) from None

    return evaluate(raw[params[0]]), evaluate(raw.get("return", None))


def _check_name(name: str) -> None:
    if not _NAME_RULE.match(name):
        raise ValueError(
            f"handler name {name!r}: use 1-48 characters of a-z, 0-9 and '_', "
            "starting with a letter"
        )


@dataclass(frozen=True, kw_only=True)
class Consumer:
    """A JetStream handler: a durable pull consumer whose messages go to ``handle``.

    The outcome follows from ``handle``: it returns → ack (and the returned value, if any, is
    published to ``publish_to``); it raises ``PermanentError`` → term; anything else → nak with
    a growing delay, dead letter after ``max_deliver`` deliveries.

    With ``batch=N`` the handler takes ``(items: list[BatchItem[T]], ctx)`` and is called once
    per batch of up to N messages gathered for at most ``batch_wait`` seconds; the outcome
    applies to every message of the batch, except those it rejects (see ``BatchItem``).
    """

    name: str
    """Handler name; also the durable consumer (``<prefix>_<name>``) and ``jimbot run`` name."""
    subjects: Sequence[str]
    """Relative subjects to consume (``subjects.GAME_STATE_UPDATE``); empty: the whole stream."""
    handle: HandleFn
    stream: str = "EVENTS"
    """Stream suffix (``EVENTS`` → ``<PREFIX>_EVENTS``)."""
    concurrency: int = 16
    """Messages processed at once; also the fetch batch and ``max_ack_pending``."""
    max_deliver: int = 5
    ack_wait: float = 30.0
    """Seconds before an un-acked message is redelivered; in-progress acks extend it."""
    retry_delay: float = 0.5
    """First nak delay in seconds; it doubles per delivery up to ``max_retry_delay``."""
    max_retry_delay: float = 30.0
    publish_to: str | None = None
    """Relative subject for the returned value; ``None`` when ``handle`` returns nothing."""
    deliver_new: bool = False
    """Start at new messages rather than the stream's history."""
    batch: int | None = None
    """Messages per call of a batch handler; also its in-flight limit (``concurrency`` unused)."""
    batch_wait: float = 0.5
    """Seconds a batch's first message waits for more before the batch is handled."""
    input_codec: Codec = field(init=False, repr=False)
    output_codec: Codec | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.concurrency < 1:
            raise ValueError(f"consumer {self.name!r}: concurrency must be >= 1")
        if self.retry_delay <= 0 or self.max_retry_delay < self.retry_delay:
            raise ValueError(f"consumer {self.name!r}: need 0 < retry_delay <= max_retry_delay")
        in_type, out_type = _annotations(self.handle, f"consumer {self.name!r}")
        returns = out_type not in (None, type(None))
        if self.batch is not None:
            if self.batch < 1 or self.batch_wait <= 0:
                raise ValueError(f"consumer {self.name!r}: need batch >= 1 and batch_wait > 0")
            if returns or self.publish_to is not None:
                raise ValueError(
                    f"consumer {self.name!r}: a batch handler returns None and publishes "
                    "through ctx.publish, not publish_to"
                )
            in_type = item_type(in_type, f"consumer {self.name!r}")
        object.__setattr__(self, "input_codec", codec_for(in_type))
        if returns and self.publish_to is None:
            raise ValueError(
                f"consumer {self.name!r}: handle returns a value; say where it goes with publish_to"
            )
        object.__setattr__(self, "output_codec", codec_for(out_type) if returns else None)
        # Validates max_deliver / ack_wait with the rule stated once, in subjects.
        self.spec()

    def spec(self) -> ConsumerSpec:
        """The durable consumer definition (``subjects`` provisions it)."""
        return ConsumerSpec(
            handler=self.name,
            stream=self.stream,
            subjects=tuple(self.subjects),
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
            max_ack_pending=self.in_flight_limit,
            deliver_new=self.deliver_new,
        )

    @property
    def in_flight_limit(self) -> int:
        """Messages taken from the server and not yet settled, at most."""
        return self.batch if self.batch is not None else self.concurrency

    def retry_delay_for(self, deliveries: int) -> float:
        """Nak delay after the ``deliveries``-th failed delivery: 1×, 2×, 4×… the base."""
        return float(min(self.retry_delay * 2 ** max(deliveries - 1, 0), self.max_retry_delay))


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A request-reply handler, served as an ADR-32 micro-service endpoint.

    ``handle`` returns the typed response; it raises ``ServiceError`` for an error reply.
    """

    name: str
    """Handler name; the service is ``<prefix>_<name>`` in ``nats micro ls``."""
    subject: str
    """Relative request subject (``subjects.RPC_DECISION_GET``)."""
    handle: HandleFn
    concurrency: int = 64
    """Requests in flight at once in this process."""
    timeout: float = 5.0
    """Budget in seconds when the caller sent no deadline."""
    description: str = ""
    version: str = "0.1.0"
    input_codec: Codec = field(init=False, repr=False)
    output_codec: Codec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.concurrency < 1:
            raise ValueError(f"endpoint {self.name!r}: concurrency must be >= 1")
        if self.timeout <= 0:
            raise ValueError(f"endpoint {self.name!r}: timeout must be > 0 seconds")
        in_type, out_type = _annotations(self.handle, f"endpoint {self.name!r}")
        if out_type in (None, type(None)):
            raise ValueError(f"endpoint {self.name!r}: handle must return the response type")
        object.__setattr__(self, "input_codec", codec_for(in_type))
        object.__setattr__(self, "output_codec", codec_for(out_type))


Handler = Consumer | Endpoint
