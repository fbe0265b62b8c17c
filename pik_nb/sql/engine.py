"""One SQL surface over the archive: views ``attempts``, ``events``, ``aggregates``, ``replays``.

- **DuckDB** (embedded; the default for a local stack, and for any stack without Athena outputs):
  the curated Parquet parts the manifests list are read through pyarrow's S3 filesystem (the local
  stack's moto endpoint, or S3) as Arrow datasets, so DuckDB pushes column and partition filters
  into them and nothing is downloaded up front; no DuckDB extension is needed. **Fresh**: attempts
  *recorded* at or after the compaction watermark (whatever their arrival time) come from the events
  table's recorded index and raw objects, and replace any copy of the same attempt (event) in the
  parts, so a query during an incident sees the last minute too, each row once.
- **Athena** (a deployed stack with ``EnableAthena``): the same SQL against the Glue tables
  ``attempts``/``events`` of the stack's curated database, in its workgroup (bytes-scanned cap).
  ``aggregates`` and ``replays`` are DynamoDB tables pik reads itself, not Glue tables: a query that
  names one runs on DuckDB (which reads the compacted parts from S3 too), whatever the stack. Every
  column a query names is resolved against the Glue tables first (``pik_nb.sql.catalog``): Athena's
  ``events`` has no typed payload columns, so ``where="amount > 100"`` is a ``SqlError`` saying how to
  add the column or read it from ``payload``, before any query is started.

    >>> kit.sql("SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY n DESC")

**Read-only and confined by default** (DuckDB): one ``SELECT`` (or ``EXPLAIN``) statement a call;
``COPY``, ``ATTACH``, ``CREATE``, ``SET``, ``PRAGMA``, ``INSTALL``/``LOAD`` are refused; once the views
are registered the connection gets ``enable_external_access = false`` (no file, network or extension
access: ``read_text``, ``glob``, ``read_parquet('/…')`` fail) and ``lock_configuration = true``, as
DuckDB's "Securing DuckDB" page recommends (duckdb.org/docs/2.0/operations_manual/securing_duckdb).
``confined=False`` (``pik sql --unconfined``) opts out, for a power user on their own machine.
On Athena the workgroup and the investigator's IAM policy confine queries (no Glue writes).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pik import parquet
from pik.core import curated

from .._errors import ScopeError, SqlError
from .._times import Time, utc
from ..read.frames import AGGREGATE_COLUMNS, from_dynamo
from . import archive, catalog
from . import queries as queries_sql

if TYPE_CHECKING:
    from ..read.stack import Stack

VIEWS = ("attempts", "events", "aggregates", "replays")
#: The views Athena has: the Glue tables the compaction registers its partitions in (ADR 306).
ATHENA_VIEWS = ("attempts", "events")
ATHENA_POLL_S = (0.2, 2.0)  # first and longest wait between GetQueryExecution polls


def named_views(query: str) -> set[str]:
    """The views ``query`` names (a word match: a view named in a string or comment counts too).

    >>> sorted(named_views("SELECT r.sent FROM replays r JOIN attempts a ON a.event_id = r.replay_id"))
    ['attempts', 'replays']
    """
    return {view for view in VIEWS if re.search(rf"\b{view}\b", query, re.IGNORECASE)}


def engine_of(stack: Stack, engine: str | None, query: str | None = None) -> str:
    """``duckdb`` or ``athena``: Athena for a deployed stack whose outputs name a workgroup, unless
    ``query`` names a view Athena lacks (``aggregates``, ``replays``: DynamoDB tables, read by DuckDB)."""
    if engine == "athena" and query is not None and (missing := named_views(query) - set(ATHENA_VIEWS)):
        raise SqlError(
            f"Athena has no view {', '.join(sorted(missing))} (its tables are {', '.join(ATHENA_VIEWS)}): "
            "leave engine unset or use engine='duckdb', which reads it from DynamoDB"
        )
    if engine in ("duckdb", "athena"):
        return engine
    if engine is not None:
        raise ScopeError(f"engine must be 'duckdb' or 'athena', not {engine!r}")
    if query is not None and named_views(query) - set(ATHENA_VIEWS):
        return "duckdb"
    return (
        "athena" if not stack.endpoint("athena") and stack.resources.extra.get("athena_work_group_name") else "duckdb"
    )


def sql(
    stack: Stack,
    query: str,
    *,
    fresh: bool = True,
    engine: str | None = None,
    confined: bool = True,
    fresh_events_where: Callable[[pa.Table], pa.Array] | None = None,
    arrow: bool = False,
) -> pd.DataFrame | pa.Table:
    """Run ``query`` over the views; see ``Kit.sql``. ``fresh_events_where`` (a mask over the
    fresh attempts) limits the raw objects read for fresh events to those a query can match.
    ``arrow``: a ``pyarrow.Table`` (DuckDB's own Arrow result; Athena's typed frame converted)."""
    if engine_of(stack, engine, query) == "athena":
        frame = athena(stack, query)
        return pa.Table.from_pandas(frame, preserve_index=False) if arrow else frame
    check(query, confined=confined)
    with connection(stack, query, fresh=fresh, fresh_events_where=fresh_events_where, confined=confined) as con:
        return run(con, query, arrow=arrow, confined=confined)


#: The statements a confined connection answers: reading, never writing or configuring.
READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def check(query: str, *, confined: bool = True) -> None:
    """``SqlError`` unless ``query`` is one statement (``SELECT``/``EXPLAIN`` when ``confined``).

    >>> check("-- nothing")
    Traceback (most recent call last):
    pik_nb._errors.SqlError: the query holds no SQL statement (only blanks or comments)
    """
    try:
        statements = duckdb.connect().extract_statements(query)
    except duckdb.Error as exc:
        raise SqlError(f"{type(exc).__name__}: {exc}") from None
    if not statements:
        raise SqlError("the query holds no SQL statement (only blanks or comments)")
    if len(statements) > 1:
        raise SqlError(f"one SQL statement at a time: the query holds {len(statements)}")
    kind = statements[0].type
    if confined and kind not in READ_ONLY:
        raise SqlError(
            f"kit.sql is read-only: a {kind.name} statement is refused (only SELECT over the views "
            "attempts, events, aggregates, replays); confined=False / pik sql --unconfined allows it"
        )


def run(
    con: duckdb.DuckDBPyConnection, query: str, *, arrow: bool = False, confined: bool = True
) -> pd.DataFrame | pa.Table:
    """``query`` on ``con`` as a DataFrame (or an Arrow table); DuckDB's errors become ``SqlError``."""
    check(query, confined=confined)
    try:
        result = con.sql(query)
        return result.to_arrow_table() if arrow else result.df()
    except duckdb.CatalogException as exc:
        raise SqlError(_catalog_message(exc)) from exc
    except duckdb.Error as exc:
        raise SqlError(f"{type(exc).__name__}: {exc}") from exc


