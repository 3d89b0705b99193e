"""``jimbot query``: a table, CSV, JSON or Parquet; writes refused in one line with exit 1."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner

import subjects
from handlers._analytics import Store, event_row, now_micros
from ops.cli import cli
from schemas import create_event, events_pb2
from schemas.analytics import Layout


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = Store(Layout.from_data_dir(tmp_path), retention=30)
    entries = []
    for i in range(5):
        payload = events_pb2.MoneyChangedEvent(old_value=i, new_value=i + 1, difference=1)
        body = create_event(payload, source="BalatroMCP").SerializeToString()
        entries.append(
            event_row(body, subject=subjects.MONEY_CHANGED, seq=i, headers={}, now_us=now_micros())
        )
    store.write("events", entries, set())
    return tmp_path


def run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["query", *args], env={"JIMBOT_DATA_DIR": str(data_dir)})
    return result.exit_code, result.stdout, result.stderr


SQL = "SELECT type, count(*) AS n FROM events GROUP BY type"


def test_the_default_is_a_table(data_dir: Path) -> None:
    code, out, err = run(data_dir, SQL)
    assert code == 0, err
    assert "MONEY_CHANGED" in out and "│ n" in out.replace("┃", "│") and "5" in out


def test_csv(data_dir: Path) -> None:
    code, out, _ = run(data_dir, "--format", "csv", SQL)
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["type", "n"], ["MONEY_CHANGED", "5"]]


def test_json_rows_are_objects(data_dir: Path) -> None:
    code, out, _ = run(
        data_dir, "--format", "json", "SELECT type, ts, 1 AS x, 2 AS x FROM events LIMIT 1"
    )
    assert code == 0
    [row] = json.loads(out)
    assert row["type"] == "MONEY_CHANGED" and row["x"] == 1 and row["x_2"] == 2
    assert "T" in row["ts"]


def test_parquet_to_a_file(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    code, _, err = run(data_dir, "--format", "parquet", "-o", str(target), SQL)
    assert code == 0, err
    assert pq.read_table(target).to_pylist() == [{"type": "MONEY_CHANGED", "n": 5}]


def test_the_sql_can_come_on_stdin(data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["query", "--format", "csv", "-"],
        input="SELECT count(*) AS n FROM events",
        env={"JIMBOT_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["n", "5"]


def test_a_limit_cuts_rows_and_says_so(data_dir: Path) -> None:
    code, out, err = run(data_dir, "--format", "csv", "--limit", "2", "SELECT * FROM events")
    assert code == 0
    assert len(out.splitlines()) == 3
    assert "first 2 rows" in err


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM events", "DELETE is not a read"),
        ("COPY (SELECT 1) TO 'x.csv'", "COPY is not a read"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("SELEC 1", "query failed"),
    ],
)
def test_refusals_and_errors_are_one_line_and_exit_1(data_dir: Path, sql: str, words: str) -> None:
    code, out, err = run(data_dir, sql)
    assert code == 1
    assert out == ""
    assert err.startswith("jimbot: ") and words in err
    assert len(err.strip().splitlines()) == 1


def test_an_empty_store_has_empty_views_and_says_where_it_looked(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "--format", "csv", "SELECT count(*) AS n FROM games")
    assert code == 0
    assert out.splitlines() == ["n", "0"]
    assert "no analytics store" in err
