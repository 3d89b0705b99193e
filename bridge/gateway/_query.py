"""The spec's Analytics interface: ``POST /api/v1/query`` (read-only SQL) and ``/ws/metrics``.

``POST /api/v1/query`` runs one read-only statement over the analytics store's Parquet files
(``schemas.analytics``) in a worker thread, bounded in time and rows, so the event loop never
waits on DuckDB. The store is files, so the gateway reads them directly while the analytics
handler writes; nothing is asked of the handler.

``/ws/metrics`` streams live counts: events per type (and dead letters) over each interval,
counted from core NATS. It subscribes only while at least one client is connected.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from litestar import Request, Response, WebSocket, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_504_GATEWAY_TIMEOUT

from handlers import Settings
from schemas.analytics import (
    Layout,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    answer_json,
    run_query,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from subjects import Names

log = logging.getLogger("jimbot.gateway")

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
QUERY_TIMEOUT = 10.0
"""Seconds a query may run before it is interrupted (504)."""
CONCURRENT_QUERIES = 2
"""Queries run at once; more wait their turn (DuckDB uses two threads each)."""
MIN_INTERVAL, MAX_INTERVAL = 0.1, 60.0


class QueryBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/v1/query`` as JSON; a ``text/plain`` body is the SQL itself."""

    sql: str
    limit: int = DEFAULT_LIMIT


class _BadRequest(ValueError):
    """Raised when the request itself cannot be read; the message names what to send."""


