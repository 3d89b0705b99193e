"""What the shim accepts from clients and what it lets policies answer.

Inbound: agent names and contexts are bounded and free of control characters, percept payloads
are capped. Outbound: an action must be a non-empty line of bounded size (and on the allowlist
when one is configured); ``metadata`` and the rendered ``meta`` entries are capped at
:data:`META_CAP` bytes each, and a cut is marked by a ``truncated`` meta entry naming the
field(s), appended after the cap (``truncated=meta,metadata``).
The Java client turns these strings into AgentSpeak literals, so bounding them here is what
keeps one agent's answer from flooding its belief base.
"""

from __future__ import annotations

import unicodedata

from schemas import JimbotError
from schemas import agent_bridge_pb2 as pb

MAX_AGENT_BYTES = 128
MAX_CONTEXT_BYTES = 4096
MAX_ACTION_BYTES = 128
MAX_DETAIL_BYTES = 128
META_CAP = 256
"""Bytes of ``metadata``, and of the ``meta`` entries rendered as ``k=v;k=v``."""

_TEXT_CONTROLS = frozenset("\t\n\r")


class InvalidInput(JimbotError):
    """Raised when a request field breaks a rule; the message states the rule."""


def _bad_char(text: str, *, allow: frozenset[str] = frozenset()) -> str | None:
    if text.isprintable():
        return None  # (in C; every category refused below is non-printable)
    for ch in text:
        if ch in allow:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def check_agent(agent: str) -> None:
    """A name of 1-128 UTF-8 bytes without control or format characters."""
    if not agent.strip():
        raise InvalidInput("agent must be a non-empty name")
    if len(agent.encode()) > MAX_AGENT_BYTES:
        raise InvalidInput(f"agent is longer than {MAX_AGENT_BYTES} bytes")
    if bad := _bad_char(agent):
        raise InvalidInput(f"agent contains the control character {bad}")


def check_text(field: str, text: str, limit: int) -> None:
    """Up to ``limit`` UTF-8 bytes; tabs and line breaks allowed, other controls not."""
    size = len(text.encode())
    if size > limit:
        raise InvalidInput(f"{field} is {size} bytes; the limit is {limit}")
    if bad := _bad_char(text, allow=_TEXT_CONTROLS):
        raise InvalidInput(f"{field} contains the control character {bad}")


def cut_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that fits ``limit`` bytes without splitting a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(limit, 0)].decode("utf-8", errors="ignore")


def check_action(action: str, allowed: frozenset[str]) -> str | None:
    """Why the policy's action cannot be answered (an ``error_detail``), or ``None``."""
    if not action or len(action.encode()) > MAX_ACTION_BYTES:
        return "invalid_action"
    if _bad_char(action, allow=_TEXT_CONTROLS):
        return "invalid_action"
    if allowed and action not in allowed:
        return "action_not_allowed"
    return None


def cap_metadata(response: pb.ActionResponse) -> None:
    """Cap ``metadata``, ``meta`` and ``error_detail`` in place; mark what was cut."""
    cut: list[str] = []
    if len(response.metadata.encode()) > META_CAP:
        response.metadata = cut_utf8(response.metadata, META_CAP)
        cut.append("metadata")
    entries = [(e.key, e.value) for e in response.meta]
    rendered = sum(len(f"{k}={v}".encode()) for k, v in entries) + max(len(entries) - 1, 0)
    if rendered > META_CAP:
        budget = META_CAP
        kept: list[tuple[str, str]] = []
        used = 0
        for key, value in entries:
            sep = 1 if kept else 0
            need = len(f"{key}={value}".encode()) + sep
            if used + need <= budget:
                kept.append((key, value))
                used += need
                continue
            room = budget - used - sep - len(key.encode()) - 1
            if room > 0:
                kept.append((key, cut_utf8(value, room)))
            break
        del response.meta[:]
        response.meta.extend(pb.MetaEntry(key=k, value=v) for k, v in kept)
        cut.insert(0, "meta")
    if cut:
        response.meta.append(pb.MetaEntry(key="truncated", value=",".join(cut)))
    if len(response.error_detail.encode()) > MAX_DETAIL_BYTES:
        response.error_detail = cut_utf8(response.error_detail, MAX_DETAIL_BYTES)


def fallback(action: str, detail: str) -> pb.ActionResponse:
    """The safe answer: the configured action, ``status=ERROR`` and why."""
    return pb.ActionResponse(action=action, status=pb.ACTION_STATUS_ERROR, error_detail=detail)
