"""The tests' event loop drops grpc.aio's stale-completion error and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from tests._loop import GrpcTolerantLoop, is_stale_grpc_completion


def _raised_in(function: str, filename: str, message: str) -> BaseException:
    """A ``RuntimeError(message)`` raised in a frame named ``function`` of ``filename``."""
    source = f"def f():\n    raise RuntimeError({message!r})\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    raiser = namespace["f"]
    raiser.__code__ = raiser.__code__.replace(co_name=function)
    with pytest.raises(RuntimeError) as caught:
        raiser()
    return caught.value


# As grpcio's Cython frames appear in a traceback (the CI failure this guards against).
GRPC_POLLER = "src/python/grpcio/grpc/_cython/_cygrpc/aio/completion_queue.pyx.pxi"
HANDLE_EVENTS = "grpc._cython.cygrpc.PollerCompletionQueue._handle_events"


def test_grpcs_poller_failing_on_a_closed_loop_is_recognised() -> None:
    exc = _raised_in(HANDLE_EVENTS, GRPC_POLLER, "Event loop is closed")
    assert is_stale_grpc_completion({"exception": exc})


@pytest.mark.parametrize(
    ("function", "filename", "message"),
    [
        (HANDLE_EVENTS, GRPC_POLLER, "something else"),
        ("handler", "bridge/grpcfronts/eventbus.py", "Event loop is closed"),
        (HANDLE_EVENTS, "ours.py", "Event loop is closed"),
    ],
)
def test_every_other_error_is_not(function: str, filename: str, message: str) -> None:
    assert not is_stale_grpc_completion({"exception": _raised_in(function, filename, message)})
    assert not is_stale_grpc_completion({"message": "no exception at all"})


def test_the_loop_hands_every_other_error_to_its_handler() -> None:
    loop = GrpcTolerantLoop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        stale = _raised_in(HANDLE_EVENTS, GRPC_POLLER, "Event loop is closed")
        other = _raised_in("handler", "bridge/x.py", "Event loop is closed")
        loop.call_exception_handler({"message": "stale", "exception": stale})
        loop.call_exception_handler({"message": "real", "exception": other})
    finally:
        loop.close()
    assert [c["message"] for c in seen] == ["real"]
