"""kit.replay over HTTP: SigV4-signed for a deployed stack, plain for the local one; errors as ApiError."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from click.testing import CliRunner

import pik_nb
from pik_api import ApiClient
from pik_cli import cli
from pik_local.info import LocalStackInfo


class Recorder(BaseHTTPRequestHandler):
    """Answers every POST with the status and body set on the server; keeps what it received."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), json.loads(body)))
        status, answer = self.server.answers.pop(0) if self.server.answers else self.server.answer
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_) -> None:
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.received, server.answer = [], (200, {"replay_id": "rp-1", "dry_run": True, "matched": 2})
    server.answers = []  # answers to give first, in order
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kit_on(api, *, sign: bool) -> pik_nb.Kit:
    names = {
        "raw_bucket_name": "b",
        "events_table_name": "e",
        "aggregates_table_name": "a",
        "replays_table_name": "r",
        "api_url": f"http://127.0.0.1:{api.server_port}/v1",
    }
    kit = pik_nb.connect(session=boto3.session.Session(region_name="eu-west-1"), **names)
    kit.sign_api = sign
    return kit


def test_a_deployed_stack_gets_sigv4_signed_requests_and_a_dry_run_by_default(api):
    run = kit_on(api, sign=True).replay(entity_id="customer-42", start="2026-11-20", end="2026-11-21T00:00:00+01:00")
    assert run == {"replay_id": "rp-1", "dry_run": True, "matched": 2}
    path, headers, body = api.received[0]
    assert path == "/v1/replay"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert body == {
        "entity_id": "customer-42",
        "start_time": "2026-11-20T00:00:00.000000Z",
        "end_time": "2026-11-20T23:00:00.000000Z",
        "include_duplicates": False,
        "dry_run": True,
    }


def test_the_local_stack_gets_plain_requests(api):
    kit_on(api, sign=False).replay(
        source="web",
        event_type="click",
        start="2026-11-20",
        end="2026-11-21",
        dry_run=False,
        client_token="t-1",
        limit=5,
    )
    _, headers, body = api.received[0]
    assert "Authorization" not in headers
    assert (body["dry_run"], body["client_token"], body["limit"], body["source"]) == (False, "t-1", 5, "web")


def test_an_api_refusal_is_an_api_error_naming_field_and_message(api):
    api.answer = (
        400,
        {"error": "invalid request", "details": [{"field": "scope", "rule": "one_of", "message": "give entity_id"}]},
    )
    with pytest.raises(pik_nb.ApiError, match=r"answered 400: invalid request \(scope: give entity_id\)") as caught:
        kit_on(api, sign=True).replay(start="2026-11-20", end="2026-11-21")
    assert caught.value.status == 400 and caught.value.body["error"] == "invalid request"


def test_an_unbounded_replay_is_continued_until_complete_and_a_bounded_one_is_not(api):
    partial = {"replay_id": "rp-1", "status": "PARTIAL", "sent": 5, "continuation": "c1"}
    api.answers = [(200, partial), (200, {"replay_id": "rp-1", "status": "COMPLETED", "sent": 9, "continuation": None})]
    kit = kit_on(api, sign=False)
    run = kit.replay(entity_id="e", start="2026-11-20", end="2026-11-21", dry_run=False)
    assert (run["status"], run["sent"]) == ("COMPLETED", 9)
    assert [body.get("continuation") for _, _, body in api.received] == [None, "c1"]
    api.answers = [(200, partial)]
    assert kit.replay(entity_id="e", start="2026-11-20", end="2026-11-21", limit=5) == partial
    assert len(api.received) == 3


