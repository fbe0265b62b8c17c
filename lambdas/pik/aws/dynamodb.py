"""DynamoDB adapter: item (de)serialisation, conditional writes, transactions and paged queries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..core import keys, queries
from ..core.errors import ContentionError, StorageError
from ..core.records import read_number
from ..core.replay import RunStatus
from . import clients

_ser, _de = TypeSerializer(), TypeDeserializer()
TRANSACT_ATTEMPTS = 6  # a first try and five retries: 10, 20, 40, 80, 160 ms at most
TRANSACT_BACKOFF_S = 0.01
MAX_TRANSACT_ITEMS = 100  # TransactWriteItems' limit
BATCH_GET_KEYS = 100  # BatchGetItem: at most 100 keys (and 16 MB) per call
BATCH_WRITE_ITEMS = 25  # BatchWriteItem: at most 25 put or delete requests per call
BATCH_ATTEMPTS = 8  # unprocessed keys or items retried with back-off (AWS: "retry ... exponential backoff")


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return read_number(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(item: dict) -> dict:
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: dict) -> dict:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _contended(exc: ClientError) -> bool:
    """Cancelled only because another transaction was writing the same item (no condition failed)."""
    reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
    return _code(exc) in ("TransactionConflictException", "TransactionInProgressException") or (
        _code(exc) == "TransactionCanceledException"
        and "TransactionConflict" in reasons
        and "ConditionalCheckFailed" not in reasons
    )


def _retrying(call: Callable[[], Any], what: str) -> Any:
    """``call()``, retried with jittered exponential back-off while contention cancels it; then
    ``ContentionError``. Any other error propagates at once."""
    attempt = 0
    while True:
        try:
            return call()
        except ClientError as exc:
            if not _contended(exc):
                raise
            attempt += 1
            if attempt == TRANSACT_ATTEMPTS:
                raise ContentionError(f"dynamodb {what}: still contended after {attempt} attempts: {exc}") from exc
        time.sleep(random.uniform(0, TRANSACT_BACKOFF_S * 2**attempt))  # back-off, not synchronisation


class Table:
    """One table by name, through the shared low-level client."""

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or clients.client("dynamodb")

    def get(self, pk: str, sk: str) -> dict | None:
        try:
            response = self.client.get_item(
                TableName=self.name, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=True
            )
        except ClientError as exc:
            raise StorageError(f"dynamodb get {self.name}: {exc}") from exc
        return deserialize(response["Item"]) if "Item" in response else None

    def put_new(self, item: dict) -> bool:
        """Put only if the key is free; False when it was taken."""
        try:
            self.client.put_item(
                TableName=self.name, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"dynamodb put {self.name}: {exc}") from exc
        return True

    def advance(self, pk: str, sk: str, step: int, fields: dict, *, unrequested: bool = False) -> bool:
        """Conditional on ``step`` (the record's version): set ``fields`` (None removes one) and step
        on by one; False when the record is gone or another writer advanced it first (or, with
        ``unrequested``, when a pause or cancel was requested on it)."""
        sets = {name: value for name, value in fields.items() if value is not None}
        names = {"#step": "step", **{f"#f{i}": name for i, name in enumerate(fields)}}
        condition = "#step = :step"
        if unrequested:
            names["#requested"] = "requested"
            condition += " AND attribute_not_exists(#requested)"
        values = {
            ":step": _ser.serialize(step),
            ":next": _ser.serialize(step + 1),
            **{f":v{i}": _ser.serialize(_to_dynamo(fields[name])) for i, name in enumerate(fields) if name in sets},
        }
        expression = "SET #step = :next" + "".join(f", #f{i} = :v{i}" for i, name in enumerate(fields) if name in sets)
        removed = [f"#f{i}" for i, name in enumerate(fields) if name not in sets]
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        try:
            self.client.update_item(
                TableName=self.name,
                Key=serialize({"pk": pk, "sk": sk}),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=condition,
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"dynamodb update {self.name}: {exc}") from exc
        return True

    def request_action(self, pk: str, sk: str, action: str) -> bool:
        """Set ``requested`` on a RUNNING run without moving its ``step``; False when it is not running."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=serialize({"pk": pk, "sk": sk}),
                UpdateExpression="SET #r = :r",
                ConditionExpression="#s = :running",
                ExpressionAttributeNames={"#r": "requested", "#s": "status"},
                ExpressionAttributeValues={":r": {"S": action}, ":running": {"S": RunStatus.RUNNING}},
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"dynamodb update {self.name}: {exc}") from exc
        return True

    def transact(self, actions: list[dict]) -> bool:
        """All-or-nothing write; False when a condition failed (nothing was written).

        DynamoDB cancels a transaction that touches an item another transaction is writing
        (``TransactionConflict``); botocore does not retry that: ``_retrying`` does.
        """
        try:
            _retrying(lambda: self.client.transact_write_items(TransactItems=actions), f"transaction {self.name}")
        except ClientError as exc:
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            if _code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                return False
            raise StorageError(f"dynamodb transaction {self.name}: {exc}") from exc
        return True

    def read(self, request: dict, *, start_key: dict | None = None, limit: int | None = None) -> Iterator[dict]:
        """Every item a low-level ``Query`` request matches, following each page's
        ``LastEvaluatedKey``; from just after ``start_key`` (a cursor), at most ``limit`` items."""
        request = {**request, "ExclusiveStartKey": serialize(start_key)} if start_key else dict(request)
        returned = 0
        while True:
            try:
                page = self.client.query(**request)
            except ClientError as exc:
                raise StorageError(f"dynamodb query {self.name}: {exc}") from exc
            for raw in page.get("Items", []):
                yield deserialize(raw)
                returned += 1
                if limit and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put_action(table: str, item: dict, *, new: bool) -> dict:
    action: dict[str, Any] = {"TableName": table, "Item": serialize(item)}
    if new:
        action["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": action}


