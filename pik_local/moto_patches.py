"""One patch to moto: transactions that are isolated, and cost O(items touched).

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
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table

_inside = threading.local()  # .writes: the current transaction's undo log, or None outside one
_serial = threading.RLock()
_installed = False


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


def _undo(backend: Any, writes: list[tuple[str, dict, dict | None]]) -> None:
    for table_name, key, previous in reversed(writes):
        if previous is not None:
            backend.put_item(table_name, previous)
        elif backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent): ``install()`` before ``mock_aws()``."""
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
    _installed = True
