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
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import msgspec
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
    _inboxes: dict[str, str] = field(default_factory=dict)
    _pulls: dict[str, deque[_Pull]] = field(default_factory=dict)

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

    async def _replies(self, session: str) -> str:
        """A long-lived reply inbox per session (a subscription per poll costs more than the
        poll itself). JetStream delivers a pull's messages under their own subjects, so
        replies are told apart by subscription, and a session's polls are served in order."""
        inbox = self._inboxes.get(session)
        if inbox is None:
            inbox = self.nc.new_inbox()
            pulls: deque[_Pull] = deque()
            self._pulls[session] = pulls

            async def route(msg: Msg) -> None:
                if not pulls:
                    return  # a poll that gave up; the command comes back after ack_wait
                if msg.headers and msg.headers.get("Status"):
                    pulls.popleft().done.set()  # 404 no messages / 408: that pull is over
                    return
                pulls[0].msgs.append(msg)

            await self.nc.subscribe(inbox, cb=route)
            self._inboxes[session] = inbox
        return inbox

    async def poll(self, session: str) -> list[str]:
        """The commands queued for a session now (at most 50), without waiting for more."""
        if not self.nc.is_connected:
            raise BusUnavailable("NATS is not connected")
        durable = await self._durable(session)
        inbox = await self._replies(session)
        pull = _Pull()
        pulls = self._pulls[session]
        pulls.append(pull)
        try:
            await self.nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.names.commands_stream}.{durable}",
                _NO_WAIT,
                reply=inbox,
            )
            # The server answers a no_wait pull at once; only a lost connection waits here.
            with anyio.move_on_after(1.0):
                await pull.done.wait()
        finally:
            if pull in pulls:
                pulls.remove(pull)
        for msg in pull.msgs:
            await msg.ack()
        if pull.msgs:
            await self.nc.flush(timeout=2)  # the acks are on the server before we answer
        return [m.data.decode("utf-8", errors="replace") for m in pull.msgs]


@dataclass
class _Pull:
    """One poll in flight: what arrived for it, and whether the server said it is done."""

    msgs: list[Msg] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)


_NO_WAIT = json.dumps({"batch": MAX_POLL, "no_wait": True}).encode()
