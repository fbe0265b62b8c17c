"""The Athena path of kit.sql against moto's Athena and Glue: the template's Glue tables and workgroup
are creatable, the request kit.sql sends names them, and the answer is typed. (moto runs no SQL:
the SQL itself is tested on DuckDB, tests/nb/test_sql_analyses.py.)"""

from __future__ import annotations

import re
from types import SimpleNamespace

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

import pik_nb
from pik.core import curated
from pik_local import template
from pik_nb.sql import analyses as sql_analyses
from pik_nb.sql import engine as sql
from pik_nb.sql import queries as queries_sql
from tests.support.aws import REGION

DATABASE, WORKGROUP = "pik_test", "pik-test"


def resolved(value, names: dict[str, str]):
    """A template fragment with ``!Sub``/``!Ref`` of ``names`` resolved (``${!x}`` stays ``${x}``)."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = re.sub(r"\$\{(\w+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        return text.replace("${!", "${")
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names[value["Ref"]]
    if isinstance(value, dict):
        return {k: resolved(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, names) for v in value]
    return value


@pytest.fixture
def athena_stack(stack):
    tpl = template.load()["Resources"]
    names = {
        "RawBucket": stack.outputs["raw_bucket_name"],
        "RawDatabase": DATABASE,
        "AthenaResultsBucket": "pik-test-athena-results",
        "AWS::AccountId": DEFAULT_ACCOUNT_ID,
        "AWS::StackName": "test",
        "AthenaBytesScannedCutoff": 10 * 2**30,
    }
    boto3.client("s3").create_bucket(Bucket=names["AthenaResultsBucket"])
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for logical in ("RawEventsTable", "CuratedAttemptsTable", "CuratedEventsTable"):
        glue.create_table(DatabaseName=DATABASE, TableInput=resolved(tpl[logical]["Properties"]["TableInput"], names))
    group = resolved(tpl["AthenaWorkGroup"]["Properties"], names)
    boto3.client("athena").create_work_group(
        Name=WORKGROUP, Configuration=group["WorkGroupConfiguration"], Description=group["Description"]
    )
    stack.names.update(
        RawDatabase=DATABASE,
        AthenaWorkGroup=WORKGROUP,  # for the IAM gate
        AthenaResultsBucket=names["AthenaResultsBucket"],
    )
    kit = pik_nb.connect(
        session=boto3.session.Session(region_name=REGION),
        **stack.outputs,
        athena_database=DATABASE,
        athena_work_group_name=WORKGROUP,
    )
    return kit


def queue_answer(rows: list[list[str]], columns: list[tuple[str, str]]) -> None:
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    data = [{"Data": [{"VarCharValue": v} for v in row]} for row in rows]
    info = [{"Name": name, "Type": kind} for name, kind in columns]
    athena_backends[DEFAULT_ACCOUNT_ID][REGION].query_results_queue.append(QueryResults([header, *data], info))


def test_the_glue_tables_are_the_curated_layout(athena_stack):
    glue = boto3.client("glue")
    attempts = glue.get_table(DatabaseName=DATABASE, Name="attempts")["Table"]
    bucket = athena_stack.resources.raw_bucket_name
    assert attempts["StorageDescriptor"]["Location"] == f"s3://{bucket}/curated/attempts/"
    assert [c["Name"] for c in attempts["PartitionKeys"]] == list(curated.PARTITION_COLUMNS)
    group = boto3.client("athena").get_work_group(WorkGroup=WORKGROUP)["WorkGroup"]["Configuration"]
    assert group["BytesScannedCutoffPerQuery"] == 10 * 2**30 and group["EnforceWorkGroupConfiguration"] is True
    assert group["ResultConfiguration"]["OutputLocation"] == "s3://pik-test-athena-results/results/"


def test_kit_sql_sends_the_query_to_the_workgroup_and_types_the_answer(athena_stack):
    assert sql.engine_of(athena_stack.stack, None) == "athena"
    where = "CAST(json_extract_scalar(payload, '$.amount') AS double) > 100"  # no payload columns on Athena
    query = queries_sql.search("checkout", "order_placed", "2026-11-20", "2026-11-21", where)
    queue_answer(
        [["e1", "2026-11-20 10:00:00.000", "150", "true"]],
        [("event_id", "varchar"), ("event_time", "timestamp(3)"), ("ingest_lag_ms", "bigint"), ("ok", "boolean")],
    )
    waits: list[float] = []
    frame = sql.athena(athena_stack.stack, query, sleep=waits.append)
    assert frame.to_dict("records")[0]["event_id"] == "e1" and frame["ingest_lag_ms"].tolist() == [150]
    assert str(frame["event_time"].dtype) == "datetime64[us, UTC]" and frame["ok"].tolist() == [True]
    [execution_id] = boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    sent = boto3.client("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert sent["Query"] == query and sent["WorkGroup"] == WORKGROUP
    assert sent["QueryExecutionContext"]["Database"] == DATABASE and sent["Status"]["State"] == "SUCCEEDED"
    assert "source = 'checkout'" in query and "event_date >= '2026-11-20'" in query  # partition pruning on Athena too


def test_the_analyses_run_on_athena_with_its_dialect(athena_stack):
    queue_answer(
        [["c-1", "checkout", "order_placed", "20412", "1", "2"]],
        [
            ("entity_id", "varchar"),
            ("source", "varchar"),
            ("event_type", "varchar"),
            ("day", "bigint"),
            ("cadence", "bigint"),
            ("repeats", "bigint"),
        ],
    )
    gaps = sql_analyses.gaps_daily(lambda q: athena_stack.sql(q, engine="athena"), dialect="athena")
    assert gaps[["entity_id", "source", "event_type", "gap_class", "repeats"]].values.tolist() == [
        ["c-1", "checkout", "order_placed", "only_duplicates", 2]
    ]
    assert f"{gaps['window'][0]:%Y-%m-%d}" == "2025-11-20"  # day 20412 since 1970-01-01
    ids = boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    sent = boto3.client("athena").get_query_execution(QueryExecutionId=ids[0])["QueryExecution"]["Query"]
    assert "UNNEST(sequence(0," in sent and "generate_series" not in sent


def test_a_failed_athena_query_is_a_clear_error(athena_stack, monkeypatch):
    from moto.athena import models

    monkeypatch.setattr(models.Execution, "advance", lambda self: setattr(self, "status", "FAILED"))
    with pytest.raises(pik_nb.SqlError, match="athena FAILED"):
        athena_stack.sql("SELECT 1", engine="athena")


def test_compaction_registers_every_partition_it_writes_so_athena_answers_across_streams(athena_stack, monkeypatch):
    from pik.handlers import compact, ingest
    from tests.support.events import make_event
    from tests.support.lambdas import LambdaContext, call

    monkeypatch.setenv("CURATED_DATABASE", DATABASE)
    for source in ("checkout", "billing"):
        status, _ = call(ingest, "/ingest", make_event(source=source, event_type="order_placed", payload={"n": 1}))
        assert status == 200
    context = LambdaContext(900_000)  # the function's timeout: its lease needs a minute left to switch
    first = compact.handler({"source": "aws.events"}, context)
    again = compact.handler({"source": "aws.events"}, context)  # registered already: fine
    assert (first["written"], again["written"]) == (2, 0)
    glue, bucket = boto3.client("glue"), athena_stack.resources.raw_bucket_name
    for layout in curated.LAYOUTS:
        found = glue.get_partitions(DatabaseName=DATABASE, TableName=layout)["Partitions"]
        assert sorted(p["Values"][:2] for p in found) == [["billing", "order_placed"], ["checkout", "order_placed"]]
        for partition in found:
            descriptor = partition["StorageDescriptor"]
            assert descriptor["Location"] == f"s3://{bucket}/" + curated.partition_prefix(
                layout, curated.Partition(*partition["Values"])
            )
            assert "ParquetHiveSerDe" in descriptor["SerdeInfo"]["SerializationLibrary"]
    table = glue.get_table(DatabaseName=DATABASE, Name="events")["Table"]
    assert not [k for k in table["Parameters"] if k.startswith("projection.")]  # no injected column to satisfy


def test_a_query_naming_replays_or_aggregates_runs_on_duckdb_on_an_athena_stack(athena_stack):
    """Athena's catalog has attempts and events only; replays and aggregates are DynamoDB tables, so
    kit.sql reads them itself (docs/pik_nb.md's ``kit.sql("SELECT replay_id, matched, sent FROM replays")``)."""
    from pik.handlers import replay
    from tests.support.lambdas import call

    status, run = call(
        replay,
        "/replay",
        {"entity_id": "c-1", "start_time": "2026-11-20T00:00:00Z", "end_time": "2026-11-21T00:00:00Z"},
    )
    assert status == 200, run
    runs = athena_stack.sql("SELECT replay_id, matched, sent FROM replays")
    assert runs.to_dict("records") == [{"replay_id": run["replay_id"], "matched": 0, "sent": 0}]
    assert athena_stack.sql_engine == "athena"  # the stack's engine stays Athena for the archive's views
    assert boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == []
    with pytest.raises(pik_nb.SqlError, match=r"^Athena has no view replays \(its tables are attempts, events\)"):
        athena_stack.sql("SELECT count(*) FROM replays", engine="athena")


def test_a_dashboard_sum_on_athena_reads_the_field_from_the_payload(athena_stack, monkeypatch):
    """Athena's events table declares no payload columns (docs/scale.md): kit.explain_dashboard's SQL asks
    the payload JSON there, in the query it sends to the workgroup."""
    from pik_nb.investigate import dashboard_load
    from pik_nb.sql import dialect

    archives = []

    def capture(stack, values, archive, **_):
        archives.append(archive)  # the questions the kit would ask, in the dialect it chose
        return SimpleNamespace(table=pd.DataFrame())

    monkeypatch.setattr(dashboard_load, "explain_dashboard", capture)
    values = pd.DataFrame({"window": pd.to_datetime(["2026-11-20"], utc=True), "value": [1.0]})
    athena_stack.explain_dashboard(values, source="checkout", event_type="order_placed", metric="sum", field="amount")
    athena_stack.explain_dashboard(values, source="checkout", event_type="order_placed", engine="duckdb")
    assert [a.dialect for a in archives] == [dialect.ATHENA, dialect.DUCKDB]
    queue_answer(
        [["accepted", "c-1", "2026-11-20 00:00:00.000", "2026-11-20 00:00:00.000", "-1", "2", "250.0"]],
        [
            ("kind", "varchar"),
            ("entity_id", "varchar"),
            ("win", "timestamp(3)"),
            ("arrival_win", "timestamp(3)"),
            ("delay", "bigint"),
            ("n", "bigint"),
            ("total", "double"),
        ],
    )
    cells = archives[0].cells(pd.Timestamp("2026-11-20", tz="UTC"), pd.Timestamp("2026-11-21", tz="UTC"))
    assert cells[["kind", "entity_id", "delay", "n", "total"]].values.tolist() == [["accepted", "c-1", -1, 2, 250.0]]
    [execution_id] = boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    sent = boto3.client("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert "SELECT event_id, json_extract_scalar(payload, '$.amount') AS v FROM events" in sent


#: Athena's Parquet reader takes a column as its table's type only from these Parquet types (Athena, "Data
#: types in Amazon Athena" and the Hive Parquet SerDe's type mapping); anything else is HIVE_BAD_DATA.
ATHENA_READS = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "bigint": pa.types.is_int64,
    "double": pa.types.is_float64,
    "boolean": pa.types.is_boolean,
    "timestamp": lambda t: pa.types.is_timestamp(t) and t.unit in ("ms", "us"),
}


def test_every_part_holds_each_glue_column_as_a_type_athena_reads_it_as(athena_stack):
    """Athena reads a Parquet column by name as the type its Glue table declares: every part of both
    layouts holds every declared column with a matching Parquet type (strings, int64, float64, timestamps
    in ms/us), the payload columns of a mixed stream included, so no row is unreadable there."""
    from pik.handlers import compact, ingest
    from tests.support.events import make_event
    from tests.support.lambdas import LambdaContext, call

    for payload in ({"amount": 1, "vip": True}, {"amount": 2.5, "vip": "yes", "deep": {"n": 2**70}}):
        status, _ = call(ingest, "/ingest", make_event(payload=payload))
        assert status == 200
    assert compact.handler({"source": "aws.events"}, LambdaContext(900_000))["written"] == 1
    tpl, s3, bucket = template.load()["Resources"], boto3.client("s3"), athena_stack.resources.raw_bucket_name
    checked = 0
    for logical, layout in (("CuratedAttemptsTable", curated.ATTEMPTS), ("CuratedEventsTable", curated.EVENTS)):
        declared = tpl[logical]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"curated/{layout}/")
        for key in [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            schema = pq.read_schema(pa.BufferReader(body))
            for column in declared:
                field = schema.field(column["Name"])  # KeyError: a declared column the part lacks
                assert ATHENA_READS[column["Type"]](field.type), (key, column, field.type)
            checked += 1
    assert checked == 2  # one part per layout for the one partition


#: The Glue events table's columns as the template declares them, then its partition keys.
EVENTS_COLUMNS = (
    "event_id, entity_id, event_time, ingest_time, ingest_lag_ms, s3_key, payload_sha256, idempotency_key, "
    "payload, source, event_type, event_date"
)


def refusal(column: str) -> str:
    return (
        f"Athena's events table has no column {column} (its columns: {EVENTS_COLUMNS}): a payload field is a "
        f"column there only once added, ALTER TABLE events ADD COLUMNS ({column} <type>) with the type its "
        f"streams hold (docs/scale.md), or read it from the payload: json_extract_scalar(payload, '$.{column}') "
        "(text: CAST(... AS double) to compare numbers)"
    )


def executions() -> list[str]:
    return boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]


