"""What the handlers stored in moto: raw bucket keys, an event's items, quarantined bodies."""

from __future__ import annotations

import json

import boto3

from pik.core import keys


def raw_keys(stack, prefix=""):
    """Every key in the raw bucket under ``prefix``, sorted."""
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["raw_bucket_name"], Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def items(stack, event_id):
    """The gate and attempts of ``event_id`` in the events table."""
    table = boto3.resource("dynamodb").Table(stack.outputs["events_table_name"])
    return table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": keys.event_pk(event_id)})[
        "Items"
    ]


def items_of(stack, body: dict) -> list[dict]:
    """The items of the one stored event of ``body``'s source and entity (found through its raw object)."""
    found = raw_keys(stack, f"raw/source={body['source']}/")
    documents = [
        json.loads(boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=k)["Body"].read())
        for k in found
    ]
    [event_id] = [d["envelope"]["event_id"] for d in documents if d["event"]["entity_id"] == body["entity_id"]]
    return items(stack, event_id)


def rejected(stack) -> list[dict]:
    """The quarantined copies under ``rejected/`` (body and reasons)."""
    s3 = boto3.client("s3")
    return [
        json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=key)["Body"].read())
        for key in raw_keys(stack, "rejected/")
    ]
