"""Dead-letter tools: list, show, replay and purge what sits in ``<PREFIX>_DLQ``.

Listing reads the stream once through an ephemeral, unacknowledged pull consumer in batches
(headers only unless bodies are needed): thousands of dead letters cost a few round trips.
Replay deletes a dead letter only after JetStream acked its republication; a crash between
the two leaves one already replayed, whose replay id makes replaying it again a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NoStreamResponseError, NotFoundError

import subjects
from schemas import JimbotError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nats.js.client import JetStreamContext

    from subjects import Names

MAX_SCAN = 100_000
"""Dead letters one command reads at most; a bound, so a runaway DLQ cannot hang the CLI."""
_BATCH = 500


class DeadLetterNotFound(JimbotError):
    """Raised when ``jimbot dlq show`` names a sequence the DLQ stream does not hold."""

    def __init__(self, stream: str, seq: int) -> None:
        self.stream = stream
        self.seq = seq
        super().__init__(f"no dead letter {seq} in {stream}: list them with `jimbot dlq ls`")


class StreamMissing(JimbotError):
    """Raised when the DLQ stream does not exist yet."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"stream {stream} does not exist: run `jimbot provision` (or `jimbot up`)")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in the DLQ stream; ``data`` is empty when read headers-only."""

    seq: int
    subject: str
    headers: Mapping[str, str]
    data: bytes = b""
    size: int = 0

    @property
    def reason(self) -> str:
        return self.headers.get(subjects.DLQ_REASON, "")

    @property
    def consumer(self) -> str:
        return self.headers.get(subjects.DLQ_CONSUMER, "")

    @property
    def original_subject(self) -> str:
        return self.headers.get(subjects.DLQ_SUBJECT, "")

    @property
    def error(self) -> str:
        return " ".join(self.headers.get(subjects.DLQ_ERROR, "").split())


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """Which dead letters a command acts on; every field set must match."""

    reason: str | None = None
    consumer: str | None = None
    """A durable name (``jimbot_score``) or a handler name (``score``)."""
    subject: str | None = None
    """The original subject, absolute or relative to the prefix; NATS wildcards work."""
    seqs: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return not (self.reason or self.consumer or self.subject or self.seqs)

    def matches(self, letter: DeadLetter, names: Names) -> bool:
        if self.seqs and letter.seq not in self.seqs:
            return False
        if self.reason and letter.reason != self.reason:
            return False
        if self.consumer and letter.consumer not in (self.consumer, names.durable(self.consumer)):
            return False
        if self.subject:
            pattern = self.subject
            if not pattern.startswith(f"{names.prefix}."):
                pattern = names.subject(pattern)
            if not subject_matches(pattern, letter.original_subject):
                return False
        return True


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True, slots=True)
class Scan:
    """The matching dead letters, and whether the scan stopped at a bound."""

    letters: list[DeadLetter]
    scanned: int
    truncated: bool


async def scan(
    js: JetStreamContext,
    names: Names,
    flt: Filter | None = None,
    *,
    bodies: bool = False,
    limit: int | None = None,
    max_scan: int = MAX_SCAN,
) -> Scan:
    """Read the DLQ stream front to back and keep what ``flt`` matches (at most ``limit``)."""
    flt = flt or Filter()
    stream = names.dlq_stream
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        raise StreamMissing(stream) from None
    if not info.state.messages:
        return Scan([], 0, False)
    # Sequences chosen explicitly are fetched one by one: cheaper than reading everything.
    if flt.seqs and len(flt.seqs) <= 64:
        found = []
        for seq in sorted(flt.seqs):
            letter = await get(js, names, seq, missing_ok=True)
            if letter is not None and flt.matches(letter, names):
                found.append(letter)
        return Scan(found[:limit] if limit else found, len(flt.seqs), False)
    consumer = await js.add_consumer(
        stream,
        ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            headers_only=not bodies,
            inactive_threshold=30.0,
            mem_storage=True,
            description="jimbot dlq scan",
        ),
    )
    assert consumer.name is not None
    letters: list[DeadLetter] = []
    scanned, truncated = 0, False
    try:
        psub = await js.pull_subscribe_bind(consumer=consumer.name, stream=stream)
        pending = consumer.num_pending or 0
        while pending > 0:
            if scanned >= max_scan or (limit is not None and len(letters) >= limit):
                truncated = True
                break
            try:
                msgs = await psub.fetch(min(_BATCH, pending), timeout=2.0)
            except TimeoutError:  # nats-py raises its own or asyncio's, depending on the path
                break
            for msg in msgs:
                scanned += 1
                headers = dict(msg.headers or {})
                size = int(headers.pop("Nats-Msg-Size", len(msg.data or b"")))
                letter = DeadLetter(
                    msg.metadata.sequence.stream, msg.subject, headers, msg.data or b"", size
                )
                if flt.matches(letter, names) and (limit is None or len(letters) < limit):
                    letters.append(letter)
                pending = msg.metadata.num_pending
        await psub.unsubscribe()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            try:
                await js.delete_consumer(stream, consumer.name)
            except Exception:  # inactive_threshold removes it anyway
                pass
    return Scan(letters, scanned, truncated)