def glue_reads(kit) -> list[str]:
    """The tables the kit's own Glue client asks GetTable for, from now on (botocore's event hook)."""
    read: list[str] = []
    kit.stack.client("glue").meta.events.register(
        "provide-client-params.glue.GetTable", lambda params, **_: read.append(params["Name"])
    )
    return read


def test_a_payload_field_the_glue_table_lacks_is_refused_before_any_athena_query(athena_stack):
    """DuckDB's events view has the payload fields as columns, Athena's Glue table does not: kit.search's
    ``where`` and kit.sql naming one are refused, naming the column, the table and both remedies, and no
    query is started (Athena would answer COLUMN_NOT_FOUND after it was)."""
    read = glue_reads(athena_stack)
    with pytest.raises(pik_nb.SqlError) as refused:
        athena_stack.search(source="checkout", event_type="order_placed", where="amount > 100")
    assert str(refused.value) == refusal("amount")
    with pytest.raises(pik_nb.SqlError) as refused:
        athena_stack.sql("SELECT event_id FROM events WHERE country = 'DE' AND ingest_lag_ms > 0")
    assert str(refused.value) == refusal("country")
    with pytest.raises(pik_nb.SqlError) as refused:
        athena_stack.sql("SELECT a.status FROM attempts a JOIN events e ON e.event_id = a.event_id WHERE a.amount > 1")
    assert str(refused.value).startswith("Athena's attempts table has no column amount (its columns: event_id, ")
    assert "ALTER TABLE" not in str(refused.value)  # attempts holds no payload to read it from
    assert executions() == []
    # a table is read on first use, and again before each refusal of a column it lacks (just added, maybe)
    assert read == ["events", "events", "events", "attempts", "attempts"]


