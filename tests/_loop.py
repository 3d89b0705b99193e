"""The event loop tests run on: asyncio's, minus one harmless grpc.aio error between tests.

Every test gets a fresh loop, and grpc.aio serves all of them from one completion queue. A
completion that grpc core delivers late for a call or server of an earlier test (its loop now
closed) is handed on by grpc's ``PollerCompletionQueue._handle_events`` running on the
current loop, which fails with ``RuntimeError: Event loop is closed``. That concerns no object
of the running test, but anyio's test runner fails whatever test is running when it happens.
Production processes run one loop for their lifetime, so they never see it. Any other error
reaches the runner unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any


def is_stale_grpc_completion(context: dict[str, Any]) -> bool:
    """Whether ``context`` is grpc.aio failing to hand a completion to an earlier, closed loop."""
    exc = context.get("exception")
    if not isinstance(exc, RuntimeError) or str(exc) != "Event loop is closed":
        return False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        name = code.co_name.rpartition(".")[2]  # Cython names the frame with its full path
        if name == "_handle_events" and "completion_queue" in code.co_filename:
            return True
        tb = tb.tb_next
    return False


class GrpcTolerantLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, dropping only :func:`is_stale_grpc_completion` errors."""

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if not is_stale_grpc_completion(context):
            super().call_exception_handler(context)