def increment_action(table: str, pk: str, sk: str, counter: str, stamp: dict) -> dict:
    """Add one to ``counter`` on an existing item and set ``stamp`` fields."""
    names = {"#c": counter, **{f"#s{i}": name for i, name in enumerate(stamp)}}
    values = {":one": {"N": "1"}, **{f":s{i}": _ser.serialize(v) for i, v in enumerate(stamp.values())}}
    sets = ", ".join(f"#s{i} = :s{i}" for i in range(len(stamp)))
    return {
        "Update": {
            "TableName": table,
            "Key": serialize({"pk": pk, "sk": sk}),
            "UpdateExpression": "ADD #c :one" + (f" SET {sets}" if sets else ""),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


class EventIndex(Table):
    """The events table: dedup gate, attempts, and the indexes investigators query."""

    def get_event(self, event_id: str) -> dict | None:
        return self.get(keys.event_pk(event_id), keys.META_SK)

    def create_event(self, meta: dict, attempt: dict) -> bool:
        """Gate and first attempt together; False if the gate already existed."""
        return self.transact([put_action(self.name, meta, new=True), put_action(self.name, attempt, new=True)])

    def record_repeat(self, attempt: dict, counter: str) -> bool:
        """A later attempt: its own item (never overwriting one), then one more on the gate's
        counter; False when contention outlasted the retries and the attempt went uncounted.

        Two single-item writes, not a transaction: in a duplicate storm every repeat increments
        the same gate, and transactions on one item cancel each other (``TransactionConflict``)
        while plain updates queue. The attempt item is the record; the counter is a summary that
        a crash between the two writes (or endless contention) leaves one short, never one over.
        """
        if not self.put_new(attempt):
            raise StorageError("attempt item collided (attempt ids are random); retry")
        update = increment_action(
            self.name, attempt["pk"], keys.META_SK, counter, {"last_seen_time": attempt["ingest_time"]}
        )["Update"]
        try:
            _retrying(lambda: self.client.update_item(**update), f"count {counter} {self.name}")
        except ContentionError:
            return False
        except ClientError as exc:
            raise StorageError(f"dynamodb update {self.name}: {exc}") from exc
        return True

    def by_entity(
        self, entity_id: str, start_key: str, end_key: str, *, after: dict | None = None, page_size: int | None = None
    ) -> Iterator[dict]:
        """Attempts of one entity with ``start_key <= event_time < end_key`` (key-time strings)."""
        return self.read(
            queries.entity_window(self.name, entity_id, start_key, end_key, limit=page_size), start_key=after
        )

    def by_stream_day(
        self,
        source: str,
        event_type: str,
        day: str,
        *,
        after: dict | None = None,
        page_size: int | None = None,
        lateness: bool = False,
    ) -> Iterator[dict]:
        """Attempts of one source/type whose event time falls on ``day``, by arrival or lateness."""
        return self.read(
            queries.stream_day(self.name, source, event_type, day, lateness=lateness, limit=page_size), start_key=after
        )


class AggregateStore(Table):
    """Append-only aggregate versions."""

    def append(self, items: list[dict]) -> bool:
        """Claim one version of several metrics in one transaction (at most 100 items): all are
        written, or none when any version number was already taken (False)."""
        if len(items) > MAX_TRANSACT_ITEMS:
            raise ValueError(f"{len(items)} items: a DynamoDB transaction holds at most {MAX_TRANSACT_ITEMS}")
        return self.transact([put_action(self.name, item, new=True) for item in items])

    def versions(self, entity_id: str, start_day: str, end_day: str) -> Iterator[dict]:
        """Every version for days ``start_day <= day <= end_day``."""
        return self.read(queries.aggregate_days(self.name, entity_id, start_day, end_day))


class DeliveryRecords:
    """``pik.core.ports.DeliveryLog`` on the replays table: one item per (target, event).

    BatchGetItem and BatchWriteItem may answer part of a request as ``UnprocessedKeys`` /
    ``UnprocessedItems`` (throttling, the 16 MB response bound) without an error; AWS's guidance is to
    send those again with exponential back-off, which this does up to ``BATCH_ATTEMPTS`` times, then
    raises ``StorageError`` (never answers a partial set as if it were whole)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = Table(table, client)

    def delivered(self, target_key: str, event_ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(event_ids), BATCH_GET_KEYS):
            wanted = [
                serialize({"pk": keys.delivery_pk(target_key, e), "sk": keys.DELIVERY_SK})
                for e in dict.fromkeys(event_ids[start : start + BATCH_GET_KEYS])
            ]
            request = {self.table.name: {"Keys": wanted, "ConsistentRead": True}}
            for item in self._batches("batch_get_item", request, "RequestItems", "UnprocessedKeys", "Responses"):
                record = deserialize(item)
                found[record["event_id"]] = record
        return found

    def record(self, items: list[dict]) -> None:
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            puts = [{"PutRequest": {"Item": serialize(item)}} for item in items[start : start + BATCH_WRITE_ITEMS]]
            list(self._batches("batch_write_item", {self.table.name: puts}, "RequestItems", "UnprocessedItems", None))

    def _batches(
        self, operation: str, request: dict, field: str, unprocessed: str, answered: str | None
    ) -> Iterator[dict]:
        """Call ``operation`` until nothing is left unprocessed; the items answered (for a get)."""
        for attempt in range(BATCH_ATTEMPTS):
            try:
                response = getattr(self.table.client, operation)(**{field: request})
            except ClientError as exc:
                raise StorageError(f"dynamodb {operation} {self.table.name}: {exc}") from exc
            if answered:
                yield from response.get(answered, {}).get(self.table.name, [])
            request = response.get(unprocessed) or {}
            if not request:
                return
            time.sleep(random.uniform(0, TRANSACT_BACKOFF_S * 2**attempt))  # back-off, not synchronisation
        raise StorageError(f"dynamodb {operation} {self.table.name}: still unprocessed after {BATCH_ATTEMPTS} attempts")