def test_a_column_added_to_the_glue_table_is_sent_from_the_same_kit(athena_stack):
    """After ``ALTER TABLE events ADD COLUMNS (amount double)`` (here Glue's UpdateTable, as Athena's DDL
    does) the same kit sends the query as written: the refusal re-reads the table, no new kit needed."""
    with pytest.raises(pik_nb.SqlError, match="no column amount"):
        athena_stack.search(source="checkout", event_type="order_placed", where="amount > 100")
    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName=DATABASE, Name="events")["Table"]
    descriptor = {
        **table["StorageDescriptor"],
        "Columns": [*table["StorageDescriptor"]["Columns"], {"Name": "amount", "Type": "double"}],
    }
    keep = ("Name", "TableType", "Parameters", "PartitionKeys")
    glue.update_table(
        DatabaseName=DATABASE, TableInput={**{k: table[k] for k in keep}, "StorageDescriptor": descriptor}
    )
    read = glue_reads(athena_stack)
    queue_answer([["e1", "150.0"]], [("event_id", "varchar"), ("amount", "double")])
    hits = athena_stack.search(source="checkout", event_type="order_placed", where="amount > 100")
    assert hits.to_dict("records") == [{"event_id": "e1", "amount": 150.0}]
    [execution_id] = executions()
    sent = boto3.client("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert sent == queries_sql.search("checkout", "order_placed", None, None, "amount > 100")
    assert read == ["events"]  # re-read once (the copy lacked amount), then sent
    with pytest.raises(pik_nb.SqlError, match="no column country"):  # a field still not added: refused as before
        athena_stack.search(source="checkout", event_type="order_placed", where="amount > 100 AND country = 'DE'")
    assert len(executions()) == 1


def test_the_catalog_is_read_once_per_kit_for_queries_that_resolve(athena_stack):
    """pik's own queries name only what the Glue tables declare: they are sent, and the kit reads each
    table's columns once, however many queries follow."""
    read = glue_reads(athena_stack)
    for _ in range(2):
        queue_answer([["checkout", "3"]], [("source", "varchar"), ("n", "bigint")])
        answer = athena_stack.sql("SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY n DESC")
        assert answer.to_dict("records") == [{"source": "checkout", "n": 3}]
    assert read == ["events"] and len(executions()) == 2
    from pik.aws.glue import GlueCatalog

    glue = GlueCatalog(DATABASE, client=boto3.client("glue"))
    assert glue.columns("replays") is None  # no such Glue table (EntityNotFoundException): Athena answers for it
    assert list(glue.columns("attempts"))[-3:] == list(curated.PARTITION_COLUMNS)  # partition keys count too
