"""The project's exception root, and the errors raised by ``schemas``.

Every error jimbot raises on purpose derives from one root, so callers can catch ours without
catching bugs. Other packages add their own branches under it::

    JimbotError
     ├── SchemaDecodeError          (schemas: input that cannot be decoded or converted)
     ├── … runtime errors           (handlers: retryable / permanent / service errors)
     ├── … edge errors              (bridge: HTTP gateway, gRPC shim)
     └── … operational errors       (ops: config, nats-server, supervisor)

Each package draws its own branch in its errors module; this docstring only shows the root.
"""

from __future__ import annotations

__all__ = ["JimbotError", "SchemaDecodeError"]


class JimbotError(Exception):
    """Raised when jimbot itself detects a problem; the root of every jimbot exception."""


class SchemaDecodeError(JimbotError):
    """Raised when input cannot be decoded: not JSON, not the expected shape, bad protobuf.

    The message names what was being decoded, where in it the problem sits, and why, so it can
    be sent back to a producer or stored as a dead-letter reason as it is.
    """

    what: str
    """What was being decoded, e.g. ``"batch body"`` or ``"payload of HAND_PLAYED"``."""
    reason: str
    """Why it failed, in words (the foreign library's message, or ours)."""
    path: str | None
    """Where in the input, as a JSON path such as ``$.events[3].payload.ante``, when known."""

    def __init__(self, what: str, reason: str, *, path: str | None = None) -> None:
        self.what = what
        self.reason = reason
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(f"cannot decode {what}{where}: {reason}")