def test_a_resume_is_followed_across_continuations_and_stops_at_the_runs_limit(api):
    timed_out = {"replay_id": "rp-1", "status": "PARTIAL", "stopped": "time", "sent": 5, "continuation": "c1"}
    api.answers = [
        (200, timed_out),
        (200, {**timed_out, "sent": 8, "continuation": "c2"}),
        (200, {"replay_id": "rp-1", "status": "COMPLETED", "stopped": "completed", "sent": 9, "continuation": None}),
    ]
    steps = []
    run = kit_on(api, sign=False).steer("rp-1", "resume", on_step=steps.append)
    assert (run["status"], run["sent"]) == ("COMPLETED", 9)
    assert [(path, body) for path, _, body in api.received] == [
        ("/v1/replay/rp-1", {"action": "resume"}),
        ("/v1/replay", {"replay_id": "rp-1", "continuation": "c1"}),
        ("/v1/replay", {"replay_id": "rp-1", "continuation": "c2"}),
    ]
    assert [step["sent"] for step in steps] == [5, 8]
    at_limit = {**timed_out, "stopped": "limit"}
    api.answers = [(200, at_limit)]
    assert kit_on(api, sign=False).steer("rp-1", "resume") == at_limit  # each resume moves a limited run one limit on
    api.answers = [(200, timed_out)]
    assert kit_on(api, sign=False).steer("rp-1", "pause") == timed_out  # only a resume is followed
    assert len(api.received) == 5


def test_progress_bars_stay_silent_when_the_output_is_not_a_terminal(api, capsys):
    with ApiClient(f"http://127.0.0.1:{api.server_port}/v1") as client:
        results = client.ingest([{"n": 1}, {"n": 2}], progress=True)
        batched = client.ingest_batches([{"n": 3}], progress=True)
    assert (len(results), len(batched), len(api.received)) == (2, 1, 3)
    assert capsys.readouterr().err == ""  # tqdm(disable=None): no carriage-return frames in a pipe or a log


def local_file(api, tmp_path) -> str:
    outputs = {
        "raw_bucket_name": "b",
        "events_table_name": "e",
        "aggregates_table_name": "a",
        "replays_table_name": "r",
    }
    return str(
        LocalStackInfo(
            region="eu-west-1",
            endpoint_url="http://127.0.0.1:1",
            pid=1,
            outputs=outputs,
            api_url=f"http://127.0.0.1:{api.server_port}/v1",
        ).write(tmp_path / "local.json")
    )


def test_pik_steer_resume_follows_the_run_showing_progress_and_a_pause_says_what_happens(api, tmp_path):
    run = {
        "replay_id": "rp-1",
        "dry_run": False,
        "target": "replay queue",
        "failed": 0,
        "retried": 0,
        "continuation": None,
    }
    api.answers = [
        (200, {**run, "status": "PARTIAL", "stopped": "time", "sent": 5, "continuation": "c1"}),
        (200, {**run, "status": "COMPLETED", "stopped": "completed", "sent": 9}),
    ]
    resumed = CliRunner().invoke(cli, ["steer", "rp-1", "resume", "--local-file", local_file(api, tmp_path)])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.splitlines() == [
        "... rp-1: sent 5 so far, stopped when the function's time ran low; continuing",
        "rp-1  COMPLETED",
        "target replay queue  sent 9  failed 0  retried 0",
    ]
    api.answers = [(200, {**run, "status": "RUNNING", "stopped": None, "requested": "pause", "sent": 9})]
    paused = CliRunner().invoke(cli, ["steer", "rp-1", "pause", "--local-file", local_file(api, tmp_path)])
    assert paused.output.splitlines()[0] == "rp-1  RUNNING: pause requested; the run stops after its current batch"
    assert "None" not in paused.output


def test_pik_replay_that_ends_paused_or_stopped_prints_the_next_command(api, tmp_path):
    run = {
        "replay_id": "rp-2",
        "dry_run": False,
        "target": "replay queue",
        "scanned": 9,
        "matched": 9,
        "sent": 4,
        "continuation": None,
    }
    scope = [
        "replay",
        "--entity",
        "e",
        "--start",
        "2026-11-20",
        "--end",
        "2026-11-21",
        "--execute",
        "--yes",
        "--local-file",
        local_file(api, tmp_path),
    ]
    api.answers = [(200, {**run, "status": "PAUSED", "stopped": "paused"})]
    assert CliRunner().invoke(cli, scope).output.splitlines()[-1] == "paused: resume it with `pik steer rp-2 resume`"
    api.answers = [(200, {**run, "status": "PARTIAL", "stopped": "limit", "continuation": "c1"})]
    assert CliRunner().invoke(cli, [*scope, "--limit", "4", "--client-token", "t"]).output.splitlines()[-1] == (
        "stopped at its limit: go on with `pik steer rp-2 resume` (or repeat this command, same --client-token)"
    )