def _parse(request: Request[Any, Any, Any], body: bytes) -> tuple[str, int]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            parsed = msgspec.json.decode(body, type=QueryBody)
        except msgspec.DecodeError as exc:
            raise _BadRequest(
                f'{exc}: send {{"sql": "SELECT ...", "limit": 100}}, or the SQL as text/plain'
            ) from None
        sql, limit = parsed.sql, parsed.limit
    else:
        try:
            sql = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadRequest("the body is not UTF-8 text: send the SQL as text") from None
        raw = request.query_params.get("limit")
        try:
            limit = DEFAULT_LIMIT if raw is None else int(raw)
        except ValueError:
            raise _BadRequest(f"`limit`={raw!r} is not a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _BadRequest(f"`limit`={limit}: use 1 to {MAX_LIMIT:,}")
    if not sql.strip():
        raise _BadRequest("no SQL: send one SELECT as the body")
    return sql, limit


class LiveCounts:
    """Events per type and dead letters seen on core NATS, counted only while watched.

    Totals only grow; each client sends the difference between two of its own snapshots,
    so clients with different intervals share one subscription and no ticker task.
    """

    def __init__(self, nc: Client, names: Names) -> None:
        self._nc = nc
        self._names = names
        self._events_head = len(names.subject("events."))
        self._lock = anyio.Lock()
        self._subs: list[Subscription] = []
        self.clients = 0
        self.by_type: Counter[str] = Counter()
        self.dead_letters = 0

    async def _on_event(self, msg: Msg) -> None:
        headers = msg.headers
        kind = headers.get("Jimbot-Event-Type") if headers else None
        self.by_type[kind or msg.subject[self._events_head :]] += 1

    async def _on_dead_letter(self, msg: Msg) -> None:
        self.dead_letters += 1

    async def join(self) -> None:
        async with self._lock:
            self.clients += 1
            if self.clients == 1:
                self._subs = [
                    await self._nc.subscribe(self._names.subject("events.>"), cb=self._on_event),
                    await self._nc.subscribe(self._names.subject("dlq.>"), cb=self._on_dead_letter),
                ]
                await self._nc.flush()  # counting from here on, before the client hears so

    async def leave(self) -> None:
        async with self._lock:
            self.clients -= 1
            if self.clients == 0:
                subs, self._subs = self._subs, []
                for sub in subs:
                    try:
                        await sub.unsubscribe()
                    except Exception as exc:  # a closed connection has no subscription left
                        log.debug("unsubscribe failed: %s", exc)

    def snapshot(self) -> tuple[dict[str, int], int]:
        return dict(self.by_type), self.dead_letters


def _frame(
    before: tuple[dict[str, int], int], after: tuple[dict[str, int], int], elapsed: float
) -> dict[str, Any]:
    by_type = {k: n - before[0].get(k, 0) for k, n in sorted(after[0].items())}
    by_type = {k: n for k, n in by_type.items() if n}
    events = sum(by_type.values())
    return {
        "type": "counts",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "interval_s": round(elapsed, 3),
        "events": events,
        "events_per_s": round(events / elapsed, 3) if elapsed > 0 else 0.0,
        "by_type": by_type,
        "dead_letters": after[1] - before[1],
    }


async def _until_closed(socket: WebSocket[Any, Any, Any], scope: anyio.CancelScope) -> None:
    """Read (and ignore) what the client sends; its close ends the stream."""
    try:
        while True:
            await socket.receive_data(mode="text")
    except WebSocketDisconnect:
        pass
    scope.cancel()


def _interval(raw: str | None) -> float:
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise _BadRequest(f"`interval`={raw!r}: use {MIN_INTERVAL} to {MAX_INTERVAL:g} seconds")
    return value


def routes(nc: Client, names: Names) -> list[Any]:
    """The analytics routes of one gateway."""
    from bridge.gateway._app import problem  # _app imports the features: import it late

    layout = Layout.from_data_dir(Settings.from_env().data_dir)
    limiter = anyio.CapacityLimiter(CONCURRENT_QUERIES)
    live = LiveCounts(nc, names)

    @post("/api/v1/query", status_code=200, summary="Read-only SQL over the analytics store")
    async def post_query(request: Request[Any, Any, Any]) -> Response[bytes]:
        """One SELECT (or EXPLAIN) as ``text/plain``, or ``{"sql", "limit"}`` as JSON.

        Views: events, dead_letters, events_by_type_hour, game_states, games, decisions,
        decision_latency, dead_letters_by_hour. Anything that writes is refused (400).
        """
        try:
            sql, limit = _parse(request, await request.body())
        except _BadRequest as exc:
            return problem(HTTP_400_BAD_REQUEST, "bad query request", str(exc))
        job = partial(run_query, layout, sql, limit=limit, timeout=QUERY_TIMEOUT)
        try:
            result = await anyio.to_thread.run_sync(job, limiter=limiter)
        except QueryRefused as exc:
            return problem(HTTP_400_BAD_REQUEST, "read-only: statement refused", str(exc))
        except QueryFailed as exc:
            return problem(HTTP_400_BAD_REQUEST, "query failed", str(exc))
        except QueryTimeout as exc:
            return problem(HTTP_504_GATEWAY_TIMEOUT, "query timed out", str(exc))
        return Response(answer_json(result), media_type="application/json")

    @websocket("/ws/metrics")
    async def metrics_stream(socket: WebSocket[Any, Any, Any]) -> None:
        """Live counts: a ``hello`` frame, then one ``counts`` frame per ``interval`` (1 s)."""
        await socket.accept()
        try:
            interval = _interval(socket.query_params.get("interval"))
        except _BadRequest as exc:
            await socket.send_json({"type": "error", "detail": str(exc)})
            await socket.close(code=1008, reason="bad interval")
            return
        await live.join()
        try:
            await socket.send_json(
                {"type": "hello", "prefix": names.prefix, "interval_s": interval}
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(_until_closed, socket, tg.cancel_scope)
                before, then = live.snapshot(), anyio.current_time()
                while True:
                    await anyio.sleep_until(then + interval)
                    after, now = live.snapshot(), anyio.current_time()
                    await socket.send_json(_frame(before, after, now - then))
                    before, then = after, now
        except WebSocketDisconnect:
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await live.leave()

    return [post_query, metrics_stream]
