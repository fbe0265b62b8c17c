"""Lineage end to end on the moto stack: the replay and processor functions POST RunEvents to an endpoint on
127.0.0.1 (``OpenLineageUrl``), ``kit.lineage(...)`` returns the same events as openlineage-python's classes,
and the client's own transports (file, HTTP, console) send them. What arrives validates against the OpenLineage
spec's JSON schemas (``tests.support.openlineage``), the ``tags`` facet the client adds included."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde
from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from pik.core import lineage
from pik.core.errors import NotFoundError
from tests.nb.conftest import DATE, DAY
from tests.support import openlineage as spec
from tests.support.receiver import receiving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def endpoint():
    """A lineage endpoint (``/api/v1/lineage``, as Marquez's) on 127.0.0.1 at a port chosen now; stopped after."""
    with receiving() as server:
        yield server


@pytest.fixture
def emitted(endpoint, monkeypatch, request):
    """The story (tests/nb/conftest.py) with ``OpenLineageUrl`` set: what the functions posted, and the story."""
    monkeypatch.setenv("LINEAGE_URL", f"http://127.0.0.1:{endpoint.server_port}/api/v1/lineage")
    story = request.getfixturevalue("story")
    return [r.json for r in endpoint.received if r.path == "/api/v1/lineage"], story


def _key(event: dict) -> str:
    return json.dumps(event, sort_keys=True)


def _untagged(event: dict) -> dict:
    """What the client sent, less the ``tags`` run facet its ``emit`` adds to every event (its version)."""
    tags = event["run"]["facets"].pop("tags")
    assert [(t["key"], t["source"]) for t in tags["tags"]] == [("openlineage_client_version", "OPENLINEAGE_CLIENT")]
    return event


def _scope() -> dict:
    return {"entity_id": "customer-42", "start": DAY, "end": DAY + timedelta(days=1)}


def test_the_functions_post_each_executed_replay_and_version_and_the_kit_returns_the_same(kit, emitted):
    posted, story = emitted
    _, run1, run2 = story["runs"]
    assert [spec.problems(e) for e in posted] == [[]] * 8  # what the functions sent, by the spec's schemas
    kinds = [(e["job"]["name"], e["eventType"]) for e in posted]
    assert kinds == [("replay", "START"), ("replay", "COMPLETE"), ("aggregate", "START"), ("aggregate", "COMPLETE")] * 2
    assert [e["run"]["runId"] for e in posted[::2]] == [
        lineage.run_id("replay", run1["replay_id"]),
        posted[2]["run"]["runId"],
        lineage.run_id("replay", run2["replay_id"]),
        posted[6]["run"]["runId"],
    ]
    assert posted[1]["run"]["facets"]["pik_counts"]["counts"] == {
        "scanned": 5,
        "matched": 3,
        "sent": 3,
        "failed": 0,
        "retried": 0,
    }
    assert posted[7]["outputs"][0]["facets"]["version"]["datasetVersion"] == f"customer-42/{DATE}/count@2"
    assert posted[7]["run"]["facets"]["parent"]["run"]["runId"] == lineage.run_id("replay", run2["replay_id"])

    events = kit.lineage(**_scope())  # the dry run (story["runs"][0]) moved nothing: no lineage
    assert all(isinstance(e, RunEvent) for e in events) and len(events) == 8
    assert sorted(_key(Serde.to_dict(e)) for e in events) == sorted(_key(e) for e in posted)  # the same bytes


def test_the_lineage_of_one_replay_is_its_run_and_the_versions_it_caused(kit, emitted):
    posted, story = emitted
    run2 = story["runs"][2]
    events = [Serde.to_dict(e) for e in kit.lineage(replay_id=run2["replay_id"])]
    assert [_key(e) for e in events] == [_key(e) for e in posted[4:]]
    with pytest.raises(NotFoundError, match="no replay run"):
        kit.lineage(replay_id="rp-" + "0" * 32)


def test_the_clients_file_http_and_console_transports_send_them(kit, emitted, endpoint, tmp_path, caplog):
    posted, _ = emitted
    path = tmp_path / "lineage.jsonl"
    kit.lineage(**_scope(), client=OpenLineageClient(transport=FileTransport(FileConfig(str(path), append=True))))
    sent = [json.loads(line) for line in path.read_text().splitlines()]
    assert [spec.problems(e) for e in sent] == [[]] * 8  # the client's tags facet too (TagsRunFacet 1-0-0)
    assert {"run.facets.tags"} <= {where for where, _ in spec.facets(sent[0])}
    written = [_untagged(event) for event in sent]
    assert sorted(map(_key, written)) == sorted(map(_key, posted))

    before = len(endpoint.received)
    http = HttpTransport(HttpConfig(url=f"http://127.0.0.1:{endpoint.server_port}", endpoint="api/v1/lineage"))
    kit.lineage(**_scope(), client=OpenLineageClient(transport=http))
    again = [_untagged(r.json) for r in endpoint.received[before:]]
    assert sorted(map(_key, again)) == sorted(map(_key, posted))  # re-emission: the same runs, the same bytes
    assert {r.json["run"]["runId"] for r in endpoint.received} == {e["run"]["runId"] for e in posted}  # 4 runs

    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        kit.lineage(**_scope(), client=OpenLineageClient(transport=ConsoleTransport(ConsoleConfig())))
    logged = [
        _untagged(json.loads(r.getMessage()))
        for r in caplog.records
        if r.name == "openlineage.client.transport.console"
    ]
    assert sorted(map(_key, logged)) == sorted(map(_key, posted))


def test_nothing_is_posted_when_open_lineage_url_is_empty(kit, endpoint, story):
    assert endpoint.received == []
    assert len(kit.lineage(**_scope())) == 8  # still there to send by hand


def test_the_python_block_of_docs_lineage_md_sends_to_a_marquez_like_endpoint(kit, endpoint, story):
    [block] = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "lineage.md").read_text(), flags=re.DOTALL)
    namespace = {
        "kit": kit,
        "day": DATE,
        "next_day": (DAY + timedelta(days=1)).date().isoformat(),
        "marquez_url": f"http://127.0.0.1:{endpoint.server_port}",
    }
    exec(compile(block, "docs/lineage.md", "exec"), namespace)
    received = [_untagged(r.json) for r in endpoint.received if r.path == "/api/v1/lineage"]
    assert len(received) == 8 == len(namespace["events"])
    assert [e["job"]["name"] for e in received].count("aggregate") == 4
    assert {e.run.runId for e in namespace["one_replay"]} == {
        lineage.run_id("replay", story["runs"][2]["replay_id"]),
        received[-1]["run"]["runId"],
    }
