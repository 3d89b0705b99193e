"""Durable consumer definitions: one place that says how a handler's consumer is configured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

if TYPE_CHECKING:
    from subjects._names import Names


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerSpec:
    """A durable pull consumer, relative to a prefix.

    ``max_ack_pending`` is sized from the handler's concurrency by the runtime so the server
    never hands one worker more than it can hold in flight.
    """

    handler: str
    """The handler name; the durable is ``<prefix>_<handler>``."""
    stream: str = "EVENTS"
    """Stream suffix (``EVENTS`` → ``JIMBOT_EVENTS``)."""
    subjects: tuple[str, ...] = field(default_factory=tuple)
    """Relative filter subjects; empty means the whole stream."""
    max_deliver: int = 5
    """Deliveries before the message is dead-lettered."""
    ack_wait: float = 30.0
    """Seconds before an un-acked message is redelivered (in-progress acks extend it)."""
    max_ack_pending: int = 64
    deliver_new: bool = False
    """Start from new messages instead of the whole stream history."""

    def __post_init__(self) -> None:
        if self.max_deliver < 1:
            raise ValueError(f"max_deliver must be >= 1, got {self.max_deliver}")
        if self.ack_wait <= 0:
            raise ValueError(f"ack_wait must be > 0 seconds, got {self.ack_wait}")
        if self.max_ack_pending < 1:
            raise ValueError(f"max_ack_pending must be >= 1, got {self.max_ack_pending}")

    def stream_name(self, names: Names) -> str:
        return names.stream(self.stream)

    def durable(self, names: Names) -> str:
        return names.durable(self.handler)

    def config(self, names: Names) -> ConsumerConfig:
        """The nats-py config for this consumer under ``names``' prefix."""
        filters = [names.subject(s) for s in self.subjects]
        return ConsumerConfig(
            durable_name=self.durable(names),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW if self.deliver_new else DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            max_ack_pending=self.max_ack_pending,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
            description=f"jimbot handler {self.handler}",
        )
