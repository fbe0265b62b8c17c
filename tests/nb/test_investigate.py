"""Aggregates, replay runs, diff and explain on a real story: ingest, duplicate, replay, late event, replay."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pandas as pd
import pytest

import pik_nb
from pik.core.errors import NotFoundError
from pik.handlers import replay
from pik_nb.read.frames import AGGREGATE_COLUMNS, RUN_COLUMNS
from tests.support.events import make_event
from tests.support.kit import DATE, DAY, post
from tests.support.lambdas import call

ACCOUNT = "123456789012"  # moto's


def test_aggregates_list_every_version_typed(kit, story):
    aggregates = kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1))
    assert list(aggregates.columns) == list(AGGREGATE_COLUMNS)
    assert aggregates[["metric", "version", "value", "input_count"]].values.tolist() == [
        ["count", 1, 3.0, 3],
        ["count", 2, 4.0, 4],
    ]
    assert list(aggregates["replay_id"]) == [story["runs"][1]["replay_id"], story["runs"][2]["replay_id"]]
    assert str(aggregates["computed_at"].dtype) == "datetime64[us, UTC]"
    assert kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), metric="sum.amount").empty


def test_replays_are_listed_newest_first_with_their_scope(kit, story):
    runs = kit.replays()
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert list(runs["replay_id"]) == [r["replay_id"] for r in reversed(story["runs"])]
    assert list(runs["dry_run"]) == [False, False, True]
    assert runs[["matched", "sent"]].values.tolist() == [[4, 4], [3, 3], [3, 0]]
    assert set(runs["entity_id"]) == {"customer-42"} and runs["start"].iloc[0] == pd.Timestamp(DAY)


def test_replays_count_what_an_external_target_already_had_as_skipped(kit, stack, monkeypatch):
    """``skipped``: matched events the target already got from an earlier run, not sent again (finding 10)."""
    monkeypatch.setenv("REPLAY_TARGET_QUEUES", f"arn:aws:sqs:*:{ACCOUNT}:*")
    queue = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    ids = [post(make_event(event_time=(DAY + timedelta(hours=h)).isoformat()))["event_id"] for h in (1, 2, 3)]
    scope = {
        "entity_id": "customer-42",
        "start_time": DAY.isoformat(),
        "end_time": (DAY + timedelta(days=1)).isoformat(),
        "target": {"sqs": queue},
    }
    for body in (
        {"event_ids": ids[:2], "target": {"sqs": queue}, "dry_run": False},
        scope,
        {**scope, "dry_run": False},
        {**scope, "dry_run": False, "resend": True},
    ):
        status, answer = call(replay, "/replay", body)
        assert status == 200, answer
    runs = kit.replays()
    assert runs[["dry_run", "matched", "sent", "skipped"]].values.tolist() == [
        [False, 3, 3, 0],
        [False, 3, 1, 2],
        [True, 3, 0, 0],
        [False, 2, 2, 0],
    ]  # newest first
    assert str(runs["skipped"].dtype) == "int64" and pik_nb.schemas.REPLAYS.field("skipped").type == "int64"


def test_diff_names_exactly_the_late_event_and_its_causes(kit, story):
    diff = kit.diff("customer-42", DATE)
    assert (diff.old["version"], diff.new["version"], diff.value_delta) == (1, 2, 1.0)
    assert list(diff.added["event_id"]) == [story["late"]["event_id"]]
    assert list(diff.added["cause"]) == ["late arrival"]
    assert diff.removed.empty
    assert diff.causes == ["late arrival", "replay"]
    assert diff.to_dict()["added"][0]["event_id"] == story["late"]["event_id"]
    first = kit.diff("customer-42", DATE, new=1)
    assert first.old is None and sorted(first.added["event_id"]) == sorted(a["event_id"] for a in story["first"])
    assert set(first.added["cause"]) == {"first version"}
    with pytest.raises(pik_nb.KitError, match="not 7"):
        kit.diff("customer-42", DATE, new=7)


def test_explain_covers_every_attempt_of_a_duplicated_then_replayed_event(kit, story):
    event_id = story["first"][0]["event_id"]
    explained = kit.explain(event_id)
    expected_attempts = [story["first"][0]["attempt_id"]] + [r["attempt_id"] for r in story["repeats"]]
    assert list(explained.attempts["attempt_id"]) == expected_attempts
    assert list(explained.attempts["status"]) == ["ACCEPTED", "DUPLICATE", "DUPLICATE"]
    assert explained.event["duplicate_count"] == 2
    assert explained.raw[["s3_key", "found", "hash_ok"]].values.tolist() == [[story["first"][0]["s3_key"], True, True]]
    assert list(explained.replays["replay_id"]) == [r["replay_id"] for r in story["runs"]]
    assert list(explained.replays["dry_run"]) == [True, False, False]
    assert explained.aggregates[["version", "includes_event"]].values.tolist() == [[1, True], [2, True]]
    as_dict = explained.to_dict()
    assert [a["attempt_id"] for a in as_dict["attempts"]] == expected_attempts
    assert [row["what"] for row in as_dict["timeline"]] == [
        "event time",
        "ACCEPTED",
        "DUPLICATE",
        "DUPLICATE",
        "dry-run replay",
        "replay",
        "aggregate",
        "replay",
        "aggregate",
    ]
    json.dumps(as_dict)
    assert "3 attempts" in str(explained) and "<table>" in explained._repr_html_()


def test_explain_of_the_late_event_shows_the_version_that_lacked_it(kit, story):
    explained = kit.explain(story["late"]["event_id"])
    assert explained.aggregates[["version", "includes_event"]].values.tolist() == [[1, False], [2, True]]
    assert list(explained.replays["replay_id"]) == [story["runs"][2]["replay_id"]]  # the earlier runs were over


def test_explain_of_an_unknown_event_is_a_clear_error(kit, stack):
    with pytest.raises(NotFoundError, match="no event nope"):
        kit.explain("nope")


def test_explain_lists_a_conflict_with_both_payloads_verified(kit, stack):
    first = post(
        make_event(idempotency_key="order-7", event_time=(DAY + timedelta(hours=5)).isoformat(), payload={"amount": 1})
    )
    conflict = post(
        make_event(idempotency_key="order-7", event_time=(DAY + timedelta(hours=5)).isoformat(), payload={"amount": 2})
    )
    explained = kit.explain(first["event_id"])
    assert list(explained.attempts["status"]) == ["ACCEPTED", "CONFLICT"]
    assert explained.event["conflict_count"] == 1
    assert explained.raw.set_index("s3_key")["hash_ok"].to_dict() == {first["s3_key"]: True, conflict["s3_key"]: True}
    assert explained.raw["payload.amount"].tolist() == [1, 2]
    assert "CONFLICT 1" in explained.summary()


def test_explain_of_an_event_sent_once_says_1_attempt(kit, stack):
    once = post(make_event(entity_id="once-1", event_time=(DAY + timedelta(hours=6)).isoformat()))
    assert f"event {once['event_id']}: 1 attempt (ACCEPTED 1);" in kit.explain(once["event_id"]).summary()
