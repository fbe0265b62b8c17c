"""Every `pik` command documents itself: help text with an example, reachable by --help."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pik_cli import cli


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


ALL = commands(cli)


def test_the_documented_commands_exist():
    names = {" ".join(path) for path, _ in ALL}
    assert {
        "local up",
        "demo",
        "ingest",
        "replay",
        "explain",
        "reconcile",
        "status",
        "incident open",
        "incident report",
    } <= names


@pytest.mark.parametrize(
    "path,command",
    [(p, c) for p, c in ALL if not isinstance(c, click.Group)],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_command_has_help_with_an_example(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "pik " in result.output


@pytest.mark.parametrize("option", ["--api-port", "--aws-port"])
def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(option):
    from click.testing import CliRunner

    from pik_cli import cli

    result = CliRunner().invoke(cli, ["local", "up", option, "80000"])
    assert result.exit_code == 2 and "80000 is not in the range 0<=x<=65535" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
