"""Names the AgentBridge shim and the agent handlers must agree on.

They meet only on subjects, so what both sides must spell the same lives here: the KV key of
an agent's latest percept, the digest header that lets a decide copy answer from its mirror of
the ``PERCEPTS`` bucket, and the headers of a stream of actions over NATS (the protocol is
described in ``handlers/agent_stream.py``).
"""

from __future__ import annotations

import base64
import hashlib
import re

STREAM_INBOX = "Jimbot-Stream-Inbox"
STREAM_WINDOW = "Jimbot-Stream-Window"
STREAM_SEQ = "Jimbot-Stream-Seq"
STREAM_ACK = "Jimbot-Stream-Ack"
STREAM_CANCEL = "Jimbot-Stream-Cancel"
PERCEPT_DIGEST = "Jimbot-Percept-Digest"
"""On ``rpc.agent.decide``: :func:`percept_digest` of the percept the shim last stored for the
agent. A decide copy whose mirror of the bucket holds a value with this digest for the agent
answers from it; any other case (no header, mirror behind, value changed) reads the KV."""

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


def percept_digest(payload: bytes) -> str:
    """A short fingerprint of a percept payload (BLAKE2b, 16 bytes, hex).

    Equal digests mean equal values, so a mirror whose value matches the shim's last write
    gives exactly what a KV read would: it never stands for "some revision at least as new".
    """
    return hashlib.blake2b(payload, digest_size=16).hexdigest()
