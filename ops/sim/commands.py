"""Reading a command line the way the mod does.

``BalatroMCP:execute_command_string`` matches ``^([^:]+):?(.*)$``: the name runs to the first
colon and the rest are parameters, never trimmed. ``select_card`` takes ``tonumber`` of its
parameter; the other commands split theirs on commas.
"""

from __future__ import annotations

__all__ = ["lua_index", "lua_tonumber", "parse_command"]


def parse_command(line: str) -> tuple[str, str]:
    """Split ``name:params``; a line starting with a colon has no name (the mod ignores it)."""
    name, _, params = line.partition(":")
    return name, params


def lua_tonumber(text: str) -> int | None:
    """Lua ``tonumber`` for an index: blanks around it allowed, integral values only."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def lua_index(params: str) -> int | None:
    """The first comma-separated parameter as a 1-based Lua index, returned 0-based.

    No parameter means 1, the mod's default for ``buy_joker`` and friends.
    """
    first = params.split(",")[0] if params else "1"
    value = lua_tonumber(first)
    return None if value is None else value - 1
