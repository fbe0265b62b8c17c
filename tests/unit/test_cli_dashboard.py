"""`pik explain-dashboard` refuses a missing scope or field before any connection (exit 2, one line)."""

from __future__ import annotations

from click.testing import CliRunner

from pik_cli import cli


def test_a_missing_scope_or_field_is_a_usage_error(tmp_path):
    values = tmp_path / "dash.csv"
    values.write_text("window,value\n2026-11-30,980\n")
    no_scope = CliRunner().invoke(cli, ["explain-dashboard", str(values), "--source", "checkout"])
    assert no_scope.exit_code == 2 and "give --source with --event-type" in no_scope.output
    no_field = CliRunner().invoke(
        cli,
        ["explain-dashboard", str(values), "--source", "checkout", "--event-type", "order_placed", "--metric", "sum"],
    )
    assert no_field.exit_code == 2 and "--metric sum needs --field" in no_field.output
    missing = CliRunner().invoke(cli, ["explain-dashboard", str(tmp_path / "nope.csv"), "--entity", "c-1"])
    assert missing.exit_code == 2 and "does not exist" in missing.output
