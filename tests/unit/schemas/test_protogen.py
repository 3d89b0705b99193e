"""``python -m ops.protogen --check``: the checked-in generated code matches the sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ops import protogen

ROOT = Path(__file__).resolve().parents[3]


def test_check_passes_on_the_checked_in_tree() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.protogen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def _copy_schemas(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas", ignore=shutil.ignore_patterns("_*"))
    return tmp_path


def test_check_lists_edited_missing_and_stale_files(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    generated = root / "schemas" / "events_pb2.py"
    generated.write_text(generated.read_text() + "# edited by hand\n")
    (root / "schemas" / "agent_bridge_pb2.pyi").unlink()
    (root / "schemas" / "gone_pb2.py").write_text("")

    drift = protogen.check(root)

    assert drift == [
        "schemas/agent_bridge_pb2.pyi: missing (not generated yet)",
        "schemas/events_pb2.py: differs from the .proto sources (1 lines)",
        "schemas/gone_pb2.py: stale (no .proto produces it any more)",
    ]


def test_generate_repairs_the_drift_and_is_deterministic(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    (root / "schemas" / "events_pb2_grpc.py").write_text("# wrong\n")
    (root / "schemas" / "gone_pb2.py").write_text("")

    assert protogen.generate(root) == ["events_pb2_grpc.py", "gone_pb2.py"]
    assert protogen.check(root) == []
    assert protogen.generate(root) == []
    for name in ("events_pb2.py", "events_pb2_grpc.py", "agent_bridge_pb2.pyi"):
        assert (root / "schemas" / name).read_bytes() == (ROOT / "schemas" / name).read_bytes()


def test_check_exits_1_and_names_the_drift(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    (root / "schemas" / "events_pb2.pyi").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "ops.protogen", "--check", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "generated protobuf code is out of date" in done.stderr
    assert "schemas/events_pb2.pyi: differs from the .proto sources" in done.stderr
