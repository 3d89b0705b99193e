"""``jimbot dlq ls | show | replay | purge``: the click side of :mod:`ops._dlq`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

import schemas
from ops import _dlq
from ops._console import fail, run_async
from ops.config import load_settings, names_of, open_bus
from schemas import JimbotError
from subjects import DLQ_DELIVERIES, DLQ_FAILED_AT

F = TypeVar("F", bound=Callable[..., Any])


def _filters(fn: F) -> F:
    """The filter options ``ls``, ``replay`` and ``purge`` share."""
    for option in reversed(
        [
            click.option("--reason", help="terminated, max_deliveries or ingest."),
            click.option("--consumer", help="Durable (jimbot_score) or handler name (score)."),
            click.option("--subject", help="Original subject, relative or absolute; wildcards."),
        ]
    ):
        fn = option(fn)
    return fn


def _filter(
    reason: str | None, consumer: str | None, subject: str | None, seqs: tuple[int, ...] = ()
) -> _dlq.Filter:
    return _dlq.Filter(reason=reason, consumer=consumer, subject=subject, seqs=frozenset(seqs))


def describe_body(headers: Mapping[str, str], data: bytes) -> str:
    """The body for humans: an Event as JSON, text as text, anything else as hex."""
    content_type = headers.get("Content-Type", "")
    if not data:
        return "(empty body)"
    if not content_type.startswith(("application/json", "text/")):
        # `application/protobuf; messageType=<name>` says which message; else assume an Event.
        _, _, message_type = content_type.partition("messageType=")
        try:
            value = schemas.message_to_json(data, message_type=message_type.strip() or None)
            return json.dumps(value, indent=2, ensure_ascii=False)
        except (JimbotError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(binary)\n" + hexdump(data)


HEADER_LINE = (
    f"{'SEQ':>8}  {'REASON':<14}  {'CONSUMER':<24}  {'SUBJECT':<40}  {'DLV':>3}  "
    f"{'FAILED AT':<29}  ERROR"
)


def ls_line(letter: _dlq.DeadLetter) -> str:
    """One row of ``jimbot dlq ls``, the error cut to fit."""
    error = letter.error if len(letter.error) <= 80 else letter.error[:77] + "..."
    deliveries = letter.headers.get(DLQ_DELIVERIES) or "-"
    failed_at = letter.headers.get(DLQ_FAILED_AT) or "-"
    return (
        f"{letter.seq:>8}  {letter.reason or '-':<14}  {letter.consumer or '-':<24}  "
        f"{letter.original_subject or '-':<40}  {deliveries:>3}  {failed_at:<29}  {error}"
    )


def hexdump(data: bytes, *, width: int = 16) -> str:
    """Offset, then ``width`` bytes as hex per line."""
    return "\n".join(
        f"{offset:08x}  {data[offset : offset + width].hex(' ')}"
        for offset in range(0, len(data), width)
    )


@click.group()
def dlq() -> None:
    """List, show, replay and purge dead letters."""


@dlq.command("ls", short_help="One line per dead letter.")
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
def ls(
    reason: str | None, consumer: str | None, subject: str | None, limit: int, as_json: bool
) -> None:
    """One line per dead letter: seq, reason, consumer, original subject, deliveries, error."""
    settings = load_settings()

    async def go() -> _dlq.Scan:
        async with open_bus(settings) as nc:
            return await _dlq.scan(
                nc.jetstream(), names_of(settings), _filter(reason, consumer, subject), limit=limit
            )

    found = run_async(go)
    if as_json:
        for letter in found.letters:
            click.echo(json.dumps({"seq": letter.seq, "subject": letter.subject, **letter.headers}))
        return
    if not found.letters:
        click.echo("no dead letters match")
        return
    click.echo(HEADER_LINE)
    for letter in found.letters:
        click.echo(ls_line(letter))
    if found.truncated:
        click.echo(f"(showing the first {len(found.letters)}; use --limit or a filter)")


@dlq.command(short_help="Headers and decoded body of one dead letter.")
@click.argument("seq", type=click.IntRange(min=1))
def show(seq: int) -> None:
    """Every header of one dead letter, and its body decoded."""
    settings = load_settings()

    async def go() -> _dlq.DeadLetter | None:
        async with open_bus(settings) as nc:
            return await _dlq.get(nc.jetstream(), names_of(settings), seq)

    letter = run_async(go)
    assert letter is not None
    click.echo(f"dead letter {letter.seq} on {letter.subject} ({letter.size} bytes)")
    width = max((len(k) for k in letter.headers), default=0)
    for key, value in sorted(letter.headers.items()):
        click.echo(f"  {key:<{width}}  {value}")
    click.echo("")
    click.echo(describe_body(letter.headers, letter.data))


@dlq.command(short_help="Put dead letters back on their original subjects.")
@_filters
@click.option("--seq", "seqs", type=int, multiple=True, help="A DLQ sequence; repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Replay at most N.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed, change nothing.")
def replay(
    reason: str | None,
    consumer: str | None,
    subject: str | None,
    seqs: tuple[int, ...],
    limit: int | None,
    dry_run: bool,
) -> None:
    """Republish matching dead letters to their original subjects, then delete them."""
    settings = load_settings()
    names = names_of(settings)
    flt = _filter(reason, consumer, subject, seqs)

    async def go() -> list[_dlq.Replayed]:
        async with open_bus(settings) as nc:
            js = nc.jetstream()
            found = await _dlq.scan(js, names, flt, limit=limit)
            return await _dlq.replay(js, names, found.letters, dry_run=dry_run)

    done = run_async(go)
    for item in done:
        click.echo(item.line())
    replayed = sum(1 for d in done if d.action == "replayed")
    failed = sum(1 for d in done if d.action == "failed")
    if dry_run:
        click.echo(f"{len(done)} dead letters match (dry run: nothing changed)")
    else:
        click.echo(f"replayed {replayed} of {len(done)} matching dead letters")
    if failed:
        fail(f"{failed} dead letters could not be replayed and stay in {names.dlq_stream}")


@dlq.command(short_help="Delete matching dead letters.")
@_filters
@click.option("--seq", "seqs", type=int, multiple=True, help="A DLQ sequence; repeatable.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(
    reason: str | None, consumer: str | None, subject: str | None, seqs: tuple[int, ...], yes: bool
) -> None:
    """Delete matching dead letters (all of them when no filter is given)."""
    settings = load_settings()
    names = names_of(settings)
    flt = _filter(reason, consumer, subject, seqs)
    what = "EVERY dead letter" if flt.is_empty else "the matching dead letters"
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to delete {what} of {names.dlq_stream} without --yes")
        click.confirm(f"Delete {what} of {names.dlq_stream}?", abort=True)

    async def go() -> int:
        async with open_bus(settings) as nc:
            return await _dlq.purge(nc.jetstream(), names, flt)

    click.echo(f"deleted {run_async(go)} dead letters from {names.dlq_stream}")
