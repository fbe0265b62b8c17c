"""Template hygiene that changes no behaviour: expiry really deletes bytes, concurrency is opt-in,
API access logs are kept for a bounded time, every skipped scanner rule says why."""

from __future__ import annotations

import pytest

from pik_local import template


@pytest.fixture(scope="module")
def tpl() -> dict:
    return template.load()


def test_expiring_rules_also_delete_noncurrent_versions(tpl):
    bucket = tpl["Resources"]["RawBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    expiring = [r for r in rules.values() if "ExpirationInDays" in r]
    assert {r["Id"] for r in expiring} == {"raw-retention", "rejected-retention"}
    for rule in expiring:  # an expiry on a versioned bucket only adds a delete marker
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0, rule["Id"]
    assert rules["expired-delete-markers"]["ExpiredObjectDeleteMarker"] is True


def test_reserved_concurrency_is_unset_by_default(tpl):
    parameter = tpl["Parameters"]["ReservedConcurrency"]
    assert parameter["Default"] == ""
    assert tpl["Conditions"]["ReservedConcurrencySet"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, ""]}]
    }
    assert tpl["Globals"]["Function"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservedConcurrencySet", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_api_access_logs_are_opt_in_with_retention(tpl):
    assert tpl["Parameters"]["EnableApiAccessLogs"]["Default"] == "false"
    group = tpl["Resources"]["ApiAccessLogGroup"]
    assert group["Condition"] == "AccessLogsEnabled"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "ApiAccessLogRetentionDays"}
    setting = tpl["Resources"]["PikApi"]["Properties"]["AccessLogSetting"]["Fn::If"]
    assert setting[0] == "AccessLogsEnabled" and setting[2] == {"Ref": "AWS::NoValue"}
    assert setting[1]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.identity.userArn" in setting[1]["Format"]  # who called /replay


def test_every_skipped_scanner_rule_says_why(tpl):
    skips = [
        (name, s)
        for name, r in tpl["Resources"].items()
        for s in r.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 20, (name, skip)


def test_raw_and_conflict_bytes_can_only_be_created_never_overwritten(tpl):
    """The bucket refuses a put under raw/ or conflicts/ without If-None-Match; pik's own writes
    there are all create-only (``put_new``), and only the rejected/ copy uses a plain put."""
    from pathlib import Path

    from pik.core import keys

    statements = {s["Sid"]: s for s in tpl["Resources"]["RawBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    once = statements["RawBytesAreWrittenOnce"]
    assert (once["Effect"], once["Action"], once["Condition"]) == (
        "Deny",
        "s3:PutObject",
        {"Null": {"s3:if-none-match": "true"}},
    )
    prefixes = {r["Fn::Sub"].split("/", 1)[1] for r in once["Resource"]}
    assert prefixes == {"raw/*", "conflicts/*"}
    assert keys.raw_key("s", "t", "2026-11-20", "e").startswith("raw/")
    assert keys.conflict_key("s", "t", "2026-11-20", "e", "c").startswith("conflicts/")
    services = Path(__file__).resolve().parents[2] / "lambdas" / "pik" / "services"
    plain_puts = [
        line.strip() for path in services.glob("*.py") for line in path.read_text().splitlines() if ".put(" in line
    ]
    assert plain_puts and all("rejected" in line for line in plain_puts), plain_puts