def test_pik_ingest_signs_its_requests_for_a_deployed_stack(stack, api):
    from click.testing import CliRunner

    from pik_cli import cli

    outputs = {
        "".join(part.title() for part in key.split("_")): {"Value": value} for key, value in stack.outputs.items()
    }
    outputs["ApiUrl"] = {"Value": f"http://127.0.0.1:{api.server_port}/v1"}
    stack.names["AWS::StackName"] = "pik-prod"  # the IAM gate evaluates the CLI's calls on this stack
    boto3.client("cloudformation").create_stack(
        StackName="pik-prod",
        TemplateBody=json.dumps({"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}),
    )
    api.answers = [(200, {"status": "ACCEPTED"}), (400, {"status": "REJECTED", "error": "invalid event"})]
    lines = '{"source": "app", "event_type": "click"}\n{"source": "app"}\n'
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            "-",
            "--stack",
            "pik-prod",
            "--region",
            "us-east-1",
            "--workers",
            "1",
            "--batch-size",
            "1",
            "--no-progress",
        ],
        input=lines,
    )
    assert result.exit_code == 1  # one line was not stored
    assert json.loads(result.output.splitlines()[0]) == {"ACCEPTED": 1, "REJECTED": 1}
    assert "1 of 2 lines were not stored" in result.output
    assert [(path, body) for path, _, body in api.received] == [
        ("/v1/ingest", {"source": "app", "event_type": "click"}),
        ("/v1/ingest", {"source": "app"}),
    ]
    assert all(headers["Authorization"].startswith("AWS4-HMAC-SHA256") for _, headers, _ in api.received)


def test_pik_ingest_sends_signed_batches_and_counts_each_event(stack, api):
    from click.testing import CliRunner

    from pik_cli import cli

    outputs = {
        "".join(part.title() for part in key.split("_")): {"Value": value} for key, value in stack.outputs.items()
    }
    outputs["ApiUrl"] = {"Value": f"http://127.0.0.1:{api.server_port}/v1"}
    stack.names["AWS::StackName"] = "pik-prod"  # the IAM gate evaluates the CLI's calls on this stack
    boto3.client("cloudformation").create_stack(
        StackName="pik-prod",
        TemplateBody=json.dumps({"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}),
    )
    api.answers = [
        (200, {"results": [{"index": 0, "status": "ACCEPTED"}, {"index": 1, "status": "FAILED"}]}),
        (200, {"results": [{"index": 0, "status": "DUPLICATE"}]}),
    ]
    lines = '{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            "-",
            "--stack",
            "pik-prod",
            "--region",
            "us-east-1",
            "--workers",
            "1",
            "--batch-size",
            "2",
            "--no-progress",
        ],
        input=lines,
    )
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[0]) == {"ACCEPTED": 1, "DUPLICATE": 1, "FAILED": 1}
    assert [(path, body) for path, _, body in api.received] == [
        ("/v1/ingest", {"events": [{"n": 1}, {"n": 2}]}),
        ("/v1/ingest", {"events": [{"n": 3}]}),
    ]
    assert all(headers["Authorization"].startswith("AWS4-HMAC-SHA256") for _, headers, _ in api.received)


def test_pik_replay_run_executes_the_reviewed_dry_run_by_id(api, tmp_path):
    api.answers = [
        (
            200,
            {
                "replay_id": "rp-9",
                "dry_run": False,
                "status": "COMPLETED",
                "stopped": "completed",
                "target": "replay queue",
                "scanned": 3,
                "matched": 3,
                "sent": 3,
                "continuation": None,
            },
        )
    ]
    result = CliRunner().invoke(
        cli, ["replay", "--run", "rp-" + "1" * 32, "--execute", "--local-file", local_file(api, tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert [body for _, _, body in api.received] == [{"run": "rp-" + "1" * 32}]
    refused = CliRunner().invoke(
        cli,
        ["replay", "--run", "rp-" + "1" * 32, "--entity", "e", "--execute", "--local-file", local_file(api, tmp_path)],
    )
    assert refused.exit_code == 2 and "--run executes the dry run it names" in refused.output
