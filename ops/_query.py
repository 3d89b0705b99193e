"""``jimbot query "SQL"``: read-only SQL over the analytics store, as a table, CSV, JSON or Parquet.

The query runs in this process over the store's Parquet files (``schemas.analytics``), so it
works whether or not the analytics handler is running, and never blocks it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import shutil
import sys
from typing import TYPE_CHECKING, Any, BinaryIO

import click
import msgspec

from ops._console import fail
from ops.config import load_settings

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

FORMATS = ("table", "csv", "json", "parquet")
TABLE_LIMIT = 1000
"""Rows a terminal table shows unless --limit says otherwise (exports are not limited)."""


@click.command(short_help="Read-only SQL over the analytics store.")
@click.argument("sql", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of stdout (needed for parquet on a terminal).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help=f"At most this many rows [table: {TABLE_LIMIT}, other formats: all].",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds before the query is interrupted.")  # fmt: skip
def query(sql: str | None, fmt: str, output: str | None, limit: int | None, timeout: float) -> None:
    """Run one read-only SELECT (or EXPLAIN) over the analytics store and print the result.

    SQL "-" or none reads the statement from stdin. Views: events, dead_letters,
    events_by_type_hour, game_states, games, decisions, decision_latency,
    dead_letters_by_hour (`SHOW TABLES`, `DESCRIBE games`). Times are UTC.
    Anything that writes is refused.
    """
    if sql is None or sql == "-":
        if sys.stdin.isatty():
            fail('no SQL: pass it as an argument (jimbot query "SELECT ...") or on stdin')
        sql = sys.stdin.read()
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        fail("parquet is binary: write it to a file with -o FILE, or redirect stdout")
    from schemas.analytics import Layout, run_query  # DuckDB takes ~0.4 s to import

    layout = Layout.from_data_dir(load_settings().data_dir)
    if not layout.root.exists():
        click.echo(
            f"jimbot: no analytics store at {layout.root} yet (the analytics handler writes "
            "it: `jimbot up` or `jimbot run analytics`); the views are empty",
            err=True,
        )
    if limit is None and fmt == "table":
        limit = TABLE_LIMIT
    result = run_query(layout, sql, limit=limit, timeout=timeout)
    table = result.table
    if output is None:
        write(table, fmt, sys.stdout.buffer)
    else:
        with open(output, "wb") as out:
            write(table, fmt, out)
    if result.truncated:
        click.echo(
            f"jimbot: showing the first {table.num_rows:,} rows; --limit N shows more", err=True
        )


def write(table: pa.Table, fmt: str, out: BinaryIO) -> None:
    """``table`` in ``fmt`` on ``out``."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        pq.write_table(table, out, compression="zstd")
        return
    names = _unique(table.column_names)
    rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    if fmt == "json":
        _write_json(names, rows, out)
        return
    text = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
    else:
        _write_table(table, rows, text)
    out.write(text.getvalue().encode())


def _unique(names: list[str]) -> list[str]:
    """Column names made unique (``SELECT 1, 1``), so JSON objects keep every column."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _write_json(names: list[str], rows: list[tuple[Any, ...]], out: BinaryIO) -> None:
    """An array of row objects, one per line (``jq`` and ``json.load`` both read it)."""
    from schemas.analytics import json_hook

    encoder = msgspec.json.Encoder(enc_hook=json_hook)
    out.write(b"[")
    for index, row in enumerate(rows):
        out.write(b"\n" if index == 0 else b",\n")
        out.write(encoder.encode(dict(zip(names, row, strict=True))))
    out.write(b"\n]\n" if rows else b"]\n")


def _csv_cell(value: Any) -> str:
    return "" if value is None else _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict | list):
        return msgspec.json.encode(value, enc_hook=_text).decode()
    return str(value)


def _text(value: Any) -> str:
    """Nested values in a cell: whatever msgspec cannot encode, as its text."""
    return str(value)


def _write_table(table: pa.Table, rows: list[tuple[Any, ...]], out: io.StringIO) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(header_style="bold")
    for field in table.schema:
        numeric = str(field.type).startswith(("int", "uint", "float", "double", "decimal"))
        view.add_column(field.name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        view.add_row(*(_cell(value) for value in row))
    # On a terminal, its width; redirected, wide enough that rows are never folded.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 1000
    console = Console(file=out, width=width, highlight=False, emoji=False, markup=False)
    console.print(view)
    if not rows:
        console.print("(no rows)")


__all__ = ["FORMATS", "query", "write"]
