"""connect(): the local info file, a CloudFormation stack's outputs, explicit names; clear errors."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from click.testing import CliRunner

import pik_nb
from pik_cli import cli
from pik_local.info import LocalStackInfo
from pik_nb.connect import snake
from tests.support.events import make_event
from tests.support.kit import post


def cfn_stack(stack, name="pik-prod") -> str:
    """A CloudFormation stack (in moto) whose outputs name the test resources, as SAM's would."""
    outputs = {
        "".join(part.title() for part in key.split("_")): {"Value": value} for key, value in stack.outputs.items()
    }
    outputs["ApiUrl"] = {"Value": "https://abc.execute-api.us-east-1.amazonaws.com/v1"}
    body = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(body))
    stack.names["AWS::StackName"] = name  # the IAM gate evaluates InvestigatorPolicy on this stack
    return name


def test_snake_case_of_stack_outputs():
    assert [snake(n) for n in ("RawBucketName", "ApiUrl", "ReplayDeadLetterQueueUrl")] == [
        "raw_bucket_name",
        "api_url",
        "replay_dead_letter_queue_url",
    ]


def test_connect_reads_a_stack_outputs_and_signs_the_api(stack):
    kit = pik_nb.connect(stack=cfn_stack(stack), region="us-east-1")
    assert kit.resources.raw_bucket_name == stack.outputs["raw_bucket_name"]
    assert kit.resources.api_url == "https://abc.execute-api.us-east-1.amazonaws.com/v1"
    assert kit.sign_api and kit.endpoint_url is None
    answer = post(make_event())
    assert list(
        kit.events(entity_id="customer-42", start="2000-01-01", end="2100-01-01", progress=False)["event_id"]
    ) == [answer["event_id"]]


def test_connect_reads_the_local_info_file(tmp_path):
    path = LocalStackInfo(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:8/v1",
        pid=1,
        outputs={
            "raw_bucket_name": "b",
            "events_table_name": "e",
            "aggregates_table_name": "a",
            "replays_table_name": "r",
            "replay_queue_url": "q",
        },
    ).write(tmp_path / "local.json")
    kit = pik_nb.connect(path=path)
    assert (kit.endpoint_url, kit.resources.api_url, kit.sign_api) == (
        "http://127.0.0.1:9",
        "http://127.0.0.1:8/v1",
        False,
    )
    assert kit.client("s3").meta.endpoint_url == "http://127.0.0.1:9" and kit.session.region_name == "eu-west-1"


def test_a_notebook_in_a_subdirectory_finds_the_project_info_file(tmp_path, monkeypatch):
    LocalStackInfo(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        api_url="",
        pid=1,
        outputs={
            "raw_bucket_name": "b",
            "events_table_name": "e",
            "aggregates_table_name": "a",
            "replays_table_name": "r",
        },
    ).write(tmp_path / ".pik" / "local.json")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("PIK_LOCAL_FILE", raising=False)
    assert pik_nb.connect().resources.events_table_name == "e"


def test_every_investigation_command_has_help_with_an_example():
    for name in ("explain", "replay", "reconcile", "status"):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output and "--stack" in result.output


@pytest.mark.no_iam_gate  # DescribeStacks of an absent stack
def test_errors_name_what_is_missing(tmp_path, stack):
    with pytest.raises(pik_nb.ConnectError, match="no local stack info at .*nowhere.json"):
        pik_nb.connect(path=tmp_path / "nowhere.json")
    with pytest.raises(pik_nb.ConnectError, match="lacks aggregates_table_name, replays_table_name"):
        pik_nb.connect(raw_bucket_name="b", events_table_name="e")
    # on AWS InvestigatorPolicy refuses DescribeStacks on another stack: the same ConnectError
    with pytest.raises(pik_nb.ConnectError, match="cannot read stack 'absent'"):
        pik_nb.connect(stack="absent")


def test_cli_commands_run_against_a_stack_and_fail_cleanly(stack):
    name = cfn_stack(stack)
    answer = post(make_event())
    runner = CliRunner()
    explained = runner.invoke(cli, ["explain", answer["event_id"], "--stack", name, "--json"])
    assert explained.exit_code == 0, explained.output
    assert [a["status"] for a in json.loads(explained.output)["attempts"]] == ["ACCEPTED"]
    status = runner.invoke(cli, ["status", "--stack", name])
    assert status.exit_code == 0 and "replay_queue" in status.output
    where, held = status.output.split("\n\n")
    stream = f"{answer['s3_key'].split('source=')[1].split('/')[0]}/"
    assert held.splitlines()[0] == "streams (1 stream, 1 attempt):"
    assert re.fullmatch(
        rf"{stream}\S+  1 event in 1 attempt \(0 duplicates, 0 conflicts\), 1 entity; newest arrival "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
        held.splitlines()[1],
    ), held
    rows = [re.match(r"^(.+?)\s{2,}(\S.*)$", line) for line in where.splitlines()]
    values = {row[1]: row[2] for row in rows}
    assert values["replay runs"] == "0" and values["latest replay"] == "none"
    assert len({row.start(2) for row in rows}) == 1  # every value starts in the same column
    clean = runner.invoke(cli, ["reconcile", "--stack", name])
    assert clean.exit_code == 0 and "consistent" in clean.output
    boto3.client("s3").delete_object(Bucket=stack.outputs["raw_bucket_name"], Key=answer["s3_key"])
    broken = runner.invoke(cli, ["reconcile", "--stack", name])
    assert broken.exit_code == 1 and broken.output == f"metadata without raw: {answer['s3_key']}\n"
    missing = runner.invoke(cli, ["explain", "nope", "--stack", name])
    assert (
        missing.exit_code == 1 and missing.output == f"Error: no event nope in {stack.outputs['events_table_name']}\n"
    )
    nowhere = runner.invoke(cli, ["status", "--local-file", "/nonexistent/local.json"])
    assert nowhere.exit_code == 1 and "no local stack info" in nowhere.output and "Traceback" not in nowhere.output
    assert '(--stack NAME; stack="NAME" or its resource names in Python)' in nowhere.output
    assert "stack='NAME'" not in nowhere.output
    athena = runner.invoke(cli, ["sql", "select 1", "--engine", "athena", "--stack", name])
    assert athena.exit_code == 1 and athena.output.endswith(
        'use the duckdb engine (--engine duckdb; engine="duckdb" in Python)\n'
    )


def test_reconcile_finds_raw_objects_without_metadata(kit, stack):
    answer = post(make_event())
    key = answer["s3_key"].replace(answer["event_id"], "f" * 64)
    boto3.client("s3").put_object(Bucket=stack.outputs["raw_bucket_name"], Key=key, Body=b"{}")
    assert kit.reconcile(progress=False).values.tolist() == [["raw without metadata", "f" * 64, key]]
