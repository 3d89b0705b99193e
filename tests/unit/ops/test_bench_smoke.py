"""`python -m ops.bench` with tiny counts, so the benchmark code cannot rot unnoticed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ops import bench


@pytest.mark.timeout(20)
def test_bench_measures_every_case_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["--quick", "--messages", "300", "--requests", "60", "--callers", "4"]
    code = bench.main([*argv, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| JetStream consume, msg/s (batch 16) |" in printed
    assert "request-reply, 4 callers, p99 µs" in printed
    assert f"`python -m ops.bench {' '.join(argv)} --json {out}`" in printed
    doc = json.loads(out.read_text())
    assert doc["params"]["messages"] == 300
    for key, row in doc["results"].items():
        sides = {"raw", "runtime"} | ({"runtime_server"} if key.startswith("rpc") else set())
        assert set(row["sides"]) == sides, key
        assert all(side["median"] > 0 for side in row["sides"].values()), key


def test_missing_server_binary_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    code = bench.main(["--quick"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("bench: nats-server binary not found")
    assert err.count("\n") == 1
