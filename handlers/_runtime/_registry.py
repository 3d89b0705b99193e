"""Finding handlers: by module name under ``handlers`` or by ``module:attribute``."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from handlers._runtime._declare import Consumer, Endpoint, Handler
from handlers._runtime._errors import HandlerNotFound


def handler_names() -> list[str]:
    """Every handler module in the ``handlers`` package (private modules excluded)."""
    import handlers

    return sorted(
        m.name
        for m in pkgutil.iter_modules(handlers.__path__)
        if not m.name.startswith("_") and not m.ispkg
    )


def declarations(module: ModuleType) -> list[Handler]:
    """The handler values a module declares at top level, in definition order."""
    found: list[Handler] = []
    for value in vars(module).values():
        if isinstance(value, Consumer | Endpoint) and value not in found:
            found.append(value)
    return found


def load(target: str) -> list[Handler]:
    """Handlers for ``jimbot run <target>``: a handler module name, or ``module:attribute``.

    Raises:
        HandlerNotFound: naming the handlers that do exist.
    """
    if ":" in target:
        module_name, _, attr = target.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise HandlerNotFound(target, handler_names()) from exc
        values = value if isinstance(value, list | tuple) else [value]
        if not values or not all(isinstance(v, Consumer | Endpoint) for v in values):
            raise HandlerNotFound(target, handler_names())
        return list(values)
    if target not in handler_names():
        raise HandlerNotFound(target, handler_names())
    module = importlib.import_module(f"handlers.{target}")
    found = declarations(module)
    if not found:
        raise HandlerNotFound(target, handler_names())
    return found
