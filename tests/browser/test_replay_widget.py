"""The replay widget in a real browser: Voila renders notebooks/5_replay.ipynb against the local
stack, headless Chromium (Debian's) clicks Preview then Replay, and the stack's state is checked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3
import papermill
import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_api import count_statuses, ingest_events
from pik_cli.lab import stop_process
from tests.support.browser import OUTPUT, ROOT, chromium_page
from tests.support.processes import StackProcess
from tests.support.waits import wait_for

EVENTS = 12


def drained(sqs: Any, queue: str) -> list[dict]:
    """Every message the queue holds now, as JSON, deleted once read."""
    got = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        got += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return got


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """The server answered HTTP at all (a 404 counts: it is up; GET / would run the notebook)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture
def populated(tmp_path):
    """A local stack holding EVENTS events of one entity on yesterday, sent through its HTTP API."""
    stack = StackProcess(tmp_path)
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    bodies = [
        {
            "source": "mobile_app",
            "event_type": "workout_completed",
            "entity_id": "browser-user",
            "event_time": (day + timedelta(hours=1, minutes=5 * i)).isoformat(),
            "payload": {"steps": 100 * i},
        }
        for i in range(EVENTS)
    ]
    assert count_statuses(ingest_events(stack.info.api_url, bodies, progress=False)) == {"ACCEPTED": EVENTS}
    yield stack, day
    assert stack.stop() == 0


@pytest.fixture
def voila(tmp_path, populated):
    """Voila serving the replay notebook with the scope injected by papermill; stopped by pid."""
    stack, day = populated
    notebook = tmp_path / "replay.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "5_replay.ipynb"),
        str(notebook),
        prepare_only=True,
        parameters={
            "local_file": str(stack.info_file),
            "entity_id": "browser-user",
            "start": day.isoformat(),
            "end": (day + timedelta(days=1)).isoformat(),
        },
    )
    home = tmp_path / "jupyter"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    port = free_port()
    log = (tmp_path / "voila.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: process.poll() is None and answers(f"http://127.0.0.1:{port}/voila/static/"),
            timeout_s=90,
            what="voila to answer",
        )
        yield f"http://127.0.0.1:{port}/", stack
    finally:
        stop_process(process, timeout_s=30)
        log.close()


def test_preview_then_double_click_replay_enqueues_once_and_shows_the_diff(voila):
    url, stack = voila
    with chromium_page() as page:
        page.goto(url, timeout=120_000)
        page.get_by_role("button", name="Preview").click(timeout=120_000)
        page.wait_for_selector(".pik-matched", timeout=60_000)
        assert page.inner_text(".pik-matched") == str(EVENTS)
        assert page.inner_text(".pik-would-send") == str(EVENTS)
        # the impact preview, before anything is sent: no version yet, so the replay writes the first one
        assert page.inner_text(".pik-impact-changed") == "1"
        assert [
            page.inner_text(f".pik-impact .pik-impact-{cell}")
            for cell in ("entity_id", "metric", "now", "after", "version", "entering")
        ] == ["browser-user", "count", "none", str(EVENTS), "v1 (first)", str(EVENTS)]
        assert page.get_by_role("button", name="Replay").is_enabled()
        page.get_by_role("button", name="Replay").dblclick()
        page.wait_for_function(
            "() => (document.querySelector('.pik-result') || {}).innerText?.includes('Aggregate changes')",
            timeout=120_000,
        )
        assert page.inner_text(".pik-sent") == f"sent {EVENTS}"
        assert page.inner_text(".pik-processed") == f"processed {EVENTS}"
        assert page.inner_text(".pik-dlq") == "DLQ 0"
        assert "browser-user" in page.inner_text(".pik-result")
        page.screenshot(path=str(OUTPUT / "replay_widget.png"), full_page=True)

    session = boto3.session.Session(region_name=stack.info.region, **stack.info.credentials)
    ddb = session.client("dynamodb", endpoint_url=stack.info.endpoint_url)
    runs = [r for r in ddb.scan(TableName=stack.info.outputs["replays_table_name"])["Items"]]
    runs = [r for r in runs if r["sk"]["S"] == "RUN"]  # the table also holds one delivery record per event
    real = [r for r in runs if not r["dry_run"]["BOOL"]]
    assert len(runs) == 2 and len(real) == 1  # one preview, one replay: the double click enqueued once
    assert real[0]["sent"]["N"] == str(EVENTS)
    versions = ddb.scan(TableName=stack.info.outputs["aggregates_table_name"])["Items"]
    counts = [v for v in versions if v["metric"]["S"] == "count"]
    assert [(v["version"]["N"], v["value"]["N"], v["replay_id"]["S"]) for v in counts] == [
        ("1", str(EVENTS), real[0]["replay_id"]["S"])
    ]  # what the preview showed: v1, EVENTS


NO_DIFF = "No new version; inputs unchanged: the aggregates already counted exactly these events."
NOTHING_MATCHED = (
    "Nothing matched: no events of this scope in the window (0 scanned), so Replay stays disabled. "
    "Check the entity or source/type and the window."
)
BAD_START = "start: '2026-13-40' is not an ISO-8601 date (2026-11-20) or time with offset (2026-11-20T10:00:00Z)"


