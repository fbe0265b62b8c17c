"""`pik replay`'s target, rate, ids and status options: parsed before any connection, usage errors name the option."""

from __future__ import annotations

import sys

import click
import pandas as pd
import pytest
from click.testing import CliRunner

import pik_nb.connect  # noqa: F401 (the module whose connect the CLI calls)
from pik_cli import cli
from pik_cli.replay_options import parse_target, read_ids


def test_target_forms():
    assert parse_target("sqs=https://sqs.eu-west-1.amazonaws.com/1/q", None, None) == {
        "sqs": "https://sqs.eu-west-1.amazonaws.com/1/q"
    }
    assert parse_target("sqs=https://h/1/q.fifo", "g-1", "pik") == {"sqs": "https://h/1/q.fifo", "fifo_group_id": "g-1"}
    assert parse_target('{"kinesis": "arn:aws:kinesis:us-east-1:1:stream/s"}', None, None) == {
        "kinesis": "arn:aws:kinesis:us-east-1:1:stream/s"
    }
    assert parse_target(None, None, None) is None
    with pytest.raises(click.UsageError, match="KIND=ADDRESS"):
        parse_target("queue=https://x", None, None)
    with pytest.raises(click.UsageError, match="need --target"):
        parse_target(None, None, "cloudevents")


class _Kit:
    """Stands in for the connected kit: records what ``pik replay`` asks of ``kit.replay``."""

    progress = True

    def __init__(self) -> None:
        self.asked: dict = {}

    def replay(self, **kwargs) -> dict:
        self.asked = kwargs
        return {
            "replay_id": "rp-1",
            "dry_run": True,
            "status": "COMPLETED",
            "target": "sqs:q",
            "scanned": 0,
            "matched": 0,
            "sent": 0,
        }


@pytest.mark.parametrize(
    "args, envelope",
    [
        ([], None),
        (["--envelope"], "pik"),  # a bare --envelope, as before it took a value
        (["--envelope", "raw"], "raw"),
        (["--envelope", "cloudevents"], "cloudevents"),
    ],
)
def test_envelope_is_sent_as_the_requests_envelope(monkeypatch, args, envelope):
    kit = _Kit()
    monkeypatch.setattr(sys.modules["pik_nb.connect"], "connect", lambda *_, **__: kit)
    result = CliRunner().invoke(
        cli, ["replay", "--ids", "-", "--target", "sqs=https://h/1/q", *args, "--rate", "20"], input="a" * 64 + "\n"
    )
    assert result.exit_code == 0, result.output
    assert (kit.asked["envelope"], kit.asked["target"], kit.asked["rate_per_second"]) == (
        envelope,
        {"sqs": "https://h/1/q"},
        20,
    )


def test_an_unknown_envelope_is_a_usage_error_naming_the_choices():
    result = CliRunner().invoke(
        cli, ["replay", "--ids", "-", "--target", "sqs=https://h/1/q", "--envelope", "xml"], input="a" * 64 + "\n"
    )
    assert result.exit_code == 2 and "'xml' is not one of 'raw', 'pik', 'cloudevents'" in result.output


def test_ids_file_skips_blank_lines_and_comments(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("# from kit.search\n" + "a" * 64 + "\n\n" + "b" * 64 + "\n")
    assert read_ids(str(path)) == ["a" * 64, "b" * 64]


def test_missing_or_empty_ids_file_is_one_usage_line(tmp_path):
    missing = CliRunner().invoke(cli, ["replay", "--ids", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output and "does not exist" in missing.output
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    answered = CliRunner().invoke(cli, ["replay", "--ids", str(empty), "--local-file", "/nonexistent/local.json"])
    assert answered.exit_code == 2
    assert f"Invalid value for --ids: {empty} has no event ids" in answered.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ids", "-", "--entity", "e"], "give --ids, or a scope"),
        (["--entity", "e"], "give --start and --end (or --ids FILE)"),
        (
            ["--status", "REJECTED", "--entity", "e", "--start", "2026-11-20", "--end", "2026-11-21"],
            "give --start and --end only",
        ),
    ],
)
def test_usage_errors_come_before_any_connection(args, message):
    result = CliRunner().invoke(
        cli, ["replay", *args, "--local-file", "/nonexistent/local.json"], input="a" * 64 + "\n"
    )
    assert result.exit_code == 2
    assert message in result.output


class _RefusingKit:
    """What ``kit.replay`` answers when the target refused every event (173 matched by the walk)."""

    progress = True

    def replay(self, **_):
        return {
            "replay_id": "rp-" + "1" * 32,
            "dry_run": False,
            "status": "PARTIAL",
            "stopped": "target_errors",
            "target": "http:https://hooks.example.com/in",
            "scanned": 173,
            "matched": 0,
            "sent": 0,
            "failed": 10,
            "retried": 20,
            "by_day": {},
            "last_error": "HTTP 401 from https://hooks.example.com/in",
            "continuation": "abc",
        }

    def replays(self):  # no run before this one
        return pd.DataFrame({"replay_id": [], "dry_run": [], "request": [], "created_at": [], "sent": []})


def test_a_target_that_refused_everything_is_said_so_and_exits_non_zero(monkeypatch):
    monkeypatch.setattr(sys.modules["pik_nb.connect"], "connect", lambda *a, **k: _RefusingKit())
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            "--entity",
            "e",
            "--start",
            "2026-11-20",
            "--end",
            "2026-11-21",
            "--execute",
            "--target",
            "http=https://hooks.example.com/in",
        ],
    )
    assert result.exit_code == 1
    assert "target refused: nothing delivered (10 events refused by http:https://hooks.example.com/in)" in result.output
    assert "last target error: HTTP 401 from https://hooks.example.com/in" in result.output
    assert "nothing matched" not in result.output