def _catalog_message(exc: duckdb.CatalogException) -> str:
    """DuckDB's first line and the views there are, without its "Did you mean" (it suggests DuckDB's own
    catalog, ``pg_sequences``, even for ``event``: pik's views are not among its candidates)."""
    first = str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {first} (the views are {', '.join(VIEWS)})"


def confine(con: duckdb.DuckDBPyConnection, *, allowed_directories: tuple[str, ...] = ()) -> None:
    """No file, network or extension access from ``con`` from now on (except reads under
    ``allowed_directories``), no Python variables as tables, and its configuration locked."""
    if allowed_directories:
        listed = ", ".join(queries_sql.literal(path) for path in allowed_directories)
        con.execute(f"SET allowed_directories = [{listed}]")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def connection(
    stack: Stack,
    query: str,
    *,
    fresh: bool = True,
    confined: bool = True,
    fresh_events_where: Callable[[pa.Table], pa.Array] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views ``query`` names (only those are loaded), ``confine``d."""
    wanted = named_views(query)
    con = _duckdb()
    if wanted & {"attempts", "events"}:
        # The watermark first: it is written after every manifest it covers, so the manifests read
        # next hold every attempt recorded before it, and the fresh rows every one recorded since.
        mark = archive.watermark(stack) if fresh else None
        parts = archive.current_parts(stack)
        fresh_rows: dict[str, pa.Table] = {}
        if fresh:
            fresh_rows["attempts"] = archive.fresh_attempts(stack, mark)
            if "events" in wanted:
                candidates = fresh_rows["attempts"]
                if fresh_events_where is not None:
                    candidates = candidates.filter(fresh_events_where(candidates))
                fresh_rows["events"] = archive.fresh_events(stack, candidates)
        fs = archive.filesystem(stack)
        for layout in (curated.ATTEMPTS, curated.EVENTS):
            if layout in wanted:
                register(
                    con,
                    layout,
                    archive.datasets(parts[layout], fs),
                    fresh=fresh_rows.get(layout),
                    watermark=mark,
                    fresh_mode=fresh,
                )
    if "aggregates" in wanted:
        con.register("aggregates", aggregates_frame(stack))
    if "replays" in wanted:
        con.register("replays", replays_frame(stack))
    if confined:
        confine(con)
    return con


def register(
    con: duckdb.DuckDBPyConnection,
    view: str,
    datasets: list,
    *,
    fresh: pa.Table | None = None,
    watermark: str | None = None,
    fresh_mode: bool = False,
) -> None:
    """Create ``view`` over curated ``datasets`` unioned with ``fresh`` rows (``fresh_mode``: the
    rows recorded since ``watermark``, which replace the parts' copies of the same ids; with no
    watermark every row is fresh); an empty view of the layout's columns if none."""
    selects = []
    unique = "attempt_id" if view == curated.ATTEMPTS else "event_id"
    has_fresh = fresh is not None and fresh.num_rows > 0
    if has_fresh:
        con.register(f"_{view}_fresh", fresh)
    for i, dataset in enumerate(datasets):
        con.register(f"_{view}_{i}", dataset)
        if not fresh_mode:
            selects.append(f"SELECT * FROM _{view}_{i}")
        elif watermark is not None:
            selects.append(
                f"SELECT * FROM _{view}_{i}"
                + (f" WHERE {unique} NOT IN (SELECT {unique} FROM _{view}_fresh)" if has_fresh else "")
            )
    if has_fresh:
        selects.append(f"SELECT * FROM _{view}_fresh")
    if not selects:
        columns = (
            curated.ATTEMPT_COLUMNS if view == curated.ATTEMPTS else {**curated.EVENT_COLUMNS, curated.PAYLOAD: "text"}
        )
        con.register(f"_{view}_empty", parquet.table([], {**columns, **{c: "text" for c in curated.PARTITION_COLUMNS}}))
        selects.append(f"SELECT * FROM _{view}_empty")
    con.execute(f"CREATE OR REPLACE VIEW {view} AS " + " UNION ALL BY NAME ".join(selects))


def local_connection(root: str, *, confined: bool = True) -> duckdb.DuckDBPyConnection:
    """DuckDB over a curated layout on a local disk (``root/curated/...``, e.g. a copy of the
    bucket's ``curated/`` prefix, or the benchmark's), read by DuckDB's own Parquet reader; when
    ``confined``, no file outside ``root/curated/`` can be read.

    >>> local_connection("/tmp/archive").sql("SELECT count(*) FROM attempts").fetchall()
    """
    con = _duckdb()
    for layout in (curated.ATTEMPTS, curated.EVENTS):
        pattern = str(Path(root) / curated.PREFIX / layout / "*" / "*" / "*" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE VIEW {layout} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "hive_types_autocast = false, union_by_name = true)"
        )
    if confined:
        confine(con, allowed_directories=(str(Path(root).resolve() / curated.PREFIX) + "/",))
    return con


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # no bar drawn into notebook cells or CLI output
    return con


def aggregates_frame(stack: Stack) -> pd.DataFrame:
    """Every aggregate version (a scan of the aggregates table), typed as ``Kit.aggregates``."""
    items = [
        item
        for page in stack.reader.pages("Scan", {"TableName": stack.resources.aggregates_table_name})
        for item in page
    ]
    frame = from_dynamo(items, AGGREGATE_COLUMNS)
    return frame.astype({"metric": "str", "code_version": "str"})


def replays_frame(stack: Stack) -> pd.DataFrame:
    """Every replay run, lists and maps as JSON text (``request``, ``by_day``, ``sample_event_ids``)."""
    from ..read.tables import replays

    frame = replays(stack)
    for name in ("by_day", "sample_event_ids", "request"):
        frame[name] = frame[name].map(lambda v: None if v is None or v is pd.NA else json.dumps(v, default=str))
    return frame.astype({"status": "str"})


def search(
    stack: Stack,
    *,
    source: str | None = None,
    event_type: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    where: str | None = None,
    limit: int | None = None,
    fresh: bool = True,
    engine: str | None = None,
) -> pd.DataFrame:
    """Events matching ``where`` in scope; see ``Kit.search``."""
    if (start is None) != (end is None) or (start is not None and not utc(start) < utc(end)):
        raise ScopeError("start and end go together, with start < end")
    query = queries_sql.search(source, event_type, start, end, where, limit)

    def in_scope(attempts: pa.Table) -> pa.Array:  # fetch raw objects of fresh events in scope only
        mask = pa.array([True] * attempts.num_rows, pa.bool_())
        for name, value in (("source", source), ("event_type", event_type)):
            if value is not None:
                mask = pc.and_(mask, pc.equal(attempts[name], value))
        if start is not None:
            mask = pc.and_(
                mask, pc.greater_equal(attempts["event_time"], pa.scalar(utc(start), pa.timestamp("us", "UTC")))
            )
            mask = pc.and_(mask, pc.less(attempts["event_time"], pa.scalar(utc(end), pa.timestamp("us", "UTC"))))
        return mask

    try:
        found = sql(stack, query, fresh=fresh, engine=engine, fresh_events_where=in_scope)
    except SqlError as exc:
        if "Referenced column" in str(exc) or "not found" in str(exc):
            raise ScopeError(f"where={where!r} names a column the events have not got: {exc}") from exc
        raise
    first = ["event_id", *curated.PARTITION_COLUMNS, *curated.EVENT_COLUMNS]
    ordered = list(
        dict.fromkeys(
            [c for c in first if c in found] + [c for c in found if c not in (*first, "payload")] + ["payload"]
        )
    )
    return found[[c for c in ordered if c in found]]


# --- Athena -------------------------------------------------------------------------------
def athena(stack: Stack, query: str, *, sleep=time.sleep) -> pd.DataFrame:
    """``query`` on Athena in the stack's workgroup and curated database, as a DataFrame typed by
    Athena's column types."""
    extra = stack.resources.extra
    database, workgroup = extra.get("athena_database"), extra.get("athena_work_group_name")
    if not database or not workgroup:
        raise ScopeError(
            "Athena needs the stack outputs AthenaDatabase and AthenaWorkGroupName "
            "(deploy with EnableAthena=true), or use the duckdb engine "
            '(--engine duckdb; engine="duckdb" in Python)'
        )
    if all(kind == duckdb.token_type.comment for _, kind in duckdb.tokenize(query)):
        raise SqlError("the query holds no SQL statement (only blanks or comments)")
    catalog.check(stack, query, database)  # a column Athena's Glue tables lack: refused before it costs a query
    client = stack.client("athena")
    started = client.start_query_execution(**athena_request(query, database, workgroup))
    execution_id, wait = started["QueryExecutionId"], ATHENA_POLL_S[0]
    while True:
        status = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        sleep(wait)  # polling a remote query, not synchronising threads
        wait = min(wait * 2, ATHENA_POLL_S[1])
    if status["State"] != "SUCCEEDED":
        raise SqlError(f"athena {status['State']}: {status.get('StateChangeReason', '')}")
    pages = client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
    return athena_frame(list(pages))


def athena_request(query: str, database: str, workgroup: str) -> dict:
    """The ``StartQueryExecution`` request (results go where the workgroup says)."""
    return {"QueryString": query, "QueryExecutionContext": {"Database": database}, "WorkGroup": workgroup}


_ATHENA_TYPES = {
    "bigint": "int64",
    "integer": "int64",
    "smallint": "int64",
    "tinyint": "int64",
    "double": "float64",
    "float": "float64",
    "real": "float64",
    "decimal": "float64",
    "boolean": "bool",
}


def athena_frame(pages: list[dict]) -> pd.DataFrame:
    """``GetQueryResults`` pages to a typed frame (the first row of the first page is the header)."""
    if not pages:
        return pd.DataFrame()
    info = pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    rows = [[cell.get("VarCharValue") for cell in row["Data"]] for page in pages for row in page["ResultSet"]["Rows"]]
    frame = pd.DataFrame(rows[1:], columns=[column["Name"] for column in info])
    for column in info:
        name, kind = column["Name"], column["Type"].lower()
        if kind.startswith("timestamp"):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
        elif kind == "boolean":
            frame[name] = frame[name].map({"true": True, "false": False})
        elif kind.split("(")[0] in _ATHENA_TYPES:
            frame[name] = pd.to_numeric(frame[name]).astype(_ATHENA_TYPES[kind.split("(")[0]])
    return frame
