"""Fixtures of the schemas tests: realistic bodies as the BalatroMCP mod sends them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def mod_body() -> Callable[[str], bytes]:
    """Reads ``fixtures/<name>.body``: raw HTTP bodies, quirks and all (not valid JSON)."""

    def read(name: str) -> bytes:
        return (FIXTURES / f"{name}.body").read_bytes()

    return read
