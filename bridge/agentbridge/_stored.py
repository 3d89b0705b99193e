"""What this shim knows it stored as each agent's latest percept: the digest it sends along
with ``RequestAction`` (``Jimbot-Percept-Digest``) so a decide copy may answer from its mirror.

The digest must be the one of the value the KV holds *now*, or be absent (the decide copy then
reads the KV). So: a store's digest is kept only if its KV revision is newer than the one
kept; a failed store (which may still have been written) forgets the agent, and so does any
store that was in flight when a store of the same agent failed (its order against the failed
one is unknown). After a reconnect everything is forgotten (the server may have lost its
store). The table is bounded: the least recently stored agents drop out and are read from the
KV.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MAX_AGENTS = 100_000


@dataclass(frozen=True, slots=True)
class Ticket:
    """One store in flight: the agent, and the table generation and failure epoch it started
    in."""

    agent: str
    generation: int
    epoch: int


class StoredPercepts:
    """Agent → (KV revision, digest) of the latest percept this shim stored."""

    def __init__(self, max_agents: int = MAX_AGENTS) -> None:
        self.max_agents = max_agents
        self._latest: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._epochs: dict[str, int] = {}
        """Agent → failures seen so far (only agents that ever failed, bounded likewise)."""
        self._generation = 0
        """Bumped by every :meth:`clear`: a store begun before it is not kept."""

    def begin(self, agent: str) -> Ticket:
        """Call before storing a percept of ``agent``."""
        return Ticket(agent, self._generation, self._epochs.get(agent, 0))

    def stored(self, ticket: Ticket, revision: int, digest: str) -> None:
        """The store of ``ticket`` was acknowledged at KV ``revision``."""
        agent = ticket.agent
        if ticket.generation != self._generation or self._epochs.get(agent, 0) != ticket.epoch:
            return  # a store of this agent failed meanwhile: order unknown, keep it forgotten
        kept = self._latest.get(agent)
        if kept is not None and kept[0] >= revision:
            return
        self._latest[agent] = (revision, digest)
        self._latest.move_to_end(agent)
        if len(self._latest) > self.max_agents:
            self._latest.popitem(last=False)

    def failed(self, ticket: Ticket) -> None:
        """The store of ``ticket`` failed: it may or may not be in the KV."""
        agent = ticket.agent
        self._latest.pop(agent, None)
        self._epochs[agent] = self._epochs.get(agent, 0) + 1
        if len(self._epochs) > self.max_agents:
            self.clear()

    def digest(self, agent: str) -> str | None:
        """The digest of the agent's latest percept as stored by this shim, if known."""
        kept = self._latest.get(agent)
        return kept[1] if kept is not None else None

    def clear(self) -> None:
        """Forget everything (after a reconnect); stores in flight are not kept either."""
        self._latest.clear()
        self._epochs.clear()
        self._generation += 1
