"""``--json`` on every command that prints data: one JSON document on stdout that ``json.loads`` reads,
nothing else on stdout (progress and logs go to stderr), the same exit codes as without it. The later tests
run the real ``pik`` in its own process, so stdout and stderr are the two pipes a shell sees (and ``jq``
reads stdout when installed); pik prints no colour codes (issue 23, item 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_cli import cli
from pik_local.stack import LocalStack
from tests.support.events import make_event
from tests.support.processes import PIK
from tests.support.receiver import receiving

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
    assert checks["ok"] is True and [(c["name"], c["status"]) for c in checks["checks"]] == [
        ("outputs", "ok"),
        ("ingest", "skip"),  # without --write
        ("replay", "ok"),
        ("missing key", "ok"),
        ("deployment", "skip"),  # the local stack has no layer, mappings or alarms
        ("sql", "ok"),
        ("metrics", "ok"),
    ]
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks["checks"])
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


def test_a_request_the_cli_checks_itself_names_field_rule_and_the_rule_s_words(local):
    """Issue 21: 'Error: rate_per_second: range' named the rule but not its bounds."""
    info_file, _, _ = local
    start, end = DAY.date().isoformat(), (DAY + timedelta(days=1)).date().isoformat()
    args = ["replay", "--entity", "c-1", "--start", start, "--end", end, "--rate", "0", "--execute"]
    for json_flag in ([], ["--json"]):
        result = CliRunner().invoke(cli, [*args, *json_flag, "--local-file", str(info_file)])
        assert (result.exit_code, result.stdout) == (1, ""), result.output
        assert result.stderr == "Error: rate_per_second/range: rate_per_second must be a number from 0.1 to 1000\n"


# --- the real command in its own process: stdout and stderr apart, as a shell pipe sees them ---------------
JQ = shutil.which("jq")


def pik(info_file, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``pik ARGS --local-file INFO`` as a shell runs it (its own process, stdout and stderr separate)."""
    return subprocess.run(
        [*PIK, *args, "--local-file", str(info_file)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def one_document(result: subprocess.CompletedProcess) -> Any:
    """stdout as the one JSON document it must be: read whole by ``json.loads`` and, when jq is installed,
    by ``jq`` (which fails on a second document or any stray line)."""
    document = json.loads(result.stdout)
    if JQ:  # only this part needs jq
        piped = subprocess.run([JQ, "-c", "."], input=result.stdout, capture_output=True, text=True, timeout=30)
        assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 1, piped.stderr
        assert json.loads(piped.stdout) == document
    return document


def scope() -> list[str]:
    return ["--entity", "c-1", "--start", DAY.date().isoformat(), "--end", (DAY + timedelta(days=1)).date().isoformat()]


def test_an_executing_replay_prints_one_document_on_stdout_and_its_progress_on_stderr(local):
    """The endpoint refuses the first call's batch: the CLI follows the run once more, saying so on stderr,
    and the second call delivers all four; stdout is the final run alone."""
    info_file, _, _ = local
    with receiving(200, script=(422,) * 4) as hook:
        result = pik(info_file, "replay", *scope(), "--execute", "--target", f"http={hook.url('/hook')}", "--json")
    assert result.returncode == 0, result.stderr
    run = one_document(result)
    assert (run["dry_run"], run["status"], run["matched"], run["sent"], run["failed"]) == (False, "COMPLETED", 4, 4, 0)
    assert result.stderr.splitlines() == [
        f"... {run['replay_id']}: sent 0 so far, stopped because the target refused every event of a batch; "
        "trying the target once more"
    ]
    assert len(hook.received) == 8  # each event refused once, then taken


def test_a_replay_the_target_refused_exits_1_with_json_as_without_it(local):
    """Before, ``--json`` printed the refused run and exited 0, where the same command without it exits 1."""
    info_file, _, _ = local
    with receiving(422) as hook:
        target = ["--execute", "--target", f"http={hook.url('/hook')}"]
        plain, as_json = (
            pik(info_file, "replay", *scope(), *target),
            pik(info_file, "replay", *scope(), *target, "--json"),
        )
    assert (plain.returncode, as_json.returncode) == (1, 1)
    assert f"target refused: nothing delivered (4 events refused by http:{hook.url('/hook')})" in plain.stdout
    run = one_document(as_json)
    assert (run["status"], run["stopped"], run["sent"], run["failed"]) == ("PARTIAL", "target_errors", 0, 4)
    assert as_json.stderr.splitlines() == [
        f"... {run['replay_id']}: sent 0 so far, stopped because the target refused every event of a batch; "
        "trying the target once more"
    ]


def test_pik_steer_json_prints_the_run_as_one_document_with_the_same_exit_codes(local):
    info_file, _, _ = local
    kit = pik_nb.connect(path=info_file)
    queue = kit.client("sqs").create_queue(QueueName="json-steered")["QueueUrl"]
    first = kit.replay(
        entity_id="c-1", start=DAY, end=DAY + timedelta(days=1), target={"sqs": queue}, limit=2, dry_run=False
    )
    assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "limit", 2)
    paused = pik(info_file, "steer", first["replay_id"], "pause", "--json")
    assert (paused.returncode, paused.stderr) == (0, "")
    run = one_document(paused)
    assert (run["replay_id"], run["status"], run["stopped"], run["sent"]) == (first["replay_id"], "PAUSED", "paused", 2)
    resumed = pik(info_file, "steer", first["replay_id"], "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = one_document(resumed)
    assert (run["replay_id"], run["status"], run["stopped"], run["sent"]) == (
        first["replay_id"],
        "COMPLETED",
        "completed",
        4,
    )
    assert resumed.stderr == ""
    unknown = "rp-" + "0" * 32
    plain, as_json = pik(info_file, "steer", unknown, "pause"), pik(info_file, "steer", unknown, "pause", "--json")
    assert plain.returncode == as_json.returncode != 0 and as_json.stdout == ""
    assert "Traceback" not in as_json.stderr and unknown in as_json.stderr, as_json.stderr


def test_pik_sql_with_an_empty_query_says_so_in_one_line_and_exits_1(local):
    info_file, _, _ = local
    for json_flag in ([], ["--json"]):
        result = pik(info_file, "sql", "", *json_flag)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "Error: the query holds no SQL statement (only blanks or comments)\n"


def test_nothing_pik_prints_holds_a_colour_code_under_no_color(local):
    """pik prints no ANSI escapes at all (so NO_COLOR=1 holds trivially, and output pipes through jq)."""
    info_file, answers, _ = local
    commands = [
        ["status"],
        ["status", "--json"],
        ["replay", *scope()],
        ["explain", answers[0]["event_id"]],
        ["sql", "SELECT count(*) AS n FROM events"],
        ["sql", ""],
        ["replay", "--start", "2026-13-40"],
        ["replay", "--help"],
    ]
    for args in commands:
        result = pik(info_file, *args, env={"NO_COLOR": "1"})
        printed = result.stdout + result.stderr
        assert printed.strip() and "\x1b" not in printed, (args, printed)
