"""Commands back to the game: queued in JetStream, handed out once through the mod's poll.

The mod polls ``GET /api/v1/commands/poll`` every 0.5 s and must never wait, so the poll is a
``no_wait`` pull: it returns what is queued now, or nothing. Every gateway shares one durable
consumer per session, so with several gateways each command is delivered exactly once; it is
acked (and the ack flushed to the server) before the response is written.

Sessions: the real mod sends no identity, so its commands live under ``commands.default``. A
client that runs several games (the simulator) names each with a ``Jimbot-Session`` header; the
gateway stamps it on the game's events and polls that session's queue.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import msgspec
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from handlers import BusUnavailable, standard_headers
from subjects import event_token

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from subjects import Names

DEFAULT_SESSION = "default"
SESSION_HEADER = "jimbot-session"
MAX_POLL = 50
_COMMAND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}(:[^\r\n]{0,256})?$")


class CommandError(ValueError):
    """Raised when a command is not in the mod's ``name`` / ``name:params`` form."""


class HelperCommand(msgspec.Struct):
    """The JSON of the repository's helper tool: ``{"type": ..., "payload": {"index": n}}``."""

    type: str
    payload: dict[str, object] = {}


def session_token(raw: str | None) -> str:
    """A session name made safe to be a subject token."""
    return event_token(raw) if raw else DEFAULT_SESSION


def parse_commands(body: bytes, content_type: str) -> list[str]:
    """Commands from a ``POST /api/v1/commands`` body: the helper's JSON, or text lines.

    Raises:
        CommandError: naming the first line or field that is not a valid command.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if "json" in content_type or text.startswith(("{", "[")):
        try:
            items = msgspec.json.decode(text.encode(), type=HelperCommand | list[HelperCommand])
        except msgspec.DecodeError as exc:
            raise CommandError(
                f'expected {{"type": "<action>", "payload": {{"index": n}}}}: {exc}'
            ) from exc
        lines = [_from_helper(c) for c in (items if isinstance(items, list) else [items])]
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise CommandError("no command given: send `name` or `name:params` lines")
    for line in lines:
        if not _COMMAND_RE.match(line):
            raise CommandError(
                f"{line[:80]!r} is not a command: use `name` or `name:params`, "
                "name in lower case (e.g. `select_card:0`, `play_hand`)"
            )
    return lines


def _from_helper(cmd: HelperCommand) -> str:
    value = cmd.payload.get("index", cmd.payload.get("position"))
    return cmd.type if value is None else f"{cmd.type}:{value}"


@dataclass
class CommandQueue:
    """Enqueue and poll commands, per session, on the prefix's commands stream."""

    nc: Client
    names: Names
    ack_wait: float = 30.0
    _ready: set[str] = field(default_factory=set)

    def subject(self, session: str) -> str:
        return self.names.subject(f"commands.{session}")

    async def enqueue(self, session: str, lines: list[str], *, msg_id: str | None = None) -> int:
        """Store commands for a session; each line is one command the poll returns."""
        js = self.nc.jetstream()
        base = msg_id or uuid.uuid4().hex
        futures = []
        with anyio.fail_after(5):
            for i, line in enumerate(lines):
                headers = standard_headers(
                    "text/plain; charset=utf-8", msg_id=f"{base}:{i}", source="gateway"
                )
                futures.append(
                    await js.publish_async(self.subject(session), line.encode(), headers=headers)
                )
            acks = [await f for f in futures]
        return sum(1 for a in acks if not a.duplicate)

    async def _durable(self, session: str) -> str:
        durable = self.names.durable(f"poll_{session}")
        if durable not in self._ready:
            await self.nc.jetstream().add_consumer(
                self.names.commands_stream,
                ConsumerConfig(
                    durable_name=durable,
                    filter_subject=self.subject(session),
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=self.ack_wait,
                    inactive_threshold=24 * 3600.0,
                    description=f"commands polled by the game of session {session}",
                ),
            )
            self._ready.add(durable)
        return durable

    async def poll(self, session: str) -> list[str]:
        """The commands queued for a session now (at most 50), without waiting for more."""
        if not self.nc.is_connected:
            raise BusUnavailable("NATS is not connected")
        durable = await self._durable(session)
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        msgs: list[Msg] = []
        try:
            await self.nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.names.commands_stream}.{durable}",
                json.dumps({"batch": MAX_POLL, "no_wait": True}).encode(),
                reply=inbox,
            )
            while len(msgs) < MAX_POLL:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except NatsTimeoutError:
                    break  # the server always answers no_wait; this is a lost connection
                if msg.headers and msg.headers.get("Status"):
                    break  # 404 no messages / 408: nothing more right now
                msgs.append(msg)
        finally:
            await sub.unsubscribe()
        for msg in msgs:
            await msg.ack()
        if msgs:
            await self.nc.flush(timeout=2)  # the acks are on the server before we answer
        return [m.data.decode("utf-8", errors="replace") for m in msgs]
