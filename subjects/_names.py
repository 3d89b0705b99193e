"""Subject names relative to the prefix, and :class:`Names`, which makes them absolute.

Tokens mirror the names the old Rust event bus used (``game.state.update``,
``system.heartbeat``), so people who knew it feel at home.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from schemas import JimbotError

# --- events (stream <PREFIX>_EVENTS) -------------------------------------------------------
ALL_EVENTS = "events.>"
GAME_STATE_UPDATE = "events.game.state.update"
HEARTBEAT = "events.system.heartbeat"
MONEY_CHANGED = "events.game.money.changed"
SCORE_CHANGED = "events.game.score.changed"
HAND_PLAYED = "events.game.hand.played"
CARDS_DISCARDED = "events.game.cards.discarded"
JOKERS_CHANGED = "events.game.jokers.changed"
ROUND_CHANGED = "events.game.round.changed"
PHASE_CHANGED = "events.game.phase.changed"
ROUND_COMPLETE = "events.game.round.complete"
JOKER_TRIGGER = "events.game.joker.trigger"
SCORING = "events.game.scoring.*"
LEARNING_DECISION = "events.learning.decision"
STRATEGY_REQUEST = "events.strategy.request"
STRATEGY_RESPONSE = "events.strategy.response"
KNOWLEDGE_UPDATE = "events.knowledge.update"
METRICS = "events.metrics.*"
ERRORS = "events.error.*"
AGENT_PERCEPT = "events.agent.percept"
AGENT_ACTION = "events.agent.action"
RESOURCES = "events.resource.*"
CUSTOM_EVENTS = "events.custom.*"

# --- dead letters and commands -------------------------------------------------------------
DLQ_ALL = "dlq.>"
COMMANDS = "commands.>"

# --- request-reply (core NATS, ADR-32 micro services) --------------------------------------
RPC_DECISION_GET = "rpc.decision.get"
RPC_STRATEGY_REQUEST = "rpc.strategy.request"
RPC_KNOWLEDGE_QUERY = "rpc.knowledge.query"
RPC_KNOWLEDGE_UPDATE = "rpc.knowledge.update"
RPC_RESOURCE_REQUEST = "rpc.resource.request"
RPC_RESOURCE_RELEASE = "rpc.resource.release"
RPC_RESOURCE_STATUS = "rpc.resource.status"
RPC_AGENT_DECIDE = "rpc.agent.decide"
RPC_AGENT_STREAM = "rpc.agent.stream"
RPC_ANALYTICS_QUERY = "rpc.analytics.query"

#: The JetStream advisories the dead-letter mover captures.
ADVISORY_KINDS = ("MAX_DELIVERIES", "MSG_TERMINATED")

_PREFIX_RULE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class InvalidPrefixError(JimbotError, ValueError):
    """Raised when a subject prefix is not a single lower-case subject token."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        super().__init__(
            f"invalid prefix {prefix!r}: use 1-32 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter (set EVENT_BUS_TOPIC_PREFIX)"
        )


@dataclass(frozen=True, slots=True)
class Names:
    """Absolute subject, stream, consumer and bucket names for one prefix."""

    prefix: str = "jimbot"

    def __post_init__(self) -> None:
        if not _PREFIX_RULE.match(self.prefix):
            raise InvalidPrefixError(self.prefix)

    @classmethod
    def from_env(cls) -> Names:
        """The names for ``EVENT_BUS_TOPIC_PREFIX`` (default ``jimbot``)."""
        return cls(os.environ.get("EVENT_BUS_TOPIC_PREFIX", "jimbot") or "jimbot")

    def subject(self, relative: str) -> str:
        """``events.game.state.update`` → ``jimbot.events.game.state.update``."""
        return f"{self.prefix}.{relative}"

    def relative(self, subject: str) -> str:
        """The inverse of :meth:`subject`; raises ``ValueError`` for a foreign subject."""
        head = f"{self.prefix}."
        if not subject.startswith(head):
            raise ValueError(f"subject {subject!r} is not under prefix {self.prefix!r}")
        return subject[len(head) :]

    def stream(self, suffix: str) -> str:
        """``EVENTS`` → ``JIMBOT_EVENTS`` (hyphens become underscores)."""
        return f"{self.prefix.upper().replace('-', '_')}_{suffix}"

    @property
    def events_stream(self) -> str:
        return self.stream("EVENTS")

    @property
    def dlq_stream(self) -> str:
        return self.stream("DLQ")

    @property
    def commands_stream(self) -> str:
        return self.stream("COMMANDS")

    @property
    def advisories_stream(self) -> str:
        return self.stream("ADVISORIES")

    def bucket(self, suffix: str) -> str:
        """KV bucket name, e.g. ``PERCEPTS`` → ``JIMBOT_PERCEPTS``."""
        return self.stream(suffix)

    def durable(self, handler: str) -> str:
        """Durable consumer name of a handler; unique per prefix so stats stay readable."""
        return f"{self.prefix}_{handler}".replace("-", "_")

    def service(self, handler: str) -> str:
        """ADR-32 service name of a request-reply handler (``nats micro ls`` shows it)."""
        return f"{self.prefix}_{handler}".replace("-", "_")

    def dlq_subject(self, consumer: str) -> str:
        """Where dead letters of one durable consumer land."""
        return f"{self.prefix}.dlq.consumer.{consumer}"

    def dlq_ingest_subject(self, edge: str) -> str:
        """Where an edge keeps raw input it could not parse."""
        return f"{self.prefix}.dlq.ingest.{edge}"

    def advisory_subjects(self) -> list[str]:
        """The advisory subjects of this prefix's work streams, captured into a stream."""
        work_streams = (self.events_stream, self.commands_stream)
        return [
            f"$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream}.*"
            for kind in ADVISORY_KINDS
            for stream in work_streams
        ]
