"""Small helpers every ``jimbot`` command shares: the one-line failure and the async runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import anyio
import click

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print one line naming the problem and its fix on stderr, then exit 1."""
    click.echo(f"jimbot: {message}", err=True)
    raise SystemExit(1)


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function to completion under anyio (asyncio backend)."""
    return anyio.run(fn, *args)
