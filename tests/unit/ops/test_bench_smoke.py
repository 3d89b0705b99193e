"""`python -m ops.bench` with tiny counts, so the benchmark code cannot rot unnoticed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ops import bench
from ops._bench_report import Row

# The sides each measure must have, by the start of its key; the rest are jimbot alone.
SIDES = {
    "consume.": {"raw", "runtime"},
    "rpc": {"raw", "runtime", "runtime_server"},
    "gateway.rate_": {"raw", "runtime"},
    "gateway.events_per_s": {"raw", "runtime"},
    "decision": {"raw", "runtime", "runtime_server"},
    "agentbridge.": {"runtime"},
    "agentbridge": {"raw", "runtime"},
    "knowledgen.p99_ms": {"runtime"},
    "knowledgencold.p99_ms": {"runtime"},
    "knowledge": {"raw", "runtime", "runtime_server"},
    "resources": {"raw", "runtime"},
    "analytics.query.": {"runtime"},
    "analytics.": {"raw", "runtime"},
    "breaker.guard_us": {"runtime"},
    "breaker.": {"raw", "runtime"},
}


def _sides(key: str) -> set[str]:
    return next((sides for start, sides in SIDES.items() if key.startswith(start)), {"runtime"})


@pytest.mark.timeout(240)
def test_bench_measures_every_suite_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["--quick", "--messages", "300", "--requests", "60", "--callers", "4", "--games", "1"]
    code = bench.main([*argv, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| JetStream consume, msg/s (batch 16) |" in printed
    assert "request-reply, 4 callers, p99 µs" in printed
    assert "| gateway, 50-event batch every 100 ms, p99 ms |" in printed
    assert "| decision service, 1 caller, p99 µs |" in printed
    assert "games/hour |" in printed
    assert "| AgentBridge RequestAction, 4 clients, p99 µs |" in printed
    assert (
        "| AgentBridge RequestAction vs raw nats-py request-reply, 4 clients, p99 µs |" in printed
    )
    assert f"`python -m ops.bench {' '.join(argv)} --json {out}`" in printed
    doc = json.loads(out.read_text())
    assert doc["params"]["messages"] == 300
    assert doc["params"]["suites"] == list(bench.SUITES)
    assert set(bench.SUITES) >= {"runtime", "gateway", "decision", "games", "agentbridge"}
    keys = set(doc["results"])
    assert {"consume.msgs_per_s", "gateway.events_per_s", "decision1.p99_us"} <= keys
    assert {"games.per_hour", "games.stored", "games.cpu_gateway", "policy.p50_us"} <= keys
    for key, row in doc["results"].items():
        assert set(row["sides"]) == _sides(key), key
        # Tiny runs may legitimately count zero of something; nothing may be negative.
        assert all(side["median"] >= 0 for side in row["sides"].values()), key
    assert {"agentbridgen.req_per_s", "agentbridgen_2w.p99_us", "agentbridge.copy_gain"} <= keys
    assert {"agentbridge1_nats.p99_us", "agentbridgen_nats.cpu_us"} <= keys
    assert {"knowledgen.p99_us", "resources.p99_us", "analytics.msgs_per_s"} <= keys
    assert {"analytics.query.by_type_hour", "breaker.p50_us"} <= keys
    for key in (
        "consume.msgs_per_s",
        "gateway.events_per_s",
        "decision1.p99_us",
        "agentbridgen.req_per_s",
        "agentbridgen_2w.req_per_s",
        "agentbridgen_nats.req_per_s",
    ):
        assert all(side["median"] > 0 for side in doc["results"][key]["sides"].values()), key
    assert doc["results"]["games.played"]["sides"]["runtime"]["median"] == 1
    assert doc["results"]["games.stalled"]["sides"]["runtime"]["median"] == 0


def test_one_suite_measures_only_its_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    code = bench.main(["--quick", "--suite", "decision", "--requests", "40", "--json", str(out)])
    assert code == 0
    assert "JetStream consume" not in capsys.readouterr().out
    assert {key.split(".")[0] for key in json.loads(out.read_text())["results"]} == {
        "decision1",
        "decisionn",
        "policy",
    }


def test_goals_on_a_ratio_or_on_the_figure_itself() -> None:
    ratio = Row("k", "label", goal_min=0.5)
    assert ratio.goal(0.6, 9_999) == "≥ 0.50 met"
    assert ratio.goal(0.4, 9_999) == "≥ 0.50 MISSED"
    absolute = Row("k", "label", goal_max=16.0, absolute=True)
    assert absolute.goal(99.0, 15.0) == "≤ runtime 16.0 met"
    assert absolute.goal(0.1, 17.0) == "≤ runtime 16.0 MISSED"
    assert Row("k", "label").goal(1.0, 1.0) == ""


def test_suite_and_counts_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--suite", "nope"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--in-flight", "0"])
    assert "--in-flight must be >= 1" in capsys.readouterr().err
    assert bench.parse_args(["--suite", "games"]).suites == ("games",)
    assert bench.parse_args([]).suites == bench.SUITES


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
