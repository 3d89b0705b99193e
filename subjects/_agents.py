"""Names the AgentBridge shim and the agent handlers must agree on.

They meet only on subjects, so what both sides must spell the same lives here: the KV key of
an agent's latest percept, and the headers of a stream of actions over NATS (the protocol is
described in ``handlers/agent_stream.py``).
"""

from __future__ import annotations

import base64
import re

STREAM_INBOX = "Jimbot-Stream-Inbox"
STREAM_WINDOW = "Jimbot-Stream-Window"
STREAM_SEQ = "Jimbot-Stream-Seq"
STREAM_ACK = "Jimbot-Stream-Ack"
STREAM_CANCEL = "Jimbot-Stream-Cancel"

_PLAIN = re.compile(r"^[-_A-Za-z0-9]+$")


def percept_key(agent: str) -> str:
    """The agent's key in the ``PERCEPTS`` bucket: ``python_link`` → ``python_link``.

    NATS KV keys allow only ``[-/_=.A-Za-z0-9]`` and the shim accepts any printable agent name,
    so a name outside ``[-_A-Za-z0-9]`` is stored as ``=`` + unpadded base64url of its UTF-8
    bytes (``robô 1`` → ``=cm9iw7QgMQ``). Plain names stay readable in ``nats kv get``, and the
    two forms never collide because ``=`` starts no plain name.
    """
    if _PLAIN.match(agent):
        return agent
    return "=" + base64.urlsafe_b64encode(agent.encode()).decode().rstrip("=")
