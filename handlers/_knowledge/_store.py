"""Writing nodes: read, change, compare-and-set, and again when another writer came first.

Every write names the revision it read (``kv.update(..., last=revision)``; ``kv.create`` for
a new key), so two copies changing one joker at once never lose either change: the loser
reads the winner's value and applies its change again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import msgspec
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError

from handlers._knowledge._model import Node, decode_node, encode_node
from handlers._knowledge._updates import Unchanged
from schemas import JimbotError

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

MAX_ATTEMPTS = 40
_WRONG_LAST_SEQUENCE = (10071, 10164)

ChangeFn = Callable[[Node | None, float], Node | Unchanged | None]
"""Given the stored node (``None``: none yet) and the time, the new node, ``UNCHANGED``, or
``None`` to delete it. It may change the node it is given: each attempt reads a fresh one."""


class CorruptNode(JimbotError):
    """Raised when a stored value under a node key is not a node."""

    def __init__(self, key: str, error: str) -> None:
        super().__init__(
            f"KV key {key!r} does not hold a knowledge node ({error}); delete it with "
            f"`nats kv del <bucket> {key}` or overwrite it with an update"
        )


class WriteConflict(JimbotError):
    """Raised when other writers won the compare-and-set every time; trying later works."""


async def _read(kv: KeyValue, key: str) -> tuple[Node | None, int | None]:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None, None
    try:
        return decode_node(entry.value or b""), entry.revision
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptNode(key, str(exc)) from None


async def _deleted_at(kv: KeyValue, key: str, before: int) -> int:
    """The revision of the delete marker just written (kv.delete does not say it)."""
    try:
        await kv.get(key)
    except KeyNotFoundError as exc:
        entry = exc.entry
        if entry is not None and entry.revision:
            return int(entry.revision)
    return before + 1  # rewritten since: a lower bound is all there is


async def mutate(kv: KeyValue, key: str, change: ChangeFn) -> int | None:
    """Apply ``change`` to the node under ``key``; the revision written (``None``: nothing).

    Raises:
        CorruptNode: the stored value is not a node.
        WriteConflict: :data:`MAX_ATTEMPTS` compare-and-sets in a row lost to other writers.
    """
    for attempt in range(MAX_ATTEMPTS):
        node, revision = await _read(kv, key)
        result = change(node, time.time())
        if isinstance(result, Unchanged):
            return None
        try:
            if result is None:
                if revision is None:
                    return None
                await kv.delete(key, last=revision)
                return await _deleted_at(kv, key, revision)
            if revision is None:
                return int(await kv.create(key, encode_node(result)))
            return int(await kv.update(key, encode_node(result), last=revision))
        except KeyWrongLastSequenceError:
            pass
        except APIError as exc:  # kv.delete does not translate the wrong-revision error
            if exc.err_code not in _WRONG_LAST_SEQUENCE:
                raise
        # Lost the race: back off a little (jittered, growing) and read the winner's value.
        await anyio.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))
    raise WriteConflict(f"{key}: {MAX_ATTEMPTS} concurrent writers won in a row; retry")
