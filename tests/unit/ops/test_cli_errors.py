"""The top-level error translation: one line on stderr, exit 1, never a traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from nats.errors import NoRespondersError

from handlers import BusUnavailable
from ops.cli import _Cli


def _group_raising(exc: BaseException) -> click.Group:
    group = _Cli()

    @group.command()
    def boom() -> None:
        raise exc

    return group


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (BusUnavailable("cannot reach NATS: start it"), "jimbot: cannot reach NATS: start it"),
        (
            ExceptionGroup("task group", [BusUnavailable("wrapped by anyio")]),
            "jimbot: wrapped by anyio",
        ),
        (NoRespondersError(), "jimbot: JetStream did not answer: is JetStream enabled"),
        (PermissionError(13, "Permission denied", "/data"), "jimbot: Permission denied: /data"),
    ],
)
def test_known_errors_are_one_line_and_exit_1(exc: BaseException, line: str) -> None:
    result = CliRunner().invoke(_group_raising(exc), ["boom"])

    assert result.exit_code == 1
    assert result.stderr.startswith(line)
    assert result.stderr.count("\n") == 1


def test_a_bug_is_not_disguised_as_an_operational_error() -> None:
    result = CliRunner().invoke(_group_raising(ExceptionGroup("g", [KeyError("x")])), ["boom"])

    assert isinstance(result.exception, ExceptionGroup)
