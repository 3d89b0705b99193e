"""The simulated mod over real sockets: a tiny HTTP/1.1 server (h11 on anyio) that sees only
the wire, decides from the GAME_STATEs it is sent, and answers the poll in text/plain.

It proves the mod's path end to end without the gateway: keep-alive connections, the mod's
headers, Lua-encoded bodies, commands taken from the poll and a game that reaches a result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import h11
from anyio.abc import SocketStream

from ops.sim import ModConfig, play_games
from tests.unit.ops.sim.fakeserver import parse_mod_json


class WireServer:
    """Stores batches and decides once per new decision state, like the real handler."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.polls = 0
        self.queue: list[str] = []
        self._seen: set[tuple[Any, ...]] = set()

    def decide(self, state: dict[str, Any]) -> None:
        key = tuple(state[k] for k in ("game_id", "game_state", "round", "hands_remaining",
                                       "discards_remaining", "money", "ante"))  # fmt: skip
        if key in self._seen or state["game_state"] not in {
            "BLIND_SELECT", "SELECTING_HAND", "ROUND_EVAL", "SHOP",
        }:  # fmt: skip
            return
        self._seen.add(key)
        phase = state["game_state"]
        if phase == "BLIND_SELECT":
            name = state["blind"]["name"]
            kind = name.split()[0].lower() if name in ("Small Blind", "Big Blind") else "boss"
            self.queue.append(f"select_{kind}_blind")
        elif phase == "SELECTING_HAND":
            count = min(5, len(state["hand"]))
            self.queue += [f"select_card:{i}" for i in range(count)] + ["play_hand"]
        elif phase == "ROUND_EVAL":
            self.queue.append("go_to_shop")
        else:
            self.queue.append("skip_shop")

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "GET" and target.startswith("/api/v1/commands/poll"):
            self.polls += 1
            lines, self.queue = self.queue, []
            return "".join(f"{line}\n" for line in lines).encode()
        self.posts.append((target, headers, body))
        if target == "/api/v1/events/batch":
            for event in parse_mod_json(body.decode())["events"]:
                if event["type"] == "GAME_STATE":
                    self.decide(event["payload"])
        return b'{"status":"ok"}'

    async def serve(self, stream: SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                request: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        try:
                            conn.receive_data(await stream.receive())
                        except (anyio.EndOfStream, anyio.BrokenResourceError):
                            return
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                assert request is not None
                headers = {k.decode(): v.decode() for k, v in request.headers}
                out = self.answer(request.method.decode(), request.target.decode(), headers, body)
                kind = b"text/plain" if request.method == b"GET" else b"application/json"
                reply = h11.Response(
                    status_code=200,
                    headers=[(b"content-type", kind), (b"content-length", str(len(out)).encode())],
                )
                await stream.send(conn.send(reply) + conn.send(h11.Data(data=out)))
                await stream.send(conn.send(h11.EndOfMessage()))
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()


@asynccontextmanager
async def running(server: WireServer) -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.serve)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


async def test_a_game_plays_to_a_result_through_a_real_http_server() -> None:
    server = WireServer()
    with anyio.fail_after(30):
        async with running(server) as base_url:
            summary = await play_games(
                base_url,
                games=1,
                concurrency=1,
                config=ModConfig(decision_timeout=5.0),
                keep_records=True,
            )
    record = summary.records[0]
    assert record.outcome in {"won", "lost"}, record
    assert record.rounds >= 1
    assert record.invalid_commands == 0 and record.commands > 0
    assert summary.decisions > 0 and summary.latency_p99 is not None
    assert summary.statuses == {200: summary.requests} and summary.undelivered == 0
    target, headers, body = server.posts[0]
    assert target == "/api/v1/events" and b'"connection_test"' in body
    assert headers["user-agent"] == "BalatroMCP/1.0"
    assert headers["content-type"] == "application/json"
    assert all(t == "/api/v1/events/batch" for t, _, _ in server.posts[1:])
    assert server.polls >= record.polls
