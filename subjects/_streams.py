"""Stream and KV bucket definitions, derived from the prefix.

Every work stream uses *limits* retention: a message stays for its max age whatever any
consumer does, so the dead-letter mover can always fetch the original by sequence and an
operator can replay history. Consumers, not retention, decide who has processed what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

if TYPE_CHECKING:
    from subjects._names import Names

DAY = 24 * 3600.0
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream: its config and why it exists (``jimbot status`` prints the why)."""

    config: StreamConfig
    purpose: str


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """One JetStream KV bucket."""

    bucket: str
    history: int
    ttl: float
    """Seconds a value lives; 0 keeps it forever."""
    purpose: str

    @property
    def stream_name(self) -> str:
        return f"KV_{self.bucket}"


def streams(names: Names, *, replicas: int = 1) -> list[StreamSpec]:
    """The streams of one prefix."""

    def stream(suffix: str, subjects: list[str], **kw: object) -> StreamConfig:
        return StreamConfig(
            name=names.stream(suffix),
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=replicas,
            **kw,  # type: ignore[arg-type]
        )

    return [
        StreamSpec(
            stream(
                "EVENTS",
                [names.subject("events.>")],
                max_age=7 * DAY,
                max_msg_size=10 * MB,
                # ≥ the mod's retry horizon (3 tries, 1 s and 2 s apart) with a wide margin.
                duplicate_window=600.0,
            ),
            "every event, protobuf Event envelopes, 7 days",
        ),
        StreamSpec(
            stream(
                "DLQ",
                [names.subject("dlq.>")],
                max_age=30 * DAY,
                max_msg_size=10 * MB,
                duplicate_window=600.0,
            ),
            "dead letters with their original headers and body, 30 days",
        ),
        StreamSpec(
            stream(
                "COMMANDS",
                [names.subject("commands.>")],
                max_age=1 * DAY,
                max_msg_size=1 * MB,
                duplicate_window=120.0,
            ),
            "actions waiting for a game to poll them",
        ),
        StreamSpec(
            stream(
                "ADVISORIES",
                names.advisory_subjects(),
                max_age=7 * DAY,
                duplicate_window=120.0,
            ),
            "captured MAX_DELIVERIES / MSG_TERMINATED advisories for the dead-letter mover",
        ),
    ]


def buckets(names: Names) -> list[BucketSpec]:
    """The KV buckets of one prefix: state lives here, never in a handler's memory."""
    return [
        BucketSpec(names.bucket("PERCEPTS"), 1, 0.0, "latest percept per agent"),
        BucketSpec(names.bucket("LEASES"), 1, 0.0, "resource leases"),
        BucketSpec(names.bucket("KNOWLEDGE"), 5, 0.0, "knowledge graph nodes and edges"),
        BucketSpec(names.bucket("STRATEGY_CACHE"), 1, 1 * DAY, "cached LLM strategies"),
        BucketSpec(names.bucket("STRATEGY_LIMITS"), 1, 0.0, "strategy rate limits and tokens"),
        BucketSpec(names.bucket("GAMES"), 1, 1 * DAY, "last game state decided, per session"),
        # 3 heartbeats of at most 5 s: a crashed instance vanishes by itself.
        BucketSpec(names.bucket("COMPONENTS"), 1, 15.0, "heartbeats: who is alive now"),
    ]
