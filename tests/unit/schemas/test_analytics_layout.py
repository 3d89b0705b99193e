"""``schemas.analytics``: the read-only check, the retention setting, empty stores."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from schemas import JimbotError
from schemas.analytics import (
    RETENTION_ENV,
    TABLES,
    VIEWS,
    Layout,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    check_read_only,
    open_reader,
    retention_from_env,
    run_query,
)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select * from events where type = 'X';  ",
        "WITH a AS (SELECT 1) SELECT * FROM a",
        "FROM events",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "SHOW TABLES",
        "DESCRIBE events",
        "SUMMARIZE SELECT 1",
        "VALUES (1)",
    ],
)
def test_reads_are_allowed(sql: str) -> None:
    check_read_only(duckdb.connect(), sql)


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("INSERT INTO t VALUES (1)", "INSERT is not a read"),
        ("UPDATE t SET a = 1", "UPDATE is not a read"),
        ("CREATE VIEW v AS SELECT 1", "CREATE is not a read"),
        ("DROP VIEW events", "DROP is not a read"),
        ("COPY t TO 'x'", "COPY is not a read"),
        ("EXPORT DATABASE 'x'", "EXPORT is not a read"),
        ("ATTACH 'x.db'", "ATTACH is not a read"),
        ("INSTALL httpfs", "is not a read"),
        ("LOAD httpfs", "LOAD is not a read"),
        ("SET threads = 64", "SET is not a read"),
        ("PRAGMA version", "PRAGMA is not a read"),
        ("CHECKPOINT", "is not a read"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x'", "COPY is not a read"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("", "no SQL statement"),
        ("-- only a comment", "no SQL statement"),
    ],
)
def test_anything_else_is_refused_naming_why(sql: str, words: str) -> None:
    with pytest.raises(QueryRefused) as caught:
        check_read_only(duckdb.connect(), sql)
    assert words in str(caught.value)
    assert str(caught.value).startswith("refused: ")


def test_text_that_does_not_parse_is_a_failure_not_a_refusal() -> None:
    with pytest.raises(QueryFailed) as caught:
        check_read_only(duckdb.connect(), "SELEC 1")
    assert "syntax error" in str(caught.value)


def test_the_reader_cannot_touch_files_outside_the_store(tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    layout = Layout.from_data_dir(tmp_path / "data")
    con = open_reader(layout)
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"SELECT * FROM read_csv('{outside}')")
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


def test_an_empty_store_has_every_view_empty(tmp_path: Path) -> None:
    layout = Layout.from_data_dir(tmp_path)
    for view in VIEWS:
        result = run_query(layout, f"SELECT * FROM {view}")
        assert result.table.num_rows == 0, view
    columns = run_query(layout, "SELECT * FROM events").table.column_names
    assert columns == [c.name for c in TABLES["events"]] + ["day"]


def test_a_long_query_is_interrupted(tmp_path: Path) -> None:
    sql = "SELECT count(*) FROM range(100000000000) a, range(1000) b"
    with pytest.raises(QueryTimeout) as caught:
        run_query(Layout.from_data_dir(tmp_path), sql, timeout=0.3)
    assert "0.3 s" in str(caught.value)


def test_a_limit_returns_that_many_rows_and_says_it_cut(tmp_path: Path) -> None:
    layout = Layout.from_data_dir(tmp_path)
    result = run_query(layout, "SELECT * FROM range(10000)", limit=3000)
    assert result.table.num_rows == 3000 and result.truncated
    result = run_query(layout, "SELECT * FROM range(10)", limit=10)
    assert result.table.num_rows == 10 and not result.truncated


@pytest.mark.parametrize(("raw", "days"), [(None, 30), ("", 30), ("7", 7), ("365", 365)])
def test_retention_comes_from_the_environment(raw: str | None, days: int) -> None:
    env = {} if raw is None else {RETENTION_ENV: raw}
    assert retention_from_env(env) == days


@pytest.mark.parametrize("raw", ["0", "-3", "a week", "1.5"])
def test_a_bad_retention_names_the_variable(raw: str) -> None:
    with pytest.raises(JimbotError) as caught:
        retention_from_env({RETENTION_ENV: raw})
    assert RETENTION_ENV in str(caught.value)


def test_layout_lists_only_day_partitions(tmp_path: Path) -> None:
    layout = Layout.from_data_dir(tmp_path)
    for name in ("day=2026-01-02", "day=2025-12-31", "day=junk", "other"):
        (layout.table_dir("events") / name).mkdir(parents=True)
    assert [d.isoformat() for d, _ in layout.days("events")] == ["2025-12-31", "2026-01-02"]
    assert layout.days("dead_letters") == []
    assert not layout.has_files("events")
