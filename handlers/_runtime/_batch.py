"""What a batch handler receives: one :class:`BatchItem` per message of the batch.

A batch consumer (``Consumer(..., batch=1000, batch_wait=0.5)``) is for work that is cheaper
done for many messages at once, such as writing rows to a file. Its handler is called once per
batch with the decoded messages and their metadata; the runtime settles every message after
the handler is done:

* it returns → every message is acked, except the ones it :meth:`~BatchItem.reject`-ed, which
  are terminated (dead letters) with the reason;
* it raises ``PermanentError`` → every message is terminated;
* it raises anything else → every message is nak'd with the growing delay (terminated as
  ``max_deliveries`` once it has been delivered ``max_deliver`` times).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class BatchItem(Generic[T]):
    """One message of a batch: its decoded value and what a handler may need to know of it."""

    value: T
    subject: str
    """The message's full subject."""
    headers: Mapping[str, str]
    deliveries: int
    """1 on the first delivery; > 1 when this message was delivered before."""
    stream_seq: int
    rejected: str | None = None
    """The reason given to :meth:`reject`; ``None`` while the message is to be acked."""

    @property
    def msg_id(self) -> str | None:
        """The message's ``Nats-Msg-Id`` (the event id), if it had one."""
        return self.headers.get("Nats-Msg-Id")

    def reject(self, reason: str | BaseException) -> None:
        """Terminate this message alone (a dead letter with ``reason``); the rest are acked."""
        text = str(reason)
        if isinstance(reason, BaseException):
            text = f"{type(reason).__name__}: {text}" if text else type(reason).__name__
        self.rejected = text or "rejected"


def item_type(annotation: Any, what: str) -> Any:
    """``X`` of a batch handler's first annotation ``list[BatchItem[X]]``."""
    if typing.get_origin(annotation) is list:
        (inner,) = typing.get_args(annotation) or (None,)
        if typing.get_origin(inner) is BatchItem:
            return typing.get_args(inner)[0]
    raise TypeError(
        f"{what}: a batch handler's first parameter must be annotated "
        f"list[BatchItem[<input type>]], got {annotation!r}"
    )