async def get(
    js: JetStreamContext, names: Names, seq: int, *, missing_ok: bool = False
) -> DeadLetter | None:
    """One dead letter by DLQ sequence, with its body."""
    try:
        raw = await js.get_msg(names.dlq_stream, seq)
    except NotFoundError:
        if missing_ok:
            return None
        raise DeadLetterNotFound(names.dlq_stream, seq) from None
    headers = {k: str(v) for k, v in (raw.headers or {}).items()}
    return DeadLetter(seq, raw.subject or "", headers, raw.data or b"", len(raw.data or b""))


def replay_headers(letter: DeadLetter, *, dlq_stream: str) -> dict[str, str]:
    """The original headers back, a fresh ``Nats-Msg-Id`` and ``Jimbot-Replay-Of``.

    The new id is derived from the DLQ sequence: the events stream's dedup window would drop
    the original id, and replaying the same dead letter twice must not store it twice.
    """
    headers = {
        k: v
        for k, v in letter.headers.items()
        if k not in subjects.DLQ_HEADERS and k not in ("Nats-Msg-Id", subjects.REPLAY_OF)
    }
    original_id = letter.headers.get(subjects.DLQ_MSG_ID)
    base = original_id or f"{dlq_stream}:{letter.seq}"
    headers["Nats-Msg-Id"] = f"{base}:replay:{letter.seq}"
    headers[subjects.REPLAY_OF] = str(letter.seq)
    return headers


@dataclass(frozen=True, slots=True)
class Replayed:
    """What replay did with one dead letter: ``replayed``, ``would replay``, ``skipped`` or
    ``failed``."""

    letter: DeadLetter
    action: str
    detail: str = ""

    def line(self) -> str:
        subject = self.letter.original_subject or "(no original subject)"
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.action:12} dlq {self.letter.seq} -> {subject}{tail}"


async def replay(
    js: JetStreamContext, names: Names, letters: Iterable[DeadLetter], *, dry_run: bool = False
) -> list[Replayed]:
    """Republish each dead letter to its original subject, then delete it from the DLQ.

    Letters read headers-only are fetched with their body first. Ingest dead letters (raw
    input an edge could not parse) have no original subject and are skipped, never guessed.
    """
    done: list[Replayed] = []
    for letter in letters:
        subject = letter.original_subject
        if not subject:
            done.append(Replayed(letter, "skipped", "no original subject to replay to"))
            continue
        if dry_run:
            done.append(Replayed(letter, "would replay"))
            continue
        full = await get(js, names, letter.seq, missing_ok=True)
        if full is None:
            done.append(Replayed(letter, "skipped", "already gone from the DLQ"))
            continue
        headers = replay_headers(full, dlq_stream=names.dlq_stream)
        try:
            ack = await js.publish(subject, full.data, headers=headers, timeout=5.0)
        except (NatsTimeoutError, NoStreamResponseError):
            # Nothing stored, so the dead letter stays; the others may still go through.
            done.append(Replayed(full, "failed", "no stream stored it: run `jimbot provision`"))
            continue
        await _delete(js, names.dlq_stream, letter.seq)
        detail = f"{ack.stream} seq {ack.seq}" + (", duplicate" if ack.duplicate else "")
        done.append(Replayed(full, "replayed", detail))
    return done


async def purge(js: JetStreamContext, names: Names, flt: Filter) -> int:
    """Delete matching dead letters (every one when ``flt`` is empty); returns how many."""
    stream = names.dlq_stream
    if flt.is_empty:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            raise StreamMissing(stream) from None
        await js.purge_stream(stream)
        return int(info.state.messages)
    found = await scan(js, names, flt)
    return sum([await _delete(js, stream, letter.seq) for letter in found.letters])


async def _delete(js: JetStreamContext, stream: str, seq: int) -> bool:
    """Delete one message; one that is already gone counts as not deleted, not as an error."""
    try:
        return bool(await js.delete_msg(stream, seq))
    except NotFoundError:
        return False
