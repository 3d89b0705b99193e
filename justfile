# jimbot — run `just` to list the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

python := env("PYTHON", "python3")
venv := ".venv"
bin := venv / "bin"

[doc("List the recipes")]
default:
    @just --list --unsorted

# Creates .venv and installs jimbot with its dev extras; reinstalls only when pyproject.toml changes.
[private]
venv:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then {{python}} -m venv {{venv}}; fi
    stamp={{venv}}/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{bin}}/python -m pip install -q --upgrade pip
        {{bin}}/python -m pip install -q -e '.[dev]'
        touch "$stamp"
    fi

[doc("Start the service set on an embedded NATS (Ctrl-C drains and exits)")]
[group("run")]
up *ARGS: venv
    {{bin}}/jimbot up {{ARGS}}

[doc("Run one handler on its own, e.g. `just run dlq_mover`")]
[group("run")]
run NAME: venv
    {{bin}}/jimbot run {{NAME}}

[doc("A short guided demo: events, a failing handler, dead letters, replay")]
[group("run")]
demo: venv
    {{bin}}/jimbot demo

[doc("The whole test suite (starts its own nats-server instances)")]
[group("test")]
test *ARGS: venv
    {{bin}}/python -m pytest {{ARGS}}

[doc("Benchmarks: the runtime against raw nats-py on the same server, with ratios")]
[group("test")]
bench *ARGS: venv
    {{bin}}/python -m ops.bench {{ARGS}}

[doc("Regenerate the protobuf / gRPC code under schemas/")]
[group("dev")]
proto: venv
    {{bin}}/python -m ops.protogen

[doc("Fail when the checked-in generated code differs from the .proto sources")]
[group("dev")]
proto-check: venv
    {{bin}}/python -m ops.protogen --check

[doc("ruff lint, ruff format --check, mypy --strict")]
[group("dev")]
lint: venv
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .
    {{bin}}/mypy .

[doc("Format the code in place")]
[group("dev")]
fmt: venv
    {{bin}}/ruff format .
    {{bin}}/ruff check --fix .

[doc("Everything CI checks")]
[group("dev")]
check: lint proto-check test
