"""What the coordinator hands out, and how long a request may wait: read from the environment.

Defaults follow the spec's memory plan and a one-GPU workstation:

- ``MEMORY_MB=32768``: the plan's 32 GB total (5 GB infrastructure, 26 GB components, 1 GB
  buffer); components lease what they hold.
- ``GPU_COMPUTE=100``: one GPU, in percent of its compute.
- ``CLAUDE_API_TOKENS=100000``: tokens that may be leased at once. A component leases the
  tokens it is about to spend for its rate window (``duration_ms=3600000`` for an hourly
  budget), so the capacity is a rolling per-window quota.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from handlers._runtime._errors import ConfigError
from schemas import events_pb2

CAPACITY_ENV = "JIMBOT_RESOURCE_CAPACITY"
TIMEOUT_ENV = "RESOURCE_REQUEST_TIMEOUT"

DEFAULT_CAPACITY: dict[int, int] = {
    events_pb2.GPU_COMPUTE: 100,
    events_pb2.MEMORY_MB: 32 * 1024,
    events_pb2.CLAUDE_API_TOKENS: 100_000,
}
DEFAULT_TIMEOUT = 5.0
"""The spec's ``RESOURCE_REQUEST_TIMEOUT=5s``."""
MAX_LEASE_MS = 24 * 3600 * 1000
"""Longest lease one request may ask for: a day."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def type_name(resource_type: int) -> str:
    """``1`` → ``"MEMORY_MB"``; an unknown number reads ``"TYPE_<n>"``."""
    try:
        return events_pb2.ResourceType.Name(resource_type)  # type: ignore[arg-type]
    except ValueError:
        return f"TYPE_{resource_type}"


def parse_capacity(raw: str) -> dict[int, int]:
    """``"GPU_COMPUTE=100,MEMORY_MB=16384"`` over the defaults; a type left out keeps its own.

    Raises:
        ConfigError: naming the variable, the bad part and the known types.
    """
    capacity = dict(DEFAULT_CAPACITY)
    known = ", ".join(events_pb2.ResourceType.keys())
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or name.upper() not in events_pb2.ResourceType.keys():
            raise ConfigError(
                f"{CAPACITY_ENV}: {part!r} is not TYPE=amount with TYPE one of {known}"
            )
        try:
            amount = int(value)
        except ValueError:
            amount = -1
        if amount < 1:
            raise ConfigError(f"{CAPACITY_ENV}: {part!r}: the capacity must be a whole number >= 1")
        capacity[events_pb2.ResourceType.Value(name.upper())] = amount
    return capacity


def parse_timeout(raw: str) -> float:
    """``"5s"``, ``"500ms"``, ``"1m"`` or plain seconds (``"2.5"``) → seconds."""
    match = _DURATION.match(raw)
    seconds = float(match.group(1)) * _SCALE[match.group(2)] if match else 0.0
    if seconds <= 0:
        raise ConfigError(
            f"{TIMEOUT_ENV}={raw!r}: use a duration above zero such as 5s, 500ms or 1m"
        )
    return seconds


@dataclass(frozen=True, kw_only=True)
class ResourceConfig:
    """Capacities per resource type and the longest wait of a request.

    Every copy of the coordinator must share it: the copy that writes a grant checks it
    against its own capacity.
    """

    capacity: Mapping[int, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    request_timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ResourceConfig:
        env = os.environ if env is None else env
        raw_timeout = env.get(TIMEOUT_ENV, "")
        return cls(
            capacity=parse_capacity(env.get(CAPACITY_ENV, "")),
            request_timeout=parse_timeout(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT,
        )
