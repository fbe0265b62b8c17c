"""`pik local up` as a subprocess: the documented example over HTTP, replay, processor, clean stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import datetime, timedelta

import pytest
import urllib3

from pik.core import keys
from pik.core.timefmt import UTC
from pik_api import ingest_events, replay
from pik_local.stack import LocalStack, StackError, free_port
from tests.support.events import example_event
from tests.support.processes import PIK, port_is_free
from tests.support.waits import wait_for


def aggregate_versions(stack, entity_id):
    table = stack.info.outputs["aggregates_table_name"]
    items = stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.aggregate_pk(entity_id)}},
    )["Items"]
    return [(i["metric"]["S"], int(i["version"]["N"]), int(i["value"]["N"]), i["replay_id"]["S"]) for i in items]


def test_example_event_is_accepted_deduplicated_replayed_and_aggregated(start_stack):
    stack = start_stack()
    event = example_event()
    answers = ingest_events(stack.info.api_url, [event], progress=False) + ingest_events(
        stack.info.api_url, [event], progress=False
    )
    assert [(a.http_status, a.status) for a in answers] == [(200, "ACCEPTED"), (200, "DUPLICATE")]
    assert answers[0].body["event_id"] == answers[1].body["event_id"]
    now = datetime.now(UTC)
    run = replay(
        stack.info.api_url,
        {
            "entity_id": "user_123",
            "start_time": (now - timedelta(days=1)).isoformat(),
            "end_time": (now + timedelta(hours=1)).isoformat(),
            "dry_run": False,
        },
    )
    assert (run["status"], run["dry_run"], run["matched"], run["sent"]) == ("COMPLETED", False, 1, 1)
    assert run["requester"].startswith("arn:aws:iam::123456789012:user/")
    versions = wait_for(lambda: aggregate_versions(stack, "user_123"), timeout_s=30, what="aggregate version 1")
    assert versions == [("count", 1, 1, run["replay_id"])]
    api_port = int(stack.info.api_url.split(":")[2].split("/")[0])
    aws_port = int(stack.info.endpoint_url.rsplit(":", 1)[1])
    assert stack.stop() == 0  # SIGTERM: a clean stop, exit code 0
    assert port_is_free(api_port) and port_is_free(aws_port)
    assert not stack.info_file.exists()
    assert "pik local stack is up" in stack.output() and stack.output().rstrip().endswith("stopped")


def test_a_second_stack_on_the_same_info_file_says_one_is_running(start_stack):
    aws_port, api_port = free_port(0), free_port(0)
    stack = start_stack("--aws-port", str(aws_port), "--api-port", str(api_port))
    assert (stack.info.endpoint_url, stack.info.api_url) == (
        f"http://127.0.0.1:{aws_port}",
        f"http://127.0.0.1:{api_port}/v1",
    )
    second = subprocess.run(
        [*PIK, "local", "up", "--info-file", str(stack.info_file)], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1
    assert f"a local stack is already running (pid {stack.process.pid}" in second.stderr
    assert json.loads(stack.info_file.read_text())["pid"] == stack.process.pid


def test_api_answers_like_api_gateway_for_unknown_routes_and_broken_bodies(start_stack):
    stack = start_stack()
    http = urllib3.PoolManager()
    missing = http.request("POST", stack.info.api_url + "/nope", body=b"{}")
    assert missing.status == 404
    rejected = http.request("POST", stack.info.api_url + "/ingest", body=b"\xff\xfe not utf-8")
    assert rejected.status == 400 and json.loads(rejected.data)["status"] == "REJECTED"
    # Latin-1 inside an otherwise valid event: refused, never stored with U+FFFD in place of the bytes
    latin1 = json.dumps(example_event(entity_id="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    refused = http.request("POST", stack.info.api_url + "/ingest", body=latin1)
    assert refused.status == 400 and json.loads(refused.data)["details"][0]["rule"] == "utf8"
    # 11 MB: the client reads the 413 (the body is read and dropped first), not a broken pipe
    too_big = http.request("POST", stack.info.api_url + "/ingest", body=b"x" * (11 * 1024 * 1024), retries=False)
    assert too_big.status == 413
    objects = stack.client("s3").list_objects_v2(Bucket=stack.info.outputs["raw_bucket_name"])["Contents"]
    assert [o["Key"].split("/")[0] for o in objects] == ["rejected", "rejected"]


def test_pik_ingest_sends_json_lines_from_a_file_or_stdin(start_stack, tmp_path):
    stack = start_stack()
    lines = tmp_path / "events.jsonl"
    event = json.dumps(example_event())
    lines.write_text(event + "\n\n" + event + "\n{broken\n")
    where = ["--local-file", str(stack.info_file), "--no-progress", "--workers", "1", "--batch-size", "1"]  # in order
    done = subprocess.run(
        [*PIK, "ingest", str(lines), *where, "--output", str(tmp_path / "answers.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # a line was not stored
    assert json.loads(done.stdout) == {"ACCEPTED": 1, "DUPLICATE": 1, "REJECTED": 1}
    assert "1 of 3 lines were not stored" in done.stderr
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [(a["http_status"], a["status"]) for a in answers] == [
        (200, "ACCEPTED"),
        (200, "DUPLICATE"),
        (400, "REJECTED"),
    ]
    assert [a["line"] for a in answers] == [1, 3, 4]  # the file's line numbers (line 2 is blank)
    assert done.stderr.startswith("line 4: REJECTED body/json: body is not valid JSON")
    piped = subprocess.run(
        [*PIK, "ingest", "-", *where],
        input=json.dumps(example_event(entity_id="u2")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(piped.stdout) == {"ACCEPTED": 1}


def test_pik_ingest_in_batches_names_each_refused_line_its_number_and_rule(start_stack, tmp_path):
    """Issue 21: a broken line gets the json rule in batch mode too, and the reasons are printed."""
    stack = start_stack()
    lines = tmp_path / "events.jsonl"
    good, no_entity = example_event(entity_id="b1"), {**example_event(), "entity_id": ""}
    lines.write_text("\n".join([json.dumps(good), "{broken", json.dumps(no_entity), json.dumps(good)]) + "\n")
    where = ["--local-file", str(stack.info_file), "--no-progress", "--batch-size", "100"]
    done = subprocess.run(
        [*PIK, "ingest", str(lines), *where, "--output", str(tmp_path / "answers.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and json.loads(done.stdout) == {"ACCEPTED": 1, "DUPLICATE": 1, "REJECTED": 2}
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3, 4]
    assert [answers[1]["status"], answers[2]["status"]] == ["REJECTED", "REJECTED"]
    # two copies of one event in one batch run concurrently: either copy may be the one ACCEPTED
    assert sorted([answers[0]["status"], answers[3]["status"]]) == ["ACCEPTED", "DUPLICATE"]
    assert [(d["field"], d["rule"]) for d in answers[1]["details"]] == [("body", "json")]
    reported = done.stderr.splitlines()
    assert reported[0].startswith("line 2: REJECTED body/json: body is not valid JSON")
    assert reported[1].startswith("line 3: REJECTED entity_id/")
    assert reported[2] == "2 of 4 lines were not stored" and "Traceback" not in done.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    nothing = subprocess.run([*PIK, "ingest", str(empty), *where], capture_output=True, text=True, timeout=60)
    said = f"Error: {empty} holds no events (it is empty or only blank lines)"
    assert nothing.returncode == 1 and nothing.stderr.strip() == said


def test_pik_ingest_sends_batches_answered_per_line(start_stack, tmp_path):
    stack = start_stack()
    event = json.dumps(example_event(entity_id="batched"))
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join([event, event, "{broken", json.dumps(example_event(entity_id="other"))]) + "\n")
    done = subprocess.run(
        [
            *PIK,
            "ingest",
            str(lines),
            "--local-file",
            str(stack.info_file),
            "--no-progress",
            "--batch-size",
            "3",
            "--output",
            str(tmp_path / "answers.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {"ACCEPTED": 2, "DUPLICATE": 1, "REJECTED": 1}
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [a["http_status"] for a in answers] == [200, 200, 400, 200]  # the broken line went alone, as it is
    assert sorted(a["status"] for a in answers[:2]) == ["ACCEPTED", "DUPLICATE"]  # two events of one batch race
    assert [a["status"] for a in answers[2:]] == ["REJECTED", "ACCEPTED"]
    assert answers[2]["details"][0]["field"] == "body" and answers[2]["details"][0]["rule"] == "json"


def test_pik_ingest_without_a_running_stack_says_how_to_start_one(tmp_path):
    done = subprocess.run(
        [*PIK, "ingest", "-", "--local-file", str(tmp_path / "none.json")],
        input="{}",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "no local stack is running" in done.stderr and "pik local up" in done.stderr


def test_a_stack_that_cannot_start_leaves_nothing_behind(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is taken"):
            LocalStack(api_port=port, info_file=tmp_path / "local.json").start()
    assert not (tmp_path / "local.json").exists() and "AWS_ENDPOINT_URL" not in os.environ
    with pytest.raises(StackError, match="unknown template parameter"):
        LocalStack(info_file=tmp_path / "local.json", parameters={"NoSuchParameter": "1"})


def test_simulated_arrival_is_honoured_only_when_the_stack_allows_it(tmp_path):
    event = example_event(event_time="2026-11-20T10:00:00Z")
    arrived = datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC)
    with LocalStack(info_file=tmp_path / "a.json", simulated_arrival=True) as stack:
        [answer] = ingest_events(stack.info.api_url, [event], arrivals=[arrived], progress=False)
        assert answer.body["ingest_lag_ms"] == 5_000
        [future] = ingest_events(
            stack.info.api_url, [event], arrivals=[datetime.now(UTC) + timedelta(hours=1)], progress=False
        )
        assert future.http_status == 400 and "X-Pik-Simulated-Arrival" in future.body["message"]
    with LocalStack(info_file=tmp_path / "b.json") as stack:
        [answer] = ingest_events(stack.info.api_url, [event], arrivals=[arrived], progress=False)
        assert answer.body["ingest_lag_ms"] > 86_400_000  # the header is ignored: arrival is now


def test_an_identical_storm_of_200_requests_gets_no_5xx_and_one_accepted(start_stack):
    """A duplicate storm, one of the playbooks: 200 copies of one event from 16 clients at once."""
    stack = start_stack()
    event = example_event(entity_id="storm")
    answers = ingest_events(stack.info.api_url, [event] * 200, workers=16, progress=False)
    assert sorted({a.http_status for a in answers}) == [200]
    assert [a.status for a in answers].count("ACCEPTED") == 1 and [a.status for a in answers].count("DUPLICATE") == 199
    event_id = answers[0].body["event_id"]
    gate = stack.client("dynamodb").get_item(
        TableName=stack.info.outputs["events_table_name"],
        ConsistentRead=True,
        Key={"pk": {"S": keys.event_pk(event_id)}, "sk": {"S": keys.META_SK}},
    )["Item"]
    assert gate["duplicate_count"]["N"] == "199"


def test_local_up_json_prints_the_endpoints_as_one_document_and_the_rest_on_stderr(tmp_path):
    # issue 23, item 2: a script starting the stack reads where it is from stdout (the info file's content)
    info_file, out, err = tmp_path / "local.json", tmp_path / "up.out", tmp_path / "up.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        up = subprocess.Popen(
            [*PIK, "local", "up", "--json", "--info-file", str(info_file)],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for(lambda: out.stat().st_size and out.read_text().rstrip().endswith("}"), timeout_s=60, what="--json")
            said = json.loads(out.read_text())
            assert said == {**json.loads(info_file.read_text()), "info_file": str(info_file.resolve())}
            assert said["api_url"].startswith("http://127.0.0.1:") and said["pid"] == up.pid
        finally:
            up.terminate()
            assert up.wait(timeout=60) == 0
    assert json.loads(out.read_text()) == said  # nothing more on stdout, stopping included
    assert err.read_text().rstrip().endswith("stopped")
