"""Bench results: per-round figures, their medians and ratios, the machine, Markdown and JSON."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.natsserver import find_nats_server

if TYPE_CHECKING:
    from collections.abc import Sequence

RAW, RUNTIME, RUNTIME_SERVER = "raw", "runtime", "runtime_server"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a measure, and the goal its runtime/raw ratio must meet (or,
    when ``absolute``, the runtime figure itself)."""

    key: str
    label: str
    goal_min: float | None = None
    goal_max: float | None = None
    absolute: bool = False

    def goal(self, ratio: float | None, value: float | None = None) -> str:
        if self.goal_min is None and self.goal_max is None:
            return ""
        bound = self.goal_min if self.goal_min is not None else self.goal_max
        text = f"{'≥' if self.goal_min is not None else '≤'} "
        text += f"runtime {_fmt(bound)}" if self.absolute else f"{bound:.2f}"
        judged = value if self.absolute else ratio
        if judged is None:
            return text
        met = (self.goal_min is None or judged >= self.goal_min) and (
            self.goal_max is None or judged <= self.goal_max
        )
        return f"{text} {'met' if met else 'MISSED'}"


@dataclass
class Results:
    """Every round's figure per (measure, side); the table shows medians."""

    rows: list[Row]
    values: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, key: str, side: str, value: float) -> None:
        self.values[key, side].append(value)

    def add_figures(self, case: str, side: str, figures: object) -> None:
        """``<case>.p50_us`` / ``.p99_us`` / ``.req_per_s`` / ``.cpu_us`` of a measured run."""
        for name in ("p50_us", "p99_us", "req_per_s", "cpu_us"):
            self.add(f"{case}.{name}", side, getattr(figures, name))

    def median(self, key: str, side: str) -> float | None:
        got = self.values.get((key, side))
        return statistics.median(got) if got else None

    def ratio(self, key: str, side: str) -> float | None:
        raw, other = self.median(key, RAW), self.median(key, side)
        return other / raw if raw and other is not None else None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.rows:
            sides = {
                side: {"median": self.median(row.key, side), "rounds": self.values[row.key, side]}
                for side in (RAW, RUNTIME, RUNTIME_SERVER)
                if (row.key, side) in self.values
            }
            ratios = {
                side: self.ratio(row.key, side)
                for side in (RUNTIME, RUNTIME_SERVER)
                if side in sides
            }
            out[row.key] = {
                "label": row.label,
                "sides": sides,
                "ratio_to_raw": ratios,
                "goal": row.goal(ratios.get(RUNTIME), self.median(row.key, RUNTIME)) or None,
            }
        return out


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        server = subprocess.run(
            [str(find_nats_server()), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError as exc:
        server = f"unknown ({exc})"
    return {
        "cores": str(os.cpu_count() or "?"),
        "cpu": model or platform.machine(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "nats_py": metadata.version("nats-py"),
        "nats_server": server.removeprefix("nats-server: "),
        "load_before": load_average(),
    }


def load_average() -> str:
    """The 1-minute load average: other work on the box shows up as noise in the figures."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def render(results: Results, *, command: str, host: dict[str, str], summary: str) -> str:
    """The Markdown report: command, machine, parameters, then one table."""
    lines = [
        "## jimbot vs raw nats-py",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {host['cores']} cores ({host['cpu']}), {host['os']}, Python {host['python']}, "
        f"nats-py {host['nats_py']}, nats-server {host['nats_server']}; 1-min load average "
        f"{host['load_before']} before, {host.get('load_after', '?')} after (other work on "
        "the box is noise in these figures).",
        "",
        summary,
        "",
        "| measure | raw nats-py | runtime | runtime / raw "
        "| raw client → runtime endpoint | / raw | goal (runtime / raw, or runtime) |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for row in results.rows:
        ratio, value = results.ratio(row.key, RUNTIME), results.median(row.key, RUNTIME)
        lines.append(
            f"| {row.label} | {_fmt(results.median(row.key, RAW))} "
            f"| {_fmt(value)} | {_fmt_ratio(ratio)} "
            f"| {_fmt(results.median(row.key, RUNTIME_SERVER))} "
            f"| {_fmt_ratio(results.ratio(row.key, RUNTIME_SERVER))} | {row.goal(ratio, value)} |"
        )
    return "\n".join(lines)
