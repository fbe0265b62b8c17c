"""moto's DynamoDB, patched: transactions that are isolated and cost O(items touched); queries that cost
O(matching items); item results serialised by ``json`` instead of moto's shape walker.

moto's ``TransactWriteItems`` is not thread-safe: nothing stops two transactions from
interleaving their condition checks, which DynamoDB never allows. The patch runs transactions
one at a time under a lock, as the local stack's threaded server and the concurrency tests need.

moto's ``TransactWriteItems`` deep-copies every table it touches to be able to roll back, so
each transaction costs time proportional to the table size (8 ms on an empty events table,
100 ms at 2 500 items, seconds at 20 000): ingest, which writes one transaction per event,
would slow to a crawl. Its rollback also puts the whole old table back, losing what other
requests wrote meanwhile. The patch keeps moto's own transaction code but makes that table copy
free, records the previous version of each item the transaction actually wrote, and, when moto
cancels the transaction, puts back exactly those items. Outcomes are the same (applied, or
cancelled with ``CancellationReasons``); concurrent writes to other items are never undone.

moto's ``Query`` starts from ``Table.all_items()``, which sorts the whole table, then filters
it (a GSI query also tests every item): each query costs O(n log n) in the table size (a
one-item query on a 20 000-event table ~0.3 s), so a reader that slices a window into 64 day
queries made moto sort the table 64 times. The patch hands moto's own query code only the
candidates: the partition's items for a table query, and for a GSI query the items whose
index hash key has the value asked for, from a hash index per (table, attribute) kept up to
date on every put and update and checked on read (a deleted or changed item is dropped).
moto then filters, sorts and pages those exactly as before.

moto serialises every response by walking botocore's output shape, ~10 Python calls per
attribute: ~300 µs per returned item, most of a query's cost. Items are already DynamoDB JSON
in moto, so for ``Query``, ``Scan`` and ``GetItem`` the patch lets moto serialise the response
without its items (status, headers, counts, ``LastEvaluatedKey``) and adds the items with
``json.dumps``; anything ``json`` cannot encode as-is goes moto's own way.

Single-item writes (``PutItem``, ``UpdateItem``, ``DeleteItem``) and ``GetItem`` take the same
lock: DynamoDB applies each atomically, while moto checks a condition and then sets attributes
one by one, so two racing ``ADD``s could lose one and a read could see half an update
(``tests/e2e/test_moto_patch.py::test_racing_single_item_increments_are_all_counted``).
"""

from __future__ import annotations

import copy
import json
import threading
import types
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_inside = threading.local()  # .writes: the current transaction's undo log, or None outside one
_serial = threading.RLock()
_installed = False
_candidates = threading.local()  # .table, .items: what all_items() returns inside a patched query
_index_lock = threading.RLock()  # guards every table's ``_pik_hash_index``


def _deepcopy(value: Any, memo: dict | None = None) -> Any:
    if getattr(_inside, "writes", None) is not None and isinstance(value, Table):
        return value  # moto's rollback copy: replaced by the undo log
    return copy.deepcopy(value, memo)


def _key_of(backend: Any, table_name: str, attrs: dict) -> dict:
    table = backend.get_table(table_name)
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: attrs[name] for name in names}


def _recorded(method: Any, is_put: bool) -> Any:
    """Wrap a backend write so that, inside a transaction, it logs the item's previous version."""

    def write(self: Any, table_name: str, first: dict, *args: Any, **kwargs: Any) -> Any:
        writes = getattr(_inside, "writes", None)
        if writes is None:
            return method(self, table_name, first, *args, **kwargs)
        key = _key_of(self, table_name, first) if is_put else first
        before = self.get_item(table_name, key)
        previous = copy.deepcopy(before.to_json()["Attributes"]) if before else None  # updates mutate in place
        result = method(self, table_name, first, *args, **kwargs)
        writes.append((table_name, key, previous))
        return result

    return write


def _serialised(method: Any) -> Any:
    """``method`` run under the lock transactions take: one write at a time, as DynamoDB isolates them."""

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _serial:
            return method(self, *args, **kwargs)

    return write


def _undo(backend: Any, writes: list[tuple[str, dict, dict | None]]) -> None:
    for table_name, key, previous in reversed(writes):
        if previous is not None:
            backend.put_item(table_name, previous)
        elif backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)


