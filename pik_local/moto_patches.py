"""One patch to moto: transactions that are isolated, and cost O(items touched).

moto's ``TransactWriteItems`` is not thread-safe: it deep-copies tables while other threads
write them (``dictionary changed size during iteration``) and nothing stops two transactions
from interleaving their condition checks, which DynamoDB never allows. The patch runs
transactions one at a time under a lock, as the local stack's threaded server and the
concurrency tests need.

moto's ``TransactWriteItems`` deep-copies every table it touches to be able to roll back, so
each transaction costs time proportional to the table size (8 ms on an empty events table,
100 ms at 2 500 items, seconds at 20 000): ingest, which writes one transaction per event,
would slow to a crawl. The patch keeps moto's own code and semantics but makes that table copy
free and instead remembers the previous version of each item the transaction names; when moto
cancels the transaction, those items are put back. Outcomes (applied, or cancelled with
``CancellationReasons``) are the same; only the cost changes.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table

_inside = threading.local()
_serial = threading.RLock()
_installed = False


def _deepcopy(value: Any, memo: dict | None = None) -> Any:
    if getattr(_inside, "active", False) and isinstance(value, Table):
        return value  # the rollback copy: replaced by the item-level undo below
    return copy.deepcopy(value, memo)


def _key(backend: Any, op_type: str, op: dict) -> tuple[str, dict]:
    table = backend.get_table(op["TableName"])
    if op_type != "Put":
        return op["TableName"], op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return op["TableName"], key


def _snapshot(backend: Any, transact_items: list[dict]) -> list[tuple[str, dict, dict | None]]:
    undo = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        try:
            table_name, key = _key(backend, op_type, op)
            current = backend.get_item(table_name, key)
        except Exception:  # a malformed action: moto reports it; nothing of it can need undoing
            continue
        undo.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return undo


def _undo(backend: Any, undo: list[tuple[str, dict, dict | None]]) -> None:
    for table_name, key, previous in reversed(undo):
        if previous is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, previous)


def install() -> None:
    """Patch ``DynamoDBBackend.transact_write_items`` (idempotent)."""
    global _installed
    if _installed:
        return
    original = models.DynamoDBBackend.transact_write_items
    models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)  # moto's module-level ``copy``

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _serial:
            undo = _snapshot(self, transact_items)
            _inside.active = True
            try:
                return original(self, transact_items)
            except Exception:
                _inside.active = False
                _undo(self, undo)
                raise
            finally:
                _inside.active = False

    models.DynamoDBBackend.transact_write_items = transact_write_items
    _installed = True
