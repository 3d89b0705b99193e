"""``jimbot demo``: the delivery semantics in fifteen seconds, on a private nats-server.

It shows the loop an operator lives in: events arrive, a handler rejects one for good, the
dead-letter mover files it with the reason, someone fixes the handler, ``jimbot dlq replay``
puts the event back, and the fixed handler processes it exactly once. Everything runs in a
temporary directory with its own server and prefix, so it touches nothing of yours.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click

import subjects
from handlers import Consumer, Context, PermanentError, Settings, Worker, publish
from handlers.dlq_mover import handler as dlq_mover
from ops import _dlq
from ops._dlq_cli import HEADER_LINE, describe_body, ls_line
from ops.config import open_bus
from ops.natsserver import NatsServer
from schemas import JimbotError
from schemas.events_pb2 import HAND_PLAYED, Event

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

PREFIX = "demo"
HANDS = ("pair", "flush", "cursed", "straight", "full_house")
"""The third hand is the one the first version of the scorer cannot handle."""


def step(text: str) -> None:
    click.secho(f"\n==> {text}", bold=True)


def say(text: str) -> None:
    click.echo(f"    {text}")


class Scorer:
    """A tiny handler with a bug: it rejects the ``cursed`` hand as permanently invalid."""

    def __init__(self) -> None:
        self.fixed = False
        self.processed: list[str] = []

    async def handle(self, event: Event, ctx: Context) -> None:
        hand = event.metadata.get("hand", "")
        if hand == "cursed" and not self.fixed:
            raise PermanentError("unknown hand 'cursed'")
        self.processed.append(hand)
        replay = ctx.headers.get(subjects.REPLAY_OF)
        note = f" (replayed from dead letter {replay})" if replay else ""
        say(f"scorer processed {hand!r}, delivery {ctx.deliveries}{note}")


async def _wait_for(
    what: str, check: Callable[[], Awaitable[bool]], *, within: float = 10.0
) -> None:
    """Poll ``check`` until it holds; a demo that stalls says which step did."""
    try:
        with anyio.fail_after(within):
            # Stream state lives on the server: there is no local event to wait on.
            while not await check():  # noqa: ASYNC110
                await anyio.sleep(0.05)
    except TimeoutError:
        raise JimbotError(f"demo: {what} did not happen within {within:.0f}s") from None


async def run_demo() -> None:
    """Run every step; raises on the first thing that does not happen in time."""
    logging.basicConfig(level=logging.WARNING, format="    [runtime] %(message)s")
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="jimbot-demo-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats", port=-1, monitor_port=0)
        await anyio.to_thread.run_sync(server.start)
        try:
            await _tour(server, Path(tmp))
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(server.stop)
    step("done: nats-server stopped, temporary store removed")


async def _tour(server: NatsServer, tmp: Path) -> None:
    step(f"1. started an embedded nats-server at {server.url} (store in {tmp})")
    settings = Settings(
        nats_url=server.url, prefix=PREFIX, metrics_port=0, data_dir=tmp, drain_timeout=2.0
    )
    names = subjects.Names(PREFIX)
    async with open_bus(settings, name="jimbot-demo") as nc:
        js = nc.jetstream()
        changes = await subjects.provision(js, names)
        say(f"provisioned {len(changes)} streams and buckets for prefix {PREFIX!r}")

        step("2. publishing five HAND_PLAYED events")
        subject = names.subject(subjects.HAND_PLAYED)
        for hand in HANDS:
            event = Event(event_id=str(uuid.uuid4()), type=HAND_PLAYED, source="demo")
            event.metadata["hand"] = hand
            ack = await publish(
                js, subject, event, msg_id=event.event_id, event_type="HAND_PLAYED", source="demo"
            )
            say(f"{subject} seq {ack.seq}: hand {hand!r}")

        step("3. a scorer consumes them; it fails permanently on 'cursed'")
        scorer = Scorer()
        consumer = Consumer(
            name="scorer",
            subjects=[subjects.HAND_PLAYED],
            handle=scorer.handle,
            max_deliver=3,
            retry_delay=0.1,
        )
        worker = Worker([consumer, dlq_mover], settings=settings, nc=nc)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)

            async def dead_lettered() -> bool:
                info = await js.stream_info(names.dlq_stream)
                return len(scorer.processed) == 4 and info.state.messages == 1

            await _wait_for("the dead letter", dead_lettered)

            step("4. the dlq_mover filed the rejected event as a dead letter")
            found = await _dlq.scan(js, names)
            letter = found.letters[0]
            say(HEADER_LINE)
            say(ls_line(letter))
            full = await _dlq.get(js, names, letter.seq)
            assert full is not None
            say("its body, decoded as `jimbot dlq show` and `jimbot decode` print it:")
            for line in describe_body(full.headers, full.data).splitlines():
                say(f"  {line}")

            step("5. fixing the scorer and replaying the dead letter")
            scorer.fixed = True
            for item in await _dlq.replay(js, names, found.letters):
                say(item.line())

            async def replayed() -> bool:
                info = await js.stream_info(names.dlq_stream)
                return len(scorer.processed) == 5 and info.state.messages == 0

            await _wait_for("the replay", replayed)
            step("6. every hand processed exactly once; the DLQ is empty")
            say(f"processed: {', '.join(scorer.processed)}")
            worker.stop()
