"""The KV key of an agent's latest percept, shared (by value) with the gRPC shim.

NATS KV keys allow only ``[-/_=.A-Za-z0-9]`` and the shim accepts any printable agent name, so
a name outside ``[-_A-Za-z0-9]`` is stored as ``=`` + unpadded base64url of its UTF-8 bytes.
Plain names stay readable (``nats kv get JIMBOT_PERCEPTS python_link``), and the two forms can
never collide because ``=`` starts no plain name. ``bridge.agentbridge`` writes with the same
rule; a unit test pins the two together.
"""

from __future__ import annotations

import base64
import re

_PLAIN = re.compile(r"^[-_A-Za-z0-9]+$")


def percept_key(agent: str) -> str:
    """``python_link`` → ``python_link``; ``robô 1`` → ``=cm9iw7QgMQ``."""
    if _PLAIN.match(agent):
        return agent
    return "=" + base64.urlsafe_b64encode(agent.encode()).decode().rstrip("=")
