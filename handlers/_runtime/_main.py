"""The process entry point shared by ``jimbot run <name>`` and ``python -m handlers.<name>``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import anyio
from prometheus_client import start_http_server

from handlers._runtime._declare import Handler
from handlers._runtime._loop import backend_options, tune_gc
from handlers._runtime._settings import Settings
from handlers._runtime._telemetry import setup_logging, setup_tracing
from handlers._runtime._worker import Worker
from schemas import JimbotError

log = logging.getLogger("jimbot.worker")


def start_metrics(settings: Settings) -> None:
    """Serve this process's Prometheus metrics on ``METRICS_PORT`` (``0``: none).

    Raises:
        JimbotError: the port is taken; the message names the setting to change.
    """
    if not settings.metrics_port:
        return
    try:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    except OSError as exc:
        raise JimbotError(
            f"metrics port {settings.metrics_port} is taken ({exc.strerror}): set "
            "METRICS_PORT to a free port, or 0 to turn metrics off"
        ) from exc


def run(handlers: Sequence[Handler], settings: Settings | None = None) -> int:
    """Run handlers in this process until SIGTERM/SIGINT; returns the exit code.

    Errors are one clear line on stderr, never a traceback.
    """
    try:
        settings = settings or Settings.from_env()
        setup_logging(settings.component_name, settings.log_level)
        start_metrics(settings)
        shutdown_tracing = setup_tracing(settings.component_name, settings.trace_endpoint)
        tune_gc()
        try:
            anyio.run(
                Worker(handlers, settings=settings).run_until_signal,
                backend_options=backend_options(),
            )
        finally:
            shutdown_tracing()
    except JimbotError as exc:
        print(f"jimbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        # A bug, not a user error: one line on stderr, the traceback in the JSON log.
        log.exception("worker crashed")
        print(
            f"jimbot: worker crashed: {type(exc).__name__}: {exc} (details in the log)",
            file=sys.stderr,
        )
        return 1
    return 0
