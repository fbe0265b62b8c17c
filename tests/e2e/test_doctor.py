"""`pik doctor` against the local stack (a real `pik local up`): green with --write, and a broken path
(the API URL of the info file pointing at a port nobody listens on) fails with its fix line."""

from __future__ import annotations

import json
import re
import subprocess

from pik_local.stack import free_port
from tests.support.processes import PIK


def doctor(info_file, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PIK, "doctor", "--local-file", str(info_file), *extra], capture_output=True, text=True, timeout=120
    )


def test_doctor_is_green_on_the_local_stack_and_its_probe_stays_in_its_own_source(start_stack):
    stack = start_stack()
    done = doctor(stack.info_file, "--write")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0:2] for line in lines[:-1]] == [
        ["ok", "outputs"],
        ["ok", "ingest"],
        ["ok", "replay"],
        ["ok", "missing"],
        ["skip", "deployment"],
        ["ok", "sql"],
        ["ok", "metrics"],
    ]
    assert lines[-1] == "all checks passed"
    assert "probe ACCEPTED, raw object raw/source=pik.doctor/event_type=probe/" in done.stdout
    assert "dry run rp-" in done.stdout and "matched 1" in done.stdout
    assert re.search(
        r"ok    metrics +EMF lines of .*lambda\.log: \d+ periods, 1 ingest in the last hour$", done.stdout, re.M
    )
    bucket = stack.info.outputs["raw_bucket_name"]
    keys = [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("raw/source=pik.doctor/")  # nothing written elsewhere

    without_write = json.loads(doctor(stack.info_file, "--json").stdout)
    assert without_write["ok"] is True
    assert [c["status"] for c in without_write["checks"] if c["name"] == "ingest"] == ["skip"]


def test_a_broken_path_fails_with_its_fix_and_exit_code_1(start_stack, tmp_path):
    stack = start_stack()
    info = json.loads(stack.info_file.read_text())
    info["api_url"] = f"http://127.0.0.1:{free_port(0)}/v1"  # nobody listens there: a stale ApiUrl
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(info))
    done = doctor(broken, "--write")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    replay = lines.index(next(line for line in lines if line.startswith("FAIL  replay")))
    assert lines[replay + 1] == (
        "      fix: the API did not answer: check the ApiUrl output (`pik local up` "
        "running, for the local stack) and the network path to it"
    )
    assert [line.split()[1] for line in lines if line.startswith("FAIL")] == ["ingest", "replay"]
    assert [line.split()[1] for line in lines if line.startswith("ok")] == [
        "outputs",
        "missing",
        "sql",
        "metrics",
    ]
    assert lines[-1] == "2 checks failed"


def test_a_dry_run_stack_is_green_and_says_nothing_was_written(start_stack):
    stack = start_stack("--param", "DryRun=true")
    done = doctor(stack.info_file, "--write")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    ingest           probe ACCEPTED (DryRun=true: the stack writes nothing yet)" in done.stdout
    bucket = stack.info.outputs["raw_bucket_name"]
    assert stack.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0
