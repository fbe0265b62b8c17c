"""Logs and metrics of the handlers: correlation ids from API Gateway, one EMF line per
invocation that added metrics, and never powertools' "No application metrics to publish"."""

from __future__ import annotations

import io
import json
import warnings
from datetime import datetime, timedelta

import pytest

from pik.core.replay import encode_continuation
from pik.core.timefmt import UTC
from pik.handlers import ingest, processor, replay
from pik.handlers.observability import logger
from tests.support.events import api_event, make_event, sqs_event
from tests.support.lambdas import LambdaContext, call
from tests.support.replays import drain, seed, window


@pytest.fixture
def logs(monkeypatch):
    """The JSON log lines the handlers' logger writes during the test."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def quiet():
    """Fails the test if any warning (such as an empty metrics flush) is emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in caught] == []


def emitted_metrics(capsys) -> list[str]:
    """Names of the metrics in the EMF lines printed so far."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return [m["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


def test_api_logs_carry_the_api_gateway_request_id(stack, logs):
    status, answer = call(ingest, "/ingest", make_event(), request_id="apigw-req-7")
    assert status == 200
    [line] = [line for line in logs() if line["message"] == "ingest"]
    assert line["correlation_id"] == "apigw-req-7" and line["event_id"] == answer["event_id"]


def test_success_paths_publish_their_metrics_without_warnings(stack, quiet, capsys):
    seed(count=1)
    assert call(replay, "/replay", window(entity_id="customer-42", dry_run=False))[0] == 200
    messages = [json.dumps(body) for body in drain(stack)]
    assert processor.handler(sqs_event(messages), LambdaContext()) == {"batchItemFailures": []}
    assert emitted_metrics(capsys) == [
        "IngestRequestCount",
        "IngestCount",
        "IngestAcceptedCount",
        "IngestLagMs",
        "ReplayMessageCount",
        "ReplayRequestedCount",
        "ProcessorMessageCount",
        "ProcessorErrorCount",
    ]


@pytest.mark.no_iam_gate  # a put to a bucket that is not the stack's
def test_error_paths_count_their_error_without_warnings(stack, quiet, capsys, monkeypatch):
    bad = api_event("/ingest", "not base64!")
    bad["isBase64Encoded"] = True
    assert ingest.handler(bad, LambdaContext())["statusCode"] == 400
    assert call(replay, "/replay", "{not json")[0] == 400
    nobody = "rp-" + "0" * 32
    unknown_run = window(entity_id="customer-42", continuation=encode_continuation(nobody, 0))
    assert call(replay, "/replay", unknown_run) == (404, {"error": f"no replay run {nobody}", "details": []})
    monkeypatch.setenv("RAW_BUCKET", "no-such-bucket")
    assert call(ingest, "/ingest", make_event())[0] == 503
    assert emitted_metrics(capsys) == [
        "IngestRequestCount",
        "RejectedCount",
        "InvalidCount",
        "ReplayRejectedCount",
        "ReplayRejectedCount",
        "IngestRequestCount",
        "IngestErrorCount",
    ]


def test_an_unexpected_exception_propagates_and_publishes_nothing(stack, quiet, capsys, monkeypatch):
    monkeypatch.setattr(ingest, "ingest", lambda *args, **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        call(ingest, "/ingest", make_event())
    assert emitted_metrics(capsys) == []


def test_a_clock_ahead_of_ours_counts_as_skew_and_lag_stays_non_negative(stack, capsys):
    """CloudWatch has no percentiles for a metric with a negative value: the p99 lag alarm would go blind."""
    ahead = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    events = [make_event(entity_id="skewed", event_time=ahead), make_event(entity_id="late")]
    status, answer = call(ingest, "/ingest", {"events": events})
    assert status == 200 and [r["status"] for r in answer["results"]] == ["ACCEPTED", "ACCEPTED"]
    assert answer["results"][0]["ingest_lag_ms"] < 0  # the API still answers the true difference
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert line["ClockSkewCount"] == [1.0]
    assert len(line["IngestLagMs"]) == 2 and min(line["IngestLagMs"]) == 0 and max(line["IngestLagMs"]) > 3_000_000
