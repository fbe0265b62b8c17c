"""Compaction in tests: a fixed day, events ingested on it, the scheduled handler run, the curated objects."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3

from pik.core.timefmt import UTC
from pik.handlers import compact, ingest

from .lambdas import LambdaContext, call

DAY = "2026-11-20"


def at(hours: float) -> str:
    """``DAY`` plus ``hours``, ISO-8601 in UTC."""
    return (datetime.fromisoformat(DAY).replace(tzinfo=UTC) + timedelta(hours=hours)).isoformat()


def send(body: dict) -> dict:
    """Ingest ``body`` through the handler (200 expected); the API's answer."""
    status, answer = call(ingest, "/ingest", body)
    assert status == 200, answer
    return answer


def objects(stack) -> dict[str, tuple[str, bytes]]:
    """Every curated object: key -> (ETag, bytes)."""
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="curated/")
        for o in page.get("Contents", [])
    ]
    return {
        k: (s3.head_object(Bucket=bucket, Key=k)["ETag"], s3.get_object(Bucket=bucket, Key=k)["Body"].read())
        for k in keys
    }


def run() -> dict:
    """The compaction handler as its schedule invokes it (15 minutes of Lambda time)."""
    return compact.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext(900_000))
