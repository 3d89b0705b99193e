"""Running a gRPC edge as its own process: until SIGTERM/SIGINT, one line on error.

The AgentBridge shim and the resources edge start the same way: settings and the edge's own
config from the environment, JSON logs, the Prometheus port, the service process's garbage
collector tuning, then ``serve`` until a signal. A user error (a :class:`JimbotError`, even
wrapped in a task group's exception group) is one line on stderr; a bug is one line there and
the traceback in the log.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING, TypeVar

import anyio

from handlers import Settings, setup_logging, start_metrics, tune_gc
from schemas import JimbotError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

Config = TypeVar("Config")


async def serve_until_signal(
    serve: Callable[[Settings, Config], Awaitable[None]],
    settings: Settings,
    config: Config,
    log: logging.Logger,
) -> None:
    """``serve(settings, config)`` until SIGTERM or SIGINT cancels it."""
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("received %s: stopping", signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch_signals)
        await serve(settings, config)


def user_error(exc: BaseException) -> JimbotError | None:
    """The :class:`JimbotError` inside ``exc`` (task groups wrap what ``serve`` raises)."""
    if isinstance(exc, JimbotError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := user_error(inner)) is not None:
                return found
    return None


def run_edge(
    component: str,
    serve: Callable[[Settings, Config], Awaitable[None]],
    load_config: Callable[[], Config],
) -> int:
    """``python -m bridge.<edge>``: the process's exit code, never a traceback on stderr."""
    log = logging.getLogger(f"jimbot.{component}")
    try:
        settings = Settings.from_env()
        config = load_config()
        setup_logging(component, settings.log_level)
        start_metrics(settings)
        tune_gc()
        anyio.run(serve_until_signal, serve, settings, config, log)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        error = user_error(exc)
        if error is not None:
            print(f"jimbot: {error}", file=sys.stderr)
            return 1
        log.exception("%s crashed", component)
        print(f"jimbot: {component} crashed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
