"""The archive against the real local stack: compaction, kit.sql on DuckDB (fresh rows included),
kit.search, and the CLI skins. pyarrow's S3 filesystem reads the moto server over HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from click.testing import CliRunner

import pik_nb
from pik.core import contract, records
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_cli import cli
from pik_nb import schemas
from tests.support.events import make_event
from tests.support.frames import conforms, refused
from tests.support.kit import local_kit

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
COUNTRIES = ["DE", "FR", "DE", "IT", "DE", "FR"]


def event(i: int, **payload) -> dict:
    return make_event(
        entity_id=f"c-{i % 3}",
        event_time=(DAY + timedelta(hours=i * 7)).isoformat(),
        payload={"amount": 100 * i, "country": COUNTRIES[i % 6], "lines": [i], **payload},
    )


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    with local_kit(folder) as kit:
        bodies = [event(i) for i in range(12)]  # 12 events over 4 days (two partitions per day boundary)
        answers = [a.body for a in ingest_events(kit.resources.api_url, bodies, workers=1, progress=False)]
        ingest_events(kit.resources.api_url, bodies[:2], workers=1, progress=False)  # two duplicates
        yield kit, folder / "local.json", answers


def curated_objects(kit) -> dict[str, str]:
    s3 = kit.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=kit.resources.raw_bucket_name, Prefix="curated/")
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def counts(kit, **options) -> list[tuple]:
    frame = kit.sql("SELECT status, count(*) AS n FROM attempts GROUP BY status ORDER BY status", **options)
    return list(frame.itertuples(index=False, name=None))


def test_sql_sees_everything_before_during_and_after_compaction_and_a_rerun_changes_nothing(local):
    kit, _, answers = local
    assert counts(kit) == [("ACCEPTED", 12), ("DUPLICATE", 2)]  # nothing compacted yet: all fresh
    result = kit.compact(settle="0s")
    days = {a["s3_key"].split("event_date=")[1][:10] for a in answers}
    assert (result["partitions"], result["written"], result["attempts"], result["events"]) == (
        len(days),
        len(days),
        14,
        12,
    )
    assert counts(kit) == [("ACCEPTED", 12), ("DUPLICATE", 2)]
    assert counts(kit, fresh=False) == [("ACCEPTED", 12), ("DUPLICATE", 2)]  # all of it is in the parts now
    before = curated_objects(kit)
    assert len([k for k in before if k.endswith(".parquet")]) == 2 * len(days)
    again = kit.compact(everything=True)
    assert (again["written"], again["unchanged"]) == (0, len(days))
    assert curated_objects(kit) == before  # same keys, same ETags


def test_a_late_event_is_fresh_at_once_and_compacted_once(local):
    kit, _, answers = local
    kit.compact(settle="0s")
    late = ingest_events(kit.resources.api_url, [event(11, amount=99_999, country="DE")], workers=1, progress=False)[
        0
    ].body  # a compacted day (event 11's), new payload: a new event
    assert counts(kit) == [("ACCEPTED", 13), ("DUPLICATE", 2)]  # from metadata, past the watermark
    assert counts(kit, fresh=False) == [("ACCEPTED", 12), ("DUPLICATE", 2)]
    hits = kit.search(
        source="checkout", event_type="order_placed", start=DAY, end=DAY + timedelta(days=4), where="amount > 50000"
    )
    assert list(hits["event_id"]) == [late["event_id"]] and list(hits["s3_key"]) == [late["s3_key"]]
    result = kit.compact(settle="0s")
    assert result["written"] == 1
    assert counts(kit) == [("ACCEPTED", 13), ("DUPLICATE", 2)]
    assert counts(kit, fresh=False) == [("ACCEPTED", 13), ("DUPLICATE", 2)]
    ids = kit.sql("SELECT event_id FROM events")["event_id"]
    assert len(ids) == ids.nunique() == 13


def test_search_finds_payload_matches_with_their_raw_keys_and_types(local):
    kit, _, answers = local
    hits = kit.search(
        source="checkout",
        event_type="order_placed",
        start=DAY,
        end=DAY + timedelta(days=4),
        where="amount >= 300 AND amount < 1000 AND country = 'DE'",
    )
    expected = [i for i in range(3, 10) if COUNTRIES[i % 6] == "DE"]
    assert list(hits["amount"]) == [100 * i for i in expected]
    assert list(hits["event_id"]) == [answers[i]["event_id"] for i in expected]
    assert list(hits["s3_key"]) == [answers[i]["s3_key"] for i in expected]
    assert str(hits["event_time"].dtype) == "datetime64[us, UTC]" and str(hits["amount"].dtype) == "int64"
    assert list(hits.columns[:4]) == ["event_id", "source", "event_type", "event_date"]
    one_day = kit.search(source="checkout", event_type="order_placed", start=DAY, end=DAY + timedelta(days=1))
    assert len(one_day) == 4  # events 0..3 fall on the first day (every 7 hours)
    with pytest.raises(pik_nb.ScopeError, match="where='colour = 1' names a column"):
        kit.search(
            source="checkout", event_type="order_placed", start=DAY, end=DAY + timedelta(days=1), where="colour = 1"
        )


def test_search_and_sql_frames_have_their_schemas(local):
    kit, _, _ = local
    hits = kit.search(source="checkout", event_type="order_placed", where="amount > 100")
    table = conforms(hits, "search", ordered=False)
    fixed = [f.name for f in schemas.SEARCH]
    assert list(hits.columns[: len(fixed) - 1]) == fixed[:-1] and hits.columns[-1] == "payload"
    assert list(hits.columns[len(fixed) - 1 : -1]) == ["amount", "country"]  # the stream's payload columns, between
    assert len(hits) == table.num_rows >= 10 and hits["idempotency_key"].isna().all()
    assert refused(hits, "event_time") == "not a search frame: event_time has 1 null (the schema says never)"
    query = "SELECT status, count(*) AS n FROM attempts GROUP BY status ORDER BY status"
    counted = kit.sql(query)
    assert conforms(counted, "sql").num_columns == 0  # no fixed columns: the query's own
    assert counted.attrs["pik"]["scope"] == {"query": query} and list(counted.columns) == ["status", "n"]


def test_json_payload_and_the_other_views(local):
    kit, _, _ = local
    nested = kit.sql("SELECT count(*) AS n FROM events WHERE json_extract_string(payload, '$.country') = 'IT'")
    assert nested["n"].tolist() == [2]
    run = kit.replay(entity_id="c-1", start=DAY, end=DAY + timedelta(days=4))
    replays = kit.sql("SELECT replay_id, matched, dry_run FROM replays")
    assert list(replays.itertuples(index=False, name=None)) == [(run["replay_id"], run["matched"], True)]
    assert kit.sql("SELECT count(*) AS n FROM aggregates")["n"].tolist() == [0]


def test_the_cli_compacts_and_searches(local):
    kit, info_file, answers = local
    runner, where = CliRunner(), ["--local-file", str(info_file)]
    compacted = runner.invoke(cli, ["compact", *where])
    assert compacted.exit_code == 0, compacted.output
    assert re.fullmatch(
        r"\d+ partitions?: \d+ written, \d+ unchanged; [\d,]+ attempts?, [\d,]+ events?; watermark \S+\n",
        compacted.output,
    ), compacted.output  # no "partition(s)" (issue 21, finding 8)
    shown = runner.invoke(
        cli, ["sql", "SELECT 90000 AS lag_ms, 0.25 AS late_share, 57.0 AS n, 'web' AS source", *where]
    )
    assert shown.exit_code == 0 and [line.split() for line in shown.output.splitlines()] == [
        ["lag", "late_share", "n", "source"],
        ["1", "min", "30", "s", "25.0%", "57", "web"],
    ], shown.output
    found = runner.invoke(
        cli,
        [
            "search",
            "--source",
            "checkout",
            "--event-type",
            "order_placed",
            "--start",
            DAY.date().isoformat(),
            "--end",
            (DAY + timedelta(days=4)).date().isoformat(),
            "--where",
            "country = 'IT'",
            "--format",
            "ids",
            *where,
        ],
    )
    assert found.exit_code == 0, found.output
    assert found.output.split() == [answers[3]["event_id"], answers[9]["event_id"]]
    half = runner.invoke(cli, ["compact", "--source", "checkout", *where])
    assert half.exit_code == 2 and "--source, --event-type, --start and --end together" in half.output


def test_sql_answers_arrow_without_pandas_and_frames_carry_the_query(local):
    kit, _, answers = local
    query = "SELECT event_id, amount, country FROM events ORDER BY amount"
    table = kit.sql(query, arrow=True)
    frame = kit.sql(query)
    accepted = kit.sql("SELECT count(DISTINCT event_id) AS n FROM attempts WHERE status = 'ACCEPTED'")["n"][0]
    # every answer and the late one
    assert isinstance(table, pa.Table) and table.num_rows == len(frame) == accepted == len(answers) + 1
    assert table.num_rows == frame["event_id"].nunique() and {a["event_id"] for a in answers} <= set(frame["event_id"])
    assert table.column("event_id").to_pylist() == frame["event_id"].tolist()
    assert table.schema.field("amount").type == pa.int64()
    assert frame.attrs["pik"]["kind"] == "sql" and frame.attrs["pik"]["scope"] == {"query": query}


def test_a_retry_completing_a_crashed_request_is_in_sql_before_and_after_the_next_compaction(local):
    """Issue 18 #1 end to end, through kit.sql's union: a request stored its raw bytes two hours ago
    (before the watermark) and crashed before its transaction; the client's retry now records it as
    the ACCEPTED attempt at its old arrival. Every count has it, fresh or compacted, exactly once."""
    kit, _, _ = local
    kit.compact(settle="0s")
    before = dict(counts(kit))
    arrived = datetime.now(UTC) - timedelta(hours=2)
    body = event(5, note="crashed")  # a new event (new payload), on a compacted day
    valid = contract.validate(json.dumps(body).encode(), now=arrived)
    document = records.raw_document(valid, records.Attempt(arrived, "crashed-request"))
    kit.client("s3").put_object(
        Bucket=kit.resources.raw_bucket_name, Key=valid.raw_key, Body=json.dumps(document).encode()
    )
    [retry] = ingest_events(kit.resources.api_url, [body], workers=1, progress=False)
    assert retry.body["status"] == "DUPLICATE"  # the crashed request is the ACCEPTED one
    expected = [("ACCEPTED", before["ACCEPTED"] + 1), ("DUPLICATE", before["DUPLICATE"] + 1)]
    assert counts(kit) == expected  # the crashed attempt arrived before the watermark, recorded after
    assert kit.compact(settle="0s")["written"] == 1
    assert counts(kit, fresh=False) == expected and counts(kit) == expected
    ids = kit.sql("SELECT event_id FROM events")["event_id"]
    assert len(ids) == ids.nunique() == expected[0][1]


def test_the_cli_refuses_a_negative_settle(local):
    kit, info_file, _ = local
    before = curated_objects(kit)
    refused = CliRunner().invoke(cli, ["compact", "--settle=-120s", "--local-file", str(info_file)])
    assert refused.exit_code == 1 and "settle='-120s': must be zero or more" in refused.output, refused.output
    assert curated_objects(kit) == before


REFUSED = [  # {leak}: a path under the test's tmp_path, checked afterwards
    "COPY (SELECT * FROM events) TO '{leak}.csv'",
    "ATTACH '{leak}.db'",
    "CREATE TABLE leak AS SELECT * FROM events",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/*')",
    "SET enable_external_access = true",
    "PRAGMA version",
    "SELECT count(*) FROM events; SELECT 1",
    "INSTALL httpfs",
]


@pytest.mark.parametrize("query", REFUSED)
def test_sql_is_read_only_and_confined_by_default(local, query, tmp_path):
    kit, _, _ = local
    with pytest.raises(pik_nb.SqlError) as refused:
        kit.sql(query.format(leak=tmp_path / "pik-leak"))
    assert any(
        words in str(refused.value)
        for words in ("read-only", "one SQL statement at a time", "disabled by config", "Permission Error")
    ), refused.value
    assert sorted(tmp_path.iterdir()) == []  # no file where the query would have written one


def test_a_table_that_is_not_a_view_is_named_with_the_views_there_are(local):
    """Issue 21: at 3 a.m., DuckDB's 'Did you mean "pg_sequences"?' sends a reader the wrong way."""
    kit, _, _ = local
    views = "(the views are attempts, events, aggregates, replays)"
    with pytest.raises(pik_nb.SqlError) as refused:
        kit.sql("SELECT * FROM nosuch")
    assert str(refused.value) == f"CatalogException: Catalog Error: Table with name nosuch does not exist! {views}"
    with pytest.raises(pik_nb.SqlError) as near:
        kit.sql("SELECT * FROM event")  # DuckDB would say 'Did you mean "pg_sequences"?'
    assert str(near.value) == f"CatalogException: Catalog Error: Table with name event does not exist! {views}"