def _index(table: Any, attr: str) -> dict:
    """``{value: {(hash, range): item}}`` of ``attr`` over ``table``, built on first use."""
    indexes = table.__dict__.setdefault("_pik_hash_index", {})
    if attr not in indexes:
        built: dict = {}
        for partition in list(table.items.values()):
            for item in list(partition.values()) if table.range_key_attr else [partition]:
                value = item.attrs.get(attr)
                if value is not None:
                    built.setdefault(value, {})[(item.hash_key, item.range_key)] = item
        indexes[attr] = built
    return indexes[attr]


def _note(table: Any, item: Any) -> None:
    """Index a stored (new, replaced or updated) item under its current values."""
    if not isinstance(item, Item):
        return
    with _index_lock:
        for attr, index in table.__dict__.get("_pik_hash_index", {}).items():
            value = item.attrs.get(attr)
            if value is not None:
                index.setdefault(value, {})[(item.hash_key, item.range_key)] = item


def _stored(table: Any, item: Any) -> bool:
    partition = table.items.get(item.hash_key)
    if table.range_key_attr:
        return partition is not None and partition.get(item.range_key) is item
    return partition is item


def _query_candidates(table: Any, hash_key: Any, index_name: str | None, conditions: list | None) -> list | None:
    """The items a query can match, or None when the patch does not know (moto's own path)."""
    if not index_name:
        if hash_key is None:
            return None
        partition = table.items.get(hash_key)
        if partition is None:
            return []
        return list(partition.values()) if table.range_key_attr else [partition]
    if not conditions or len(conditions) != 1 or not isinstance(conditions[0][1], DynamoType):
        return None
    attr, value = conditions[0]
    with _index_lock:
        bucket = _index(table, attr).get(value, {})
        found = []
        for key, item in list(bucket.items()):
            if _stored(table, item) and item.attrs.get(attr) == value:
                found.append(item)
            else:
                del bucket[key]  # deleted, replaced or changed since it was indexed
    return found


def _fast_queries() -> None:
    original_query, original_all = Table.query, Table.all_items
    original_put = Table.put_item

    def all_items(self: Any) -> list:
        if getattr(_candidates, "table", None) is self:
            return _candidates.items
        return original_all(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        found = _query_candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if found is None:
            return original_query(self, hash_key, *args, **kwargs)
        _candidates.table, _candidates.items = self, found
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _candidates.table = _candidates.items = None

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _note(self, item)
        return item

    Table.query, Table.all_items, Table.put_item = query, all_items, put_item


_ITEMS_OF = {"Query": "Items", "Scan": "Items", "GetItem": "Item"}


def _fast_results() -> None:
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        key = _ITEMS_OF.get(str(context.operation_model.name))
        result = self._result
        if key is None or not isinstance(result, dict) or key not in result:
            return original(self, context)
        try:
            json.dumps(result[key])  # str, numbers, bools, lists, dicts only (else moto's way)
        except (TypeError, ValueError):
            return original(self, context)
        self._result = {k: v for k, v in result.items() if k != key}
        try:
            status, headers, body = original(self, context)
        finally:
            self._result = result
        document = json.loads(body) if body else {}
        document[key] = result[key]
        return status, headers, json.dumps(document, separators=(",", ":"))

    DynamoResult.execute_result = execute_result


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    global _installed
    if _installed:
        return
    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)  # the ``copy`` moto's module uses
    backend.put_item = _recorded(backend.put_item, is_put=True)
    backend.update_item = _recorded(backend.update_item, is_put=False)
    backend.delete_item = _recorded(backend.delete_item, is_put=False)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _serial:
            _inside.writes = writes = []
            try:
                return original(self, transact_items)
            except Exception:
                _inside.writes = None  # the undo's own writes are not logged
                _undo(self, writes)
                raise
            finally:
                _inside.writes = None

    backend.transact_write_items = transact_write_items
    updated = backend.update_item

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        with _serial:  # DynamoDB applies one item's condition and update (e.g. ADD) atomically; moto's
            item = updated(self, table_name, *args, **kwargs)  # read-modify-write would lose increments
        _note(self.get_table(table_name), item)
        return item

    backend.update_item = update_item
    for name in ("put_item", "delete_item", "get_item"):  # single-item writes atomic, reads never see half a write
        setattr(backend, name, _serialised(getattr(backend, name)))
    _fast_queries()
    _fast_results()
    _installed = True
