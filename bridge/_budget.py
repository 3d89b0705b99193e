"""How long a gRPC edge may wait on NATS for one call: the client's deadline less the time to
send the answer back.

The reply margin is at most a fifth of what is left, so a short deadline still leaves most of
itself to the work; never less than a millisecond, so a request can always be tried.
"""

from __future__ import annotations


def call_budget(remaining: float | None, default: float, margin: float) -> float:
    """Seconds for the work of a call with ``remaining`` seconds to its deadline
    (``None``: the client set none, so ``default``)."""
    if remaining is None:
        return default
    return max(remaining - min(margin, remaining / 5), 0.001)
