"""Reading a JetStream pull consumer one message at a time, paced by the reader.

nats-py's ``fetch(n)`` waits for a whole batch (up to its timeout) once a first message came,
which would hold a live event back for seconds. This is the loop nats.go's ``Consume`` runs:
pull requests of ``batch`` messages with an ``expires`` and an idle heartbeat, a new request
whenever fewer than half a batch is outstanding, each message handed over as it arrives.

Flow control comes for free: a request goes out only when the reader has taken enough of the
previous one, so at most ``1.5 × batch`` messages wait here, and a slow reader slows the
consumer. A missed heartbeat (the request was lost, e.g. in a reconnect) sends a new one after
checking the consumer still exists. With ``check_gaps`` a jump in the consumer sequence (a
message lost in transit: nothing should drop one, but nothing may skip one silently either)
raises :class:`EventsLost`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import anyio
from nats.js.errors import NotFoundError

from schemas import JimbotError

if TYPE_CHECKING:
    from types import TracebackType

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

log = logging.getLogger("jimbot.grpcfronts")

STATUS = "Status"
DESCRIPTION = "Description"
PENDING_MESSAGES = "Nats-Pending-Messages"
DRAIN_TIMEOUT = 2.0
"""Seconds the server has to confirm that an inbox being closed will get nothing more."""


class ConsumerGone(JimbotError):
    """Raised when the consumer being read was deleted (by an operator, or after a long
    outage outlasted its inactivity threshold)."""

    def __init__(self, stream: str, consumer: str) -> None:
        self.stream, self.consumer = stream, consumer
        super().__init__(f"consumer {consumer} of stream {stream} no longer exists")


class BusClosed(JimbotError):
    """Raised when the NATS connection was closed while a consumer was being read."""

    def __init__(self) -> None:
        super().__init__("the event bus connection (NATS) was closed")


class EventsLost(JimbotError):
    """Raised when the consumer sequence jumps: messages after ``after`` never arrived."""

    def __init__(self, after: int, missing: int) -> None:
        self.after, self.missing = after, missing
        super().__init__(f"{missing} event(s) after stream sequence {after} were lost in transit")


class Puller:
    """Messages of one pull consumer, in the order the consumer delivers them.

    Use as ``async with Puller(...) as puller: msg = await puller.next()``.
    """

    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        *,
        batch: int = 32,
        expires: float = 10.0,
        heartbeat: float = 1.0,
        check_gaps: bool = False,
    ) -> None:
        if batch < 2 or heartbeat * 2 >= expires:
            raise ValueError("batch must be >= 2 and the heartbeat under half of expires")
        self.nc, self.stream, self.consumer = nc, stream, consumer
        self.batch, self.expires, self.heartbeat = batch, expires, heartbeat
        self.check_gaps = check_gaps
        self.pending = 0
        """Messages asked for and neither received nor released by the server yet."""
        self._last: tuple[int, int] | None = None  # (consumer seq, stream seq) of the last one
        self._sub: Subscription | None = None
        self._inbox = ""

    async def __aenter__(self) -> Puller:
        self._inbox = self.nc.new_inbox()
        # Generous: idle heartbeats pile up here while the reader is blocked on a slow client.
        self._sub = await self.nc.subscribe(self._inbox, pending_msgs_limit=1 << 16)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> list[Msg]:
        """Drop the inbox; the messages that arrived but were never taken (to ``nak`` them).

        ``Subscription.drain`` tells the server first and keeps receiving until it answers a
        ping. The server sends nothing more to a pull request nobody listens to, and what it
        had sent already is caught here rather than dropped on arrival, where it would wait
        out the whole ack wait. A message given back afterwards cannot land here again.
        """
        if self._sub is None:
            return []
        sub, self._sub = self._sub, None
        queue = sub._pending_queue
        arrived: list[Msg | None] = []

        async def collect() -> None:
            while True:
                arrived.append(await queue.get())
                queue.task_done()  # drain waits for every queued message to be taken

        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                tg.start_soon(collect)
                try:
                    with anyio.fail_after(DRAIN_TIMEOUT):
                        await sub.drain()  # type: ignore[no-untyped-call]
                except Exception as err:  # NATS closed, draining or not answering
                    log.debug("drain %s: %s", self._inbox, err or type(err).__name__)
                    self.nc._remove_sub(sub._id)  # what drain does last; resubscribe no more
                tg.cancel_scope.cancel()
        while not queue.empty():  # only after a failed drain
            arrived.append(queue.get_nowait())
        return [m for m in arrived if m is not None and not (m.headers and m.headers.get(STATUS))]

    async def _pull(self) -> None:
        assert self._sub is not None
        request = {
            "batch": self.batch,
            "expires": int(self.expires * 1e9),
            "idle_heartbeat": int(self.heartbeat * 1e9),
        }
        await self.nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}",
            json.dumps(request).encode(),
            reply=self._inbox,
        )
        self.pending += self.batch

    async def _still_there(self) -> None:
        """After a silent heartbeat interval: raise if the consumer is gone, else pull anew."""
        if self.nc.is_closed:
            raise BusClosed
        try:
            with anyio.fail_after(self.heartbeat * 2):
                await self.nc.jetstream().consumer_info(self.stream, self.consumer)
        except NotFoundError:
            raise ConsumerGone(self.stream, self.consumer) from None
        except Exception as exc:  # NATS down or slow: keep waiting, it reconnects by itself
            log.debug("consumer_info %s: %s", self.consumer, exc or type(exc).__name__)
        self.pending = 0

    async def next(self) -> Msg:
        """The next message (waits as long as it takes; cancel to stop).

        Raises:
            ConsumerGone: the consumer was deleted.
            BusClosed: the NATS connection was closed.
            EventsLost: with ``check_gaps``, a message never arrived.
        """
        if self._sub is None:
            raise RuntimeError("use the Puller in `async with`")
        while True:
            if self.pending <= self.batch // 2:
                await self._pull()
            try:
                msg = await self._take(self.heartbeat * 2 + 0.5)
            except TimeoutError:
                await self._still_there()
                continue
            status = msg.headers.get(STATUS) if msg.headers else None
            if not status:
                self.pending = max(self.pending - 1, 0)
                self._track(msg)
                return msg
            if status == "100":  # idle heartbeat
                continue
            await self._status(msg, status)

    async def _take(self, timeout: float) -> Msg:
        """The next message of the inbox; a cancel never loses one.

        ``Subscription.next_msg`` gets from the queue in a task of its own, so a cancel that
        lands as a message arrives drops that message. ``Queue.get`` removes an item only
        after its wait is over, so here the message stays queued for ``close`` to give back.
        """
        assert self._sub is not None
        while True:
            with anyio.fail_after(timeout):
                msg = await self._sub._pending_queue.get()
            self._sub._pending_queue.task_done()  # what ``close`` (``drain``) waits on
            if msg is not None:
                self._sub._pending_size -= len(msg.data)
                return msg
            if self.nc.is_closed:
                raise BusClosed

    async def _status(self, msg: Msg, status: str) -> None:
        """A pull request ended (408 expired, 409 ...): release what it still had asked for."""
        headers = msg.headers or {}
        description = headers.get(DESCRIPTION, "")
        if status == "409" and "deleted" in description.lower():
            raise ConsumerGone(self.stream, self.consumer)
        left = headers.get(PENDING_MESSAGES)
        self.pending = max(self.pending - int(left), 0) if left and left.isdigit() else 0
        if status not in ("404", "408"):
            log.warning("pull from %s: %s %s", self.consumer, status, description)
            await anyio.sleep(0.1)  # an error that repeats must not spin

    def _track(self, msg: Msg) -> None:
        meta = msg.metadata
        seq = (meta.sequence.consumer, meta.sequence.stream)
        if self.check_gaps and self._last is not None and seq[0] != self._last[0] + 1:
            raise EventsLost(self._last[1], seq[0] - self._last[0] - 1)
        self._last = seq