def test_the_leak_check_sees_a_query_that_writes(local, tmp_path):
    """The check above can fail: the same COPY and ATTACH, opted out of the confinement, leave their files."""
    kit, _, _ = local
    for query in REFUSED[:2]:
        kit.sql(query.format(leak=tmp_path / "pik-leak"), confined=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pik-leak.csv", "pik-leak.db"]


def test_sql_opt_in_reaches_files_and_the_cli_refuses_in_one_line(local, tmp_path):
    kit, info_file, _ = local
    target = tmp_path / "out.csv"
    kit.sql(f"COPY (SELECT event_id FROM events) TO '{target}'", confined=False)
    events = kit.sql("SELECT count(*) AS n FROM events")["n"].tolist()[0]
    assert len(target.read_text().splitlines()) == 1 + events  # a header and every event
    runner, where = CliRunner(), ["--local-file", str(info_file)]
    for query, message in (
        ("", "no SQL statement"),
        ("-- a comment", "no SQL statement"),
        ("SELECT 1; SELECT 2", "one SQL statement at a time"),
        ("SELECT * FROM read_text('/etc/hostname')", "disabled by config"),
    ):
        answer = runner.invoke(cli, ["sql", query, *where])
        assert answer.exit_code == 1 and message in answer.output, (query, answer.output)
        assert len(answer.output.strip().splitlines()) == 1 and "Traceback" not in answer.output
    unconfined = runner.invoke(cli, ["sql", "SELECT count(*) AS n FROM glob('/etc/hostname')", "--unconfined", *where])
    assert unconfined.exit_code == 0 and "1" in unconfined.output, unconfined.output


@pytest.mark.parametrize(
    "where, limit, message",
    [
        ("TRUE) OR (TRUE", None, "is not one SQL condition"),
        ("TRUE) --", 1, "holds a comment"),
        ("TRUE /* ", 1, "holds a comment"),
        ("amount > 0; SELECT 1", None, "is not one SQL condition"),
        (None, 0, "limit must be a positive whole number"),
        (None, -1, "limit must be a positive whole number"),
    ],
)
def test_search_stays_inside_its_scope_and_limit(local, where, limit, message):
    kit, _, _ = local
    kit.sql("SELECT 1")  # a stream of another source must stay out of the scope
    with pytest.raises(pik_nb.ScopeError, match=message):
        kit.search(source="checkout", event_type="order_placed", where=where, limit=limit)


def test_search_limits_and_scopes_with_a_subquery_inside_the_condition(local):
    kit, _, _ = local
    ingest_events(
        kit.resources.api_url,
        [
            make_event(
                source="billing",
                event_type="invoice",
                entity_id="b-1",
                event_time=DAY.isoformat(),
                payload={"amount": 1},
            )
        ],
        workers=1,
        progress=False,
    )
    inside = kit.search(source="checkout", event_type="order_placed", where="amount IN (SELECT amount FROM events)")
    assert set(inside["source"]) == {"checkout"} and len(inside) >= 12
    assert len(kit.search(source="checkout", event_type="order_placed", limit=2)) == 2
