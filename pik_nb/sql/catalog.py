"""Athena's names, checked before a query costs one: every column a query names is resolved against
the columns its Glue tables hold, so a name Athena would answer ``COLUMN_NOT_FOUND`` for is a
``SqlError`` that says what to do, and no query is started.

Why: DuckDB's ``events`` view has every top-level scalar payload field as a typed column; the Glue
``events`` table declares the common columns and ``payload`` only (their kinds differ per stream,
ADR 305; ADR 306's addendum). So ``kit.search(where="amount > 100")`` answers locally and would fail on
Athena. pik refuses it instead, naming the column, the table and the two remedies: add the column
once (``ALTER TABLE events ADD COLUMNS (amount <type>)``, docs/scale.md) or read it from the payload
(``json_extract_scalar(payload, '$.amount')``). It does not rewrite the query: a payload field's kind
differs per stream (a number in one, text where another widened it, ``int`` beyond 2**53 in a third),
so no one cast gives DuckDB's answer for every stream, and a silently different answer is worse
than a clear refusal.

The columns are read with ``glue:GetTable`` (AthenaInvestigatorPolicy grants it on the stack's
catalog, database and tables; Athena itself needs it to plan a query: AWS, "Fine-grained access to
databases and tables in the AWS Glue Data Catalog") once per kit, and again for a query that names a
column the copy lacks: a column added with ``ALTER TABLE`` works at once, without a new kit.

The check refuses only what it resolves for certain: a query sqlglot (its ``athena`` dialect, Trino's
grammar) cannot parse, a table of another database, a source whose columns it cannot see (a ``*``
subquery) or a name of an outer query's source are sent as written, and Athena answers for them.

    >>> unresolved("SELECT * FROM events WHERE amount > 100", {"events": {"event_id": "string"}}.get)
    [('amount', ('events',))]
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from pik.aws.glue import GlueCatalog
from pik.core import curated

from .._errors import SqlError

if TYPE_CHECKING:
    from ..read.stack import Stack

Columns = Callable[[str], "dict[str, str] | None"]  # a Glue table's columns by name, None: no such table
_FIELD = re.compile(r"[a-z_][a-z0-9_]*")


class AthenaColumns:
    """A kit's copy of its Glue tables' columns (``columns(table)``), re-read on ``refresh``."""

    def __init__(self, catalog: GlueCatalog) -> None:
        self.catalog = catalog
        self._tables: dict[str, dict[str, str] | None] = {}
        self._lock = threading.Lock()

    def columns(self, table: str) -> dict[str, str] | None:
        with self._lock:
            if table not in self._tables:
                self._tables[table] = self.catalog.columns(table)
            return self._tables[table]

    def refresh(self, tables: set[str]) -> None:
        with self._lock:
            for table in tables:
                self._tables.pop(table, None)


_KITS: weakref.WeakKeyDictionary[Stack, AthenaColumns] = weakref.WeakKeyDictionary()
_KITS_LOCK = threading.Lock()


def athena_columns(stack: Stack, database: str) -> AthenaColumns:
    """The copy of ``stack``'s (its kit's) Glue columns, made on first use."""
    with _KITS_LOCK:
        if stack not in _KITS:
            _KITS[stack] = AthenaColumns(GlueCatalog(database, client=stack.client("glue")))
        return _KITS[stack]


def check(stack: Stack, query: str, database: str) -> None:
    """``SqlError`` if ``query`` names a column none of the Glue tables it reads has (read again
    before refusing, so a column just added counts)."""
    known = athena_columns(stack, database)
    missing = unresolved(query, known.columns)
    if missing:
        known.refresh({table for _, tables in missing for table in tables})
        missing = unresolved(query, known.columns)
    if missing:
        raise SqlError("; ".join(message(column, tables, known.columns) for column, tables in missing))


def message(column: str, tables: tuple[str, ...], columns: Columns) -> str:
    """Why Athena would refuse ``column`` and the two ways to ask for it.

    >>> print(message("amount", ("events",), {"events": {"event_id": "string", "payload": "string"}}.get))
    Athena's events table has no column amount (its columns: event_id, payload): a payload field is \
a column there only once added, ALTER TABLE events ADD COLUMNS (amount <type>) with the type its \
streams hold (docs/scale.md), or read it from the payload: json_extract_scalar(payload, '$.amount') \
(text: CAST(... AS double) to compare numbers)
    """
    declared = {table: list(columns(table) or {}) for table in tables}
    listed = "; ".join(f"{table}: {', '.join(names)}" for table, names in declared.items())
    head = (
        f"Athena's {tables[0]} table has no column {column} (its columns: {', '.join(declared[tables[0]])})"
        if len(tables) == 1
        else f"none of Athena's tables {', '.join(tables)} has a column {column} (their columns: {listed})"
    )
    with_payload = [table for table, names in declared.items() if curated.PAYLOAD in names]
    if not with_payload:
        return head
    path = f"$.{column}" if _FIELD.fullmatch(column) else '$["' + column.replace('"', '\\"') + '"]'
    path = path.replace("'", "''")
    return (
        f"{head}: a payload field is a column there only once added, ALTER TABLE {with_payload[0]} ADD COLUMNS "
        f"({column} <type>) with the type its streams hold (docs/scale.md), or read it from the payload: "
        f"json_extract_scalar(payload, '{path}') (text: CAST(... AS double) to compare numbers)"
    )


def unresolved(query: str, columns: Columns) -> list[tuple[str, tuple[str, ...]]]:
    """``(column, Glue tables it was looked for in)`` for each column ``query`` names that its tables
    lack, in the order the query names them; [] when every name resolves or when it cannot be told."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.scope import traverse_scope

    try:
        scopes = traverse_scope(sqlglot.parse_one(query, read="athena"))
    except SqlglotError:
        return []  # Athena's own parser answers for a query sqlglot cannot read
    found: dict[str, tuple[str, ...]] = {}
    for scope in scopes:
        names, tables = _sources(scope, columns, exp)
        visible = [names]  # an unqualified name of a subquery may be its outer query's column too
        outer = scope
        while outer.is_subquery and outer.parent is not None:
            outer = outer.parent
            visible.append(_sources(outer, columns, exp)[0])
        for column in scope.columns:
            name = column.name.lower()
            if column.table:
                if column.table not in names or names[column.table] is None or name in names[column.table]:
                    continue  # an outer query's source, a struct field, a source it cannot see into, or known
                if column.table in tables:
                    found.setdefault(name, (tables[column.table],))
                continue
            if column.find_ancestor(exp.Select) is not scope.expression:
                continue  # a subquery's own name, resolved in the subquery's scope
            offered = [v for level in visible for v in level.values()]
            if tables and all(v is not None and name not in v for v in offered):
                found.setdefault(name, tuple(dict.fromkeys(tables.values())))
    return list(found.items())


def _sources(scope, columns: Columns, exp) -> tuple[dict[str, set[str] | None], dict[str, str]]:
    """Each source of ``scope`` by alias: the names it offers (None: cannot tell), and which are Glue tables."""
    names: dict[str, set[str] | None] = {}
    tables: dict[str, str] = {}
    for alias, (_, source) in scope.selected_sources.items():
        if isinstance(source, exp.Table):
            declared = None if source.db or source.catalog else columns(source.name.lower())
            if declared is None:  # another database's table, or one Glue has not got: Athena answers
                names[alias] = None
                continue
            names[alias], tables[alias] = {c.lower() for c in declared}, source.name.lower()
        elif isinstance(source.expression, exp.Unnest):
            alias_node = source.expression.args.get("alias")
            names[alias] = {c.name.lower() for c in alias_node.columns} if alias_node and alias_node.columns else None
        else:
            selects = getattr(source.expression, "named_selects", None)
            names[alias] = None if not selects or "*" in selects else {s.lower() for s in selects}
    return names, tables
