"""``--json`` on every command that prints data: one JSON document on stdout that ``json.loads`` reads,
nothing else on stdout (progress and logs go to stderr), the same exit codes as without it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_cli import cli
from pik_local.stack import LocalStack
from tests.support.events import make_event

DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    folder = tmp_path_factory.mktemp("json")
    info_file = folder / "local.json"
    with LocalStack(info_file=info_file):
        kit = pik_nb.connect(path=info_file)
        bodies = [
            make_event(entity_id="c-1", event_time=(DAY + timedelta(hours=h)).isoformat(), payload={"amount": 10 * h})
            for h in range(4)
        ]
        answers = [a.body for a in ingest_events(kit.resources.api_url, bodies, workers=1, progress=False)]
        dashboard = folder / "dashboard.csv"
        dashboard.write_text(f"window,value\n{DAY.date().isoformat()},4\n")
        yield info_file, answers, dashboard


def run(info_file, *args: str, exit_code: int = 0):
    """The command with ``--json``; its stdout parsed whole."""
    result = CliRunner().invoke(cli, [*args, "--json", "--local-file", str(info_file)])
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_every_data_command_prints_one_json_document(local):
    info_file, answers, dashboard = local
    event_id = answers[0]["event_id"]
    start, end = DAY.date().isoformat(), (DAY + timedelta(days=1)).date().isoformat()
    assert run(info_file, "status")["resources"]["events_table_name"]
    assert run(info_file, "explain", event_id)["event_id"] == event_id
    dry = run(info_file, "replay", "--entity", "c-1", "--start", start, "--end", end)
    assert (dry["dry_run"], dry["matched"]) == (True, 4)
    assert run(info_file, "reconcile") == []
    rows = run(info_file, "sql", "SELECT entity_id, count(*) AS n FROM events GROUP BY entity_id")
    assert rows == [{"entity_id": "c-1", "n": 4}]
    hits = run(
        info_file,
        "search",
        "--source",
        "checkout",
        "--event-type",
        "order_placed",
        "--start",
        start,
        "--end",
        end,
        "--where",
        "amount >= 20",
    )
    assert sorted(hit["amount"] for hit in hits) == [20, 30] and all(hit["s3_key"] for hit in hits)
    compacted = run(info_file, "compact", "--all")
    assert compacted["events"] == 4 and "watermark" in compacted
    checks = run(info_file, "doctor")
    assert checks and isinstance(checks, (dict, list))
    explained = run(
        info_file, "explain-dashboard", str(dashboard), "--source", "checkout", "--event-type", "order_placed"
    )
    assert explained["table"][0]["truth"] == 4


def test_ingest_prints_the_counts_and_each_line_s_answer_and_keeps_its_exit_code(local, tmp_path):
    info_file, _, _ = local
    lines = tmp_path / "events.jsonl"
    when = (DAY + timedelta(hours=5)).isoformat()
    one, two = (make_event(entity_id=entity, event_time=when) for entity in ("c-2", "c-3"))
    lines.write_text("\n".join([json.dumps(one), "", "{broken", json.dumps(two)]) + "\n")
    result = CliRunner().invoke(cli, ["ingest", str(lines), "--no-progress", "--json", "--local-file", str(info_file)])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    document = json.loads(result.stdout)
    assert document["counts"] == {"ACCEPTED": 2, "REJECTED": 1}
    assert [(a["line"], a["http_status"], a["status"]) for a in document["lines"]] == [
        (1, 200, "ACCEPTED"),
        (3, 400, "REJECTED"),
        (4, 200, "ACCEPTED"),
    ]  # a batch's answer is 200 for each
    assert result.stderr.splitlines()[0].startswith("line 3: REJECTED body/json: ")
    assert result.stderr.splitlines()[-1] == "1 of 3 lines were not stored"
    missing = CliRunner().invoke(cli, ["ingest", str(lines.with_name("none.jsonl")), "--json"])
    assert missing.exit_code == 2 and missing.stdout == ""  # no such file: a usage error, nothing on stdout


def test_a_failing_command_keeps_its_exit_code_and_says_why_on_stderr(local):
    info_file, _, _ = local
    result = CliRunner().invoke(cli, ["sql", "SELECT nope FROM events", "--json", "--local-file", str(info_file)])
    assert result.exit_code == 1 and result.stdout == "" and "nope" in result.stderr
