"""template.yaml's archive resources agree with pik.core.curated: Glue columns and partitions, the
compaction function's schedule, layer, concurrency and least privilege, the Athena workgroup's cap."""

from __future__ import annotations

import pytest

from pik.core import curated
from pik_local import template

GLUE_TYPE = {"text": "string", "label": "string", "time": "timestamp", "int": "bigint", "float": "double"}


@pytest.fixture(scope="module")
def resources() -> dict:
    return template.load()["Resources"]


def _columns(table: dict) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]}


@pytest.mark.parametrize(
    "logical,layout,columns",
    [
        ("CuratedAttemptsTable", curated.ATTEMPTS, curated.ATTEMPT_COLUMNS),
        ("CuratedEventsTable", curated.EVENTS, {**curated.EVENT_COLUMNS, curated.PAYLOAD: "text"}),
    ],
)
def test_the_glue_tables_are_the_curated_layout(resources, logical, layout, columns):
    table = resources[logical]
    assert table["Condition"] == "AthenaEnabled"
    assert _columns(table) == {name: GLUE_TYPE[kind] for name, kind in columns.items()}
    spec = table["Properties"]["TableInput"]
    assert [k["Name"] for k in spec["PartitionKeys"]] == list(curated.PARTITION_COLUMNS)
    params = spec["Parameters"]
    assert params == {"classification": "parquet"}  # no projection: partitions are registered (ADR 0306)
    assert spec["StorageDescriptor"]["Location"] == {"Fn::Sub": f"s3://${{RawBucket}}/{curated.PREFIX}/{layout}/"}
    assert "ParquetHiveSerDe" in spec["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]


def test_the_raw_table_projects_the_days_the_contract_accepts_ahead():
    from pik.core.contract import Limits

    params = template.load()["Resources"]["RawEventsTable"]["Properties"]["TableInput"]["Parameters"]
    assert Limits().max_clock_skew.days == 1
    assert params["projection.event_date.range"] == "2000-01-01,NOW+1DAYS"
    assert params["projection.event_date.interval.unit"] == "DAYS"


def _statements(resources: dict) -> list[dict]:
    """The compaction policy's statements with ``!If [AthenaEnabled, ...]`` taken as true."""
    statements = resources["CompactionFunction"]["Properties"]["Policies"][0]["Statement"]
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]


def test_compaction_registers_partitions_in_this_stacks_curated_tables_only(resources):
    props = resources["CompactionFunction"]["Properties"]
    assert props["Environment"]["Variables"]["CURATED_DATABASE"] == {
        "Fn::If": ["AthenaEnabled", {"Ref": "RawDatabase"}, ""]
    }
    [glue] = [s for s in _statements(resources) if any(a.startswith("glue:") for a in s["Action"])]
    assert glue["Action"] == ["glue:GetTable", "glue:BatchCreatePartition"]
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in glue["Resource"]] == [
        "catalog",
        "database/${RawDatabase}",
        "table/${RawDatabase}/attempts",
        "table/${RawDatabase}/events",
    ]


def test_compaction_runs_on_a_parameterised_schedule_with_pyarrow_from_the_managed_layer(resources):
    function = resources["CompactionFunction"]
    props = function["Properties"]
    assert function["Condition"] == "CompactionEnabled" and props["Handler"] == "pik.handlers.compact.handler"
    # One run at a time is the lease's job (pik.services.compact), not a reservation: Lambda lets an
    # account reserve only down to 100 unreserved executions, so a new account (limit 10) cannot.
    assert props.get("ReservedConcurrentExecutions") != 1 and props["Timeout"] <= 900
    schedule = props["Events"]["Schedule"]
    assert schedule["Type"] == "Schedule" and schedule["Properties"]["Schedule"] == {"Ref": "CompactionSchedule"}
    assert "/aws/service/aws-sdk-pandas/${PandasLayerSdkVersion}/py3.12/arm64/layer-arn" in str(props["Layers"])
    others = [
        name
        for name, r in template.of_type(template.load(), "AWS::Serverless::Function").items()
        if "Layers" in r["Properties"] and name != "CompactionFunction"
    ]
    assert others == []  # pyarrow is the compaction function's alone


def test_compaction_may_write_and_delete_only_under_curated(resources):
    statements = _statements(resources)
    writes = [s for s in statements if {"s3:PutObject", "s3:DeleteObject"} & set(s["Action"])]
    assert [s["Resource"] for s in writes] == [{"Fn::Sub": "${RawBucket.Arn}/curated/*"}]
    raw = [s for s in statements if s["Resource"] == {"Fn::Sub": "${RawBucket.Arn}/raw/*"}]
    assert [s["Action"] for s in raw] == [["s3:GetObject"]]  # raw/ is read, never rewritten
    assert not [a for s in statements for a in s["Action"] if a.endswith("*")]


def test_missing_keys_answer_404_to_the_compaction_role(resources):
    """S3: "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403"
    for a missing key (GetObject API reference, Permissions). A ``s3:prefix`` condition never matches
    a GetObject, so only an unconditioned ListBucket on the bucket turns the first run's 403s into 404s."""
    statements = _statements(resources)
    [listing] = [s for s in statements if "s3:ListBucket" in s["Action"]]
    assert listing["Action"] == ["s3:ListBucket"] and listing["Resource"] == {"Fn::GetAtt": ["RawBucket", "Arn"]}
    assert "Condition" not in listing


def test_the_compaction_role_reads_the_recorded_index_and_writes_only_its_lease(resources):
    statements = _statements(resources)
    queries = [r["Fn::Sub"] for s in statements if s["Action"] == ["dynamodb:Query"] for r in s["Resource"]]
    assert "${EventsTable.Arn}/index/by_recorded" in queries
    writes = [s for s in statements if {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(s["Action"])]
    assert [s["Sid"] for s in writes] == ["CompactionLease"]
    from pik.core import keys

    assert writes[0]["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [keys.LEASE_PK]}}


def test_the_athena_workgroup_caps_bytes_and_owns_its_results(resources):
    config = resources["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${AthenaResultsBucket}/results/"}
    bucket = resources["AthenaResultsBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    policy = resources["AthenaResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Sid"] == "TlsOnly" and policy["Effect"] == "Deny"


def test_the_athena_investigator_policy_names_only_this_stacks_resources(resources):
    statements = resources["AthenaInvestigatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Sid"] for s in statements} == {"QueryInThisWorkGroup", "ReadTheArchiveCatalog", "QueryResults"}
    for statement in statements:
        for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
            text = str(resource)
            assert (
                "AthenaWorkGroup" in text
                or "RawDatabase" in text
                or "AthenaResultsBucket" in text
                or text.endswith(":catalog'}")
            ), text
