"""docs/deploy.md stays true to template.yaml: parameters, overrides, retained resources, runtime,
the investigator policy's statements, which commands need AWS, and its cost arithmetic."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from pik_local import template

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"
AWS_COMMANDS = re.compile(r"(^|[\s;(|&$])(aws|sam (build|deploy|delete|sync)|curl|\.venv/bin/pik)\s|--stack\b")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


@pytest.fixture(scope="module")
def tpl() -> dict:
    return template.load()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def test_every_parameter_is_documented_with_its_default(doc, tpl):
    section = doc[doc.index("## 2. Parameters") : doc.index("## 3.")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `([^`]*)`", section, flags=re.M)}
    for name, spec in tpl["Parameters"].items():
        assert name in rows, f"docs/deploy.md does not document parameter {name}"
        assert rows[name].replace('""', "") == str(spec.get("Default", "")), name
    assert set(rows) <= set(tpl["Parameters"]), "docs/deploy.md documents a parameter the template lacks"


def test_parameter_overrides_name_real_parameters_and_allowed_values(doc, tpl):
    overrides = re.findall(r"--parameter-overrides ((?:\w+=\S*\s*)+)", doc)
    assert len(overrides) >= 3  # dry run, writes on, processor on
    for line in overrides:
        for name, value in re.findall(r"(\w+)=(\S*)", line):
            assert name in tpl["Parameters"], name
            allowed = tpl["Parameters"][name].get("AllowedValues")
            assert not allowed or value in [str(a) for a in allowed], f"{name}={value}"
    first = dict(re.findall(r"(\w+)=(\S*)", overrides[0]))
    assert first == {"EnableProcessor": "false", "DryRun": "true"}, "the rollout starts safe"


def test_every_retained_resource_is_named_in_tear_down(doc, tpl):
    tear_down = doc[doc.index("## 7. Tear down") :]
    retained = {
        n
        for n, r in tpl["Resources"].items()
        if r.get("DeletionPolicy") == "Retain" and r["Type"] in ("AWS::S3::Bucket", "AWS::DynamoDB::Table")
    }
    assert retained == {"RawBucket", "EventsTable", "AggregatesTable", "ReplaysTable", "AthenaResultsBucket"}
    for name in retained:
        assert f"`{name}`" in tear_down or f"`{name}`," in tear_down, name
        assert tpl["Resources"][name].get("UpdateReplacePolicy") == "Retain", name


def test_the_runtime_the_doc_names_is_the_templates(doc, tpl):
    runtime = tpl["Globals"]["Function"]["Runtime"]
    assert runtime == "python3.12"
    assert f"`{runtime}` Lambda runtime" in doc and "sam build --use-container" in doc
    readme = (ROOT / "README.md").read_text()
    assert "docs/deploy.md" in readme


def test_the_investigator_statements_are_the_templates(doc, tpl):
    section = doc[doc.index("## 4. The investigator policy") : doc.index("## 5.")]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
    statements = tpl["Resources"]["InvestigatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert documented == {s["Sid"] for s in statements}
    assert "InvestigatorPolicyArn" in doc and "InvestigatorPolicyArn" in tpl["Outputs"]


def test_commands_that_need_aws_are_marked(doc):
    blocks = bash_blocks(doc)
    assert blocks
    for block in blocks:
        if block.startswith("# needs AWS\n"):
            continue
        assert not AWS_COMMANDS.search(block), f"unmarked block needs AWS:\n{block}"


def test_the_cost_table_adds_up(doc):
    section = doc[doc.index("## 6.") : doc.index("## 7.")]
    rows = re.findall(r"^\| ([^|]+) \| ([^|]*) \| ([\d.]+) \|$", section, flags=re.M)
    amounts = {label.strip(): Decimal(value) for label, _, value in rows}
    subtotal = Decimal(re.search(r"\*\*subtotal\*\* \| \| \*\*([\d.]+)\*\*", section).group(1))
    assert sum(amounts.values()) == subtotal
    assert "2026-12-01" in section and "estimate" in section.lower()