def _scope() -> dict:
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"entity_id": "browser-user", "start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()}


def _replayed_before(stack: Any) -> str:
    """The scope replayed to the processor by the kit, before the page opens, until version 1 exists: the
    widget's replay of the same scope finds the same inputs. Its run id."""
    kit = pik_nb.connect(path=stack.info_file)
    first = kit.replay(**_scope(), dry_run=False)
    wait_for(
        lambda: len(kit.aggregates(**_scope(), metric="count")) == 1,
        timeout_s=60,
        what="the processor to write version 1",
    )
    return first["replay_id"]


def test_the_widget_says_why_nothing_matched_and_that_a_replay_that_wrote_nothing_made_no_version(voila):
    """Issue 19 finding 12 in the widget's own words: a bad date and a scope that matched nothing each say
    why and keep Replay disabled; a replay whose inputs the aggregates already counted says 'No new version;
    inputs unchanged', not an older version's diff."""
    url, stack = voila
    earlier = _replayed_before(stack)
    with chromium_page() as page:
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".pik-replay-widget", timeout=120_000)
        entity, start = page.locator(".widget-text input").nth(0), page.locator(".widget-text input").nth(3)
        original = start.input_value()
        start.fill("2026-13-40")
        start.press("Enter")
        page.get_by_role("button", name="Preview").click(timeout=120_000)
        _wait_text(page, ".pik-error", BAD_START)
        assert page.get_by_role("button", name="Replay").is_disabled()
        start.fill(original)
        entity.fill("nobody")
        entity.press("Enter")
        page.get_by_role("button", name="Preview").click()
        _wait_text(page, ".pik-error", NOTHING_MATCHED)
        assert page.inner_text(".pik-matched") == "0"
        assert page.get_by_role("button", name="Replay").is_disabled()
        entity.fill("browser-user")
        entity.press("Enter")
        page.get_by_role("button", name="Preview").click()
        _wait_text(page, ".pik-matched", str(EVENTS))
        assert page.inner_text(".pik-impact-changed") == "0"  # the preview already says no aggregate would change
        page.get_by_role("button", name="Replay").click()
        page.wait_for_selector(".pik-no-diff", timeout=120_000)
        assert page.inner_text(".pik-no-diff") == NO_DIFF
        assert "Aggregate changes" not in page.inner_text(".pik-result")
        assert page.inner_text(".pik-processed") == f"processed {EVENTS}"
        page.screenshot(path=str(OUTPUT / "replay_widget_no_new_version.png"), full_page=True)

    versions = pik_nb.connect(path=stack.info_file).aggregates(**_scope(), metric="count")
    assert [(int(v), int(n), r) for v, n, r in versions[["version", "value", "replay_id"]].itertuples(index=False)] == [
        (1, EVENTS, earlier)
    ]  # the widget's replay wrote no version


def test_replay_to_an_external_sqs_queue_names_it_asks_to_confirm_and_counts_per_target(voila):
    url, stack = voila
    session = boto3.session.Session(region_name=stack.info.region, **stack.info.credentials)
    sqs = session.client("sqs", endpoint_url=stack.info.endpoint_url)
    queue = sqs.create_queue(QueueName="their-consumer")["QueueUrl"]
    with chromium_page() as page:
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".pik-target-kind select", timeout=120_000)
        page.select_option(".pik-target-kind select", label="SQS queue")
        page.fill(".pik-target-address input", queue)
        page.fill(".pik-rate input", "50")
        page.press(".pik-rate input", "Enter")
        page.get_by_role("button", name="Preview").click(timeout=120_000)
        page.wait_for_selector(".pik-target", timeout=60_000)
        assert page.inner_text(".pik-target") == f"sqs:{queue}"
        assert "at most 50 events/s" in page.inner_text(".pik-preview")
        assert page.inner_text(".pik-confirm").strip("\u200b\n ") == f"I confirm sending {EVENTS} events to sqs:{queue}"
        page.get_by_role("button", name="Replay").click()
        page.wait_for_selector(".pik-error", timeout=30_000)
        assert page.inner_text(".pik-error") == f"{EVENTS} events would go to sqs:{queue}: tick 'I confirm' first."
        page.check(".pik-confirm input")
        page.get_by_role("button", name="Replay").click()
        page.wait_for_selector(".pik-target-sent", timeout=60_000)
        assert page.inner_text(".pik-target-name") == f"sqs:{queue}"
        assert (page.inner_text(".pik-target-sent"), page.inner_text(".pik-target-failed")) == (str(EVENTS), "0")
        page.screenshot(path=str(OUTPUT / "replay_widget_sqs_target.png"), full_page=True)

    steps = sorted(body["payload"]["steps"] for body in drained(sqs, queue))
    assert steps == [100 * i for i in range(EVENTS)]  # each event once, as its producer sent it
    replay_queue = stack.info.outputs["replay_queue_url"]
    depth = sqs.get_queue_attributes(QueueUrl=replay_queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"  # nothing went to the processor
    ddb = session.client("dynamodb", endpoint_url=stack.info.endpoint_url)
    runs = ddb.scan(TableName=stack.info.outputs["replays_table_name"])["Items"]
    runs = [r for r in runs if r["sk"]["S"] == "RUN"]  # the table also holds one delivery record per event
    real = [r for r in runs if not r["dry_run"]["BOOL"]]
    assert len(runs) == 2 and len(real) == 1
    assert real[0]["request"]["M"]["rate_per_second"]["N"] == "50"


def _wait_text(page: Any, selector: str, text: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s) || {}).innerText === t", arg=[selector, text], timeout=timeout_ms
    )


