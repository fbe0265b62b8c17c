"""The archive follows the time an attempt was *recorded*, not its arrival (issue 18, finding 1).

Four ways an attempt is written long after its arrival time, each after a compaction whose
watermark is newer than that arrival: a tap record that waited in its SQS queue (arrival =
SentTimestamp), a Kinesis backfill from TRIM_HORIZON (arrival = approximateArrivalTimestamp), the
repair path (a quarantined request re-submitted with its own arrival) and a retry completing a
request that crashed between its raw write and its transaction (the crashed request is the
ACCEPTED attempt, at its arrival). Each must reach both readers: the rows ``kit.sql`` unions in
past the watermark (``archive.fresh_attempts``) and the next compaction's partitions.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from datetime import datetime, timedelta

import boto3
import pyarrow.parquet as pq
import pytest

import pik_nb
from pik.core import contract, curated, records
from pik.core.contract import Limits
from pik.core.timefmt import UTC
from pik.handlers import compact, ingest, replay, tap
from pik.services import ingest as ingest_service
from pik_nb.sql import archive
from tests.support.aws import REGION
from tests.support.events import EVENTS, api_event, make_event, sqs_event
from tests.support.lambdas import LambdaContext, call

NOW = datetime.now(UTC)
ARRIVED = NOW - timedelta(hours=2)  # long before the watermark the first compaction sets
EVENT_TIME = (NOW - timedelta(hours=3)).isoformat()
LONG_SOURCE = "s" * 70  # over the contract's 64-character bound on names: REJECTED until the fix


def compaction() -> dict:
    result = compact.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext(900_000))
    assert "skipped" not in result, result
    return result


def queued_tap_record(stack, monkeypatch) -> str:
    """An SQS tap record that waited two hours in its queue."""
    event = sqs_event([json.dumps(make_event(entity_id="queued", event_time=EVENT_TIME))])
    event["Records"][0]["attributes"]["SentTimestamp"] = str(int(ARRIVED.timestamp() * 1000))
    assert tap.sqs_handler(event, LambdaContext()) == {"batchItemFailures": []}
    return "queued"


def kinesis_backfill(stack, monkeypatch) -> str:
    """A Kinesis record read from TRIM_HORIZON two hours after it reached the stream."""
    record = copy.deepcopy(json.loads((EVENTS / "kinesis_batch.json").read_text())["Records"][0])
    record["kinesis"]["data"] = base64.b64encode(
        json.dumps(make_event(entity_id="backfilled", event_time=EVENT_TIME)).encode()
    ).decode("ascii")
    record["kinesis"]["approximateArrivalTimestamp"] = ARRIVED.timestamp()
    assert tap.kinesis_handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    return "backfilled"


def repaired_request(stack, monkeypatch) -> str:
    """A request quarantined two hours ago, re-submitted by a repair run after a contract fix."""
    body = make_event(source=LONG_SOURCE, entity_id="repaired", event_time=EVENT_TIME)
    response = ingest.handler(api_event("/ingest", body, arrived_ms=int(ARRIVED.timestamp() * 1000)), LambdaContext())
    assert response["statusCode"] == 400
    fixed = Limits(max_name_chars=128)  # the deployment after the contract fix
    monkeypatch.setitem(contract.validate.__kwdefaults__, "limits", fixed)
    monkeypatch.setitem(ingest_service.ingest.__kwdefaults__, "limits", fixed)
    scope = {
        "statuses": ["REJECTED"],
        "start_time": (ARRIVED - timedelta(minutes=1)).isoformat(),
        "end_time": (ARRIVED + timedelta(minutes=1)).isoformat(),
        "dry_run": False,
    }
    status, run = call(replay, "/replay", scope)
    assert (status, run["sent"]) == (200, 1), run
    return "repaired"


def retry_after_a_crash(stack, monkeypatch) -> str:
    """A request that stored its raw bytes two hours ago and crashed before its transaction; the
    client's retry now records it (the crashed request is the ACCEPTED attempt, at its arrival)."""
    body = make_event(entity_id="crashed", event_time=EVENT_TIME)
    event = contract.validate(json.dumps(body).encode(), now=ARRIVED)
    document = records.raw_document(event, records.Attempt(ARRIVED, "crashed-request"))
    boto3.client("s3").put_object(
        Bucket=stack.outputs["raw_bucket_name"], Key=event.raw_key, Body=json.dumps(document).encode()
    )
    status, answer = call(ingest, "/ingest", body)
    assert (status, answer["status"]) == (200, "DUPLICATE")  # the retry is the crashed request's repeat
    return "crashed"


@pytest.mark.parametrize("late_path", [queued_tap_record, kinesis_backfill, repaired_request, retry_after_a_crash])
def test_an_attempt_recorded_after_the_watermark_reaches_sql_and_the_next_compaction(stack, monkeypatch, late_path):
    status, on_time = call(ingest, "/ingest", make_event(entity_id="on-time", event_time=EVENT_TIME))
    assert status == 200
    compaction()
    kit = pik_nb.connect(session=boto3.session.Session(region_name=REGION), **stack.outputs)
    mark = archive.watermark(kit.stack)
    assert mark is not None and mark > ARRIVED.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    entity = late_path(stack, monkeypatch)
    late = [
        i
        for i in boto3.resource("dynamodb").Table(stack.outputs["events_table_name"]).scan()["Items"]
        if i.get("entity_id") == entity and i["sk"].startswith("ATT#")
    ]
    [item] = [i for i in late if i["status"] == "ACCEPTED"]
    assert item["ingest_time"] < mark  # arrived before the watermark, recorded after it

    fresh = {row["attempt_id"] for row in archive.fresh_attempts(kit.stack, mark).to_pylist()}
    # kit.sql's rows past the watermark: the late ones (a retry's DUPLICATE too), and the on-time
    # one (recorded within the settle before the first compaction)
    assert fresh == {i["attempt_id"] for i in late} | {on_time["attempt_id"]}

    result = compaction()
    partition = curated.Partition(item["source"], item["event_type"], item["event_date"])
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=curated.manifest_key(partition))["Body"].read())
    [part] = manifest["files"]["attempts"]
    ids = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=part)["Body"].read())).column("attempt_id")
    assert item["attempt_id"] in ids.to_pylist() and result["written"] == 1


def test_a_negative_settle_is_refused_naming_the_argument_and_the_rule(stack):
    kit = pik_nb.connect(session=boto3.session.Session(region_name=REGION), **stack.outputs)
    with pytest.raises(pik_nb.ScopeError, match=r"settle='-120s': must be zero or more .*future"):
        kit.compact(settle="-120s")
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=stack.outputs["raw_bucket_name"], Prefix="curated/")["KeyCount"] == 0
