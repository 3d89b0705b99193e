"""A recording stand-in for the gateway, behind ``httpx.MockTransport``.

It answers every POST with the status a script gives (200 by default) and every poll with the
commands a callback gives, and keeps each request so a test can read what the mod sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

_BARE = re.compile(r"(?<=[:\[,])(-?)(inf|nan)(?=[,}\]])")


def parse_mod_json(text: str) -> Any:
    """Read the mod's text, mapping its bare ``inf``/``nan`` tokens to Python floats."""
    fixed = _BARE.sub(lambda m: f"{m.group(1)}{'Infinity' if m.group(2) == 'inf' else 'NaN'}", text)
    return json.loads(fixed)


@dataclass
class FakeServer:
    """Records requests; ``status(n, request)`` answers the n-th POST (0: the connection
    test), ``commands(request)`` each poll."""

    status: Callable[[int, httpx.Request], int] = lambda n, request: 200
    commands: Callable[[httpx.Request], list[str]] = lambda request: []
    requests: list[httpx.Request] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            body = "".join(f"{line}\n" for line in self.commands(request))
            return httpx.Response(200, text=body, headers={"Content-Type": "text/plain"})
        status = self.status(len(self.answered), request)
        self.answered.append(status)
        return httpx.Response(status, json={"status": "ok" if status < 300 else "error"})

    @property
    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def polls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "GET"]

    def batches(self) -> list[tuple[int, dict[str, Any]]]:
        """Every batch POST as (its status, its parsed body), in order."""
        out = []
        for request, status in zip(self.posts, self.answered, strict=True):
            if request.url.path.endswith("/batch"):
                out.append((status, parse_mod_json(request.content.decode())))
        return out

    def stored(self) -> list[dict[str, Any]]:
        """Events of the batches answered 2xx."""
        return [e for status, b in self.batches() if status < 300 for e in b["events"]]