def test_a_target_that_has_some_events_is_sent_only_what_it_lacks_and_resend_is_asked_for(voila):
    """Finding 10 in the widget: the preview says what the target already got (by which run), Replay sends
    only the rest and counts the others skipped; a target that has everything keeps Replay disabled until
    'send again' is ticked. The queue then holds each event exactly as often as the widget said."""
    url, stack = voila
    session = boto3.session.Session(region_name=stack.info.region, **stack.info.credentials)
    sqs = session.client("sqs", endpoint_url=stack.info.endpoint_url)
    queue, served = sqs.create_queue(QueueName="half-served")["QueueUrl"], 4
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = pik_nb.connect(path=stack.info_file).replay(
        entity_id="browser-user",
        start=day.isoformat(),
        end=(day + timedelta(days=1)).isoformat(),
        target={"sqs": queue},
        limit=served,
        dry_run=False,
    )
    assert (first["sent"], first["skipped"]) == (served, 0)
    with chromium_page() as page:
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".pik-target-kind select", timeout=120_000)
        page.select_option(".pik-target-kind select", label="SQS queue")
        page.fill(".pik-target-address input", queue)
        page.press(".pik-target-address input", "Enter")
        page.get_by_role("button", name="Preview").click(timeout=120_000)
        _preview_shows_what_the_target_has(page, queue, served, first["replay_id"])
        _replay_sends_only_the_rest(page, served)
        _a_target_with_everything_is_resent_only_when_asked(page, queue)
        page.screenshot(path=str(OUTPUT / "replay_widget_already_delivered.png"), full_page=True)

    # the first run's events, then exactly the ones the target lacked, then every one again (resend)
    assert Counter(body["payload"]["steps"] for body in drained(sqs, queue)) == {100 * i: 2 for i in range(EVENTS)}


def _preview_shows_what_the_target_has(page, queue: str, served: int, first_run: str) -> None:
    page.wait_for_selector(".pik-already-count", timeout=60_000)
    assert (page.inner_text(".pik-already-count"), page.inner_text(".pik-would-send")) == (
        str(served),
        str(EVENTS - served),
    )
    assert page.inner_text(".pik-already").startswith(
        f"already delivered to sqs:{queue}: {served} of the {EVENTS} selected events, "
        f"by {first_run} ({served}, last at "
    )
    assert page.inner_text(".pik-already").endswith("an external target is sent only what it lacks: Replay skips them")
    assert page.inner_text(".pik-info").endswith(
        f"{EVENTS - served} events would be replayed ({EVENTS} matched; the target has the others). Nothing was sent."
    )
    assert (
        page.inner_text(".pik-confirm").strip("\u200b\n ")
        == f"I confirm sending {EVENTS - served} events to sqs:{queue}"
    )


def _replay_sends_only_the_rest(page, served: int) -> None:
    page.check(".pik-confirm input")
    page.get_by_role("button", name="Replay").click()
    page.wait_for_selector(".pik-target-skipped", timeout=60_000)
    assert [page.inner_text(f".pik-target-{c}") for c in ("sent", "failed", "skipped")] == [
        str(EVENTS - served),
        "0",
        str(served),
    ]
    assert page.inner_text(".pik-info").endswith(f"(COMPLETED; skipped {served} the target already had).")


def _a_target_with_everything_is_resent_only_when_asked(page, queue: str) -> None:
    page.get_by_role("button", name="Preview").click()  # now the target has every event
    _wait_text(page, ".pik-already-count", str(EVENTS))
    assert page.inner_text(".pik-would-send") == "0"
    assert page.get_by_role("button", name="Replay").is_disabled()
    assert page.inner_text(".pik-error").endswith(
        f"sqs:{queue} already has all {EVENTS} events of this scope, so Replay stays disabled; "
        "tick 'send again' to resend them."
    )
    page.check(".pik-resend input")
    assert page.get_by_role("button", name="Replay").is_disabled()  # another scope: preview it first
    page.get_by_role("button", name="Preview").click()
    _wait_text(page, ".pik-would-send", str(EVENTS))
    assert page.inner_text(".pik-already").endswith("resend: Replay sends them again")
    page.check(".pik-confirm input")
    page.get_by_role("button", name="Replay").click()
    _wait_text(page, ".pik-target-sent", str(EVENTS))
    assert page.inner_text(".pik-target-skipped") == "0"
