"""Regenerate the protobuf / gRPC code under ``schemas/``, or check it has not drifted.

``python -m ops.protogen`` compiles every ``schemas/*.proto`` with ``grpc_tools.protoc``
(``-I .`` from the repo root, so generated code imports ``from schemas import events_pb2``)
into ``*_pb2.py``, ``*_pb2_grpc.py`` and, through mypy-protobuf's plugins, ``*_pb2.pyi`` and
``*_pb2_grpc.pyi``. ``--check`` generates into a temporary directory and exits 1, listing the
drifted files, when the checked-in files differ; CI runs it so nobody edits generated code by
hand or forgets to regenerate.

The output is deterministic: the inputs are sorted, the same pinned tools run every time, and
files are compared byte for byte.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from schemas import JimbotError

__all__ = ["GENERATED_SUFFIXES", "ProtogenError", "check", "generate", "main"]

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = "schemas"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
# mypy-protobuf writes its gRPC stubs for a typed grpc (grpc-stubs); our grpc is untyped, so
# mypy would flag the stubs' overloads and type: ignores. Silence exactly those two codes.
_GRPC_STUB_HEADER = b'# mypy: disable-error-code="overload-cannot-match, unused-ignore"\n'


class ProtogenError(JimbotError):
    """Raised when protoc or one of its plugins is missing or fails."""


def _plugin(name: str) -> Path:
    # The plugins live next to the interpreter in the venv; look there before PATH so that a
    # stray global install of another mypy-protobuf version cannot change the output.
    bindir = Path(sys.executable).parent
    found = shutil.which(name, path=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]))
    if found is None:
        raise ProtogenError(f"{name} not found next to {sys.executable} or on PATH")
    return Path(found)


def _protos(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / SCHEMAS).glob("*.proto"))


def _run_protoc(root: Path, out: Path) -> None:
    protos = _protos(root)
    if not protos:
        raise ProtogenError(f"no .proto files under {root / SCHEMAS}")
    include = resources.files("grpc_tools") / "_proto"
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProtogenError(f"protoc failed ({done.returncode}):\n{done.stderr.strip()}")


def _generated(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def _fresh(root: Path) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="jimbot-protogen-") as tmp:
        _run_protoc(root, Path(tmp))
        files = _generated(Path(tmp) / SCHEMAS)
    return {
        name: _GRPC_STUB_HEADER + data if name.endswith("_pb2_grpc.pyi") else data
        for name, data in files.items()
    }


def generate(root: Path = ROOT) -> list[str]:
    """Regenerate the checked-in files; returns the names that changed (written or removed)."""
    fresh = _fresh(root)
    target = root / SCHEMAS
    current = _generated(target)
    changed: list[str] = []
    for name, data in fresh.items():
        if current.get(name) != data:
            (target / name).write_bytes(data)
            changed.append(name)
    for name in sorted(set(current) - set(fresh)):
        (target / name).unlink()  # generated from a .proto that no longer exists
        changed.append(name)
    return changed


def check(root: Path = ROOT) -> list[str]:
    """Describe every drifted file (empty when the checked-in code matches the sources)."""
    fresh = _fresh(root)
    current = _generated(root / SCHEMAS)
    drift: list[str] = []
    for name in sorted(set(fresh) | set(current)):
        path = f"{SCHEMAS}/{name}"
        if name not in current:
            drift.append(f"{path}: missing (not generated yet)")
        elif name not in fresh:
            drift.append(f"{path}: stale (no .proto produces it any more)")
        elif current[name] != fresh[name]:
            diff = difflib.unified_diff(
                current[name].decode(errors="replace").splitlines(),
                fresh[name].decode(errors="replace").splitlines(),
                lineterm="",
                n=0,
            )
            changed = sum(
                1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))
            )
            drift.append(f"{path}: differs from the .proto sources ({changed} lines)")
    return drift


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ops.protogen``."""
    parser = argparse.ArgumentParser(prog="python -m ops.protogen", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the checked-in generated code differs from the .proto sources",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="repository root holding schemas/ (default: this checkout)",
    )
    options = parser.parse_args(argv)
    try:
        if options.check:
            drift = check(options.root)
            if drift:
                print("generated protobuf code is out of date:", file=sys.stderr)
                for line in drift:
                    print(f"  {line}", file=sys.stderr)
                print(
                    "run `just proto` (python -m ops.protogen) and commit the result",
                    file=sys.stderr,
                )
                return 1
            print("generated protobuf code is up to date")
            return 0
        changed = generate(options.root)
    except ProtogenError as exc:
        print(f"protogen: {exc}", file=sys.stderr)
        return 2
    for name in changed:
        print(f"wrote {SCHEMAS}/{name}")
    if not changed:
        print("generated protobuf code was already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
