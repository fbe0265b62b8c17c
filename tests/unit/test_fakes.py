"""The in-memory fakes of the ports (tests/support/fakes.py): they offer each port's methods, keep the
semantics the services rely on, and run the real ingest service in milliseconds, races forced by hooks."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import pytest

from pik.core import ports
from pik.core.errors import StorageError
from pik.services.ingest import ingest
from pik.settings import Settings
from tests.support.fakes import FakeDeadLetters, FakeDocumentStore, FakeEventIndex, FakeMessageQueue, FakeRunStore

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = Settings(
    raw_bucket="raw",
    events_table="events",
    aggregates_table="aggregates",
    replays_table="runs",
    replay_queue_url="queue",
)


@pytest.mark.parametrize(
    "port,fake",
    [
        ("DocumentStore", FakeDocumentStore),
        ("EventIndex", FakeEventIndex),
        ("RunStore", FakeRunStore),
        ("MessageQueue", FakeMessageQueue),
        ("DeadLetters", FakeDeadLetters),
    ],
)
def test_each_fake_offers_its_port_with_compatible_signatures(port, fake):
    protocol = getattr(ports, port)
    for method in [m for m in vars(protocol) if not m.startswith("_") and callable(getattr(protocol, m))]:
        wanted = inspect.signature(getattr(protocol, method)).parameters
        offered = inspect.signature(getattr(fake, method)).parameters
        assert [(p.name, p.kind) for p in wanted.values()] == [(p.name, p.kind) for p in offered.values()], method


def _event(**overrides) -> bytes:
    event = {
        "idempotency_key": "order-1",
        "source": "checkout",
        "event_type": "order_placed",
        "entity_id": "customer-42",
        "event_time": "2026-11-20T11:00:00+00:00",
        "payload": {"amount": 12.5},
        **overrides,
    }
    return json.dumps(event).encode()


def _ingest(body: bytes, store: FakeDocumentStore, index: FakeEventIndex, request_id: str = "r-1") -> str:
    return ingest(body, request_id=request_id, now=NOW, store=store, index=index, settings=SETTINGS).body["status"]


def test_the_ingest_service_on_fakes_accepts_then_counts_duplicates_and_conflicts():
    store, index = FakeDocumentStore(), FakeEventIndex()
    statuses = [
        _ingest(_event(), store, index, "r-1"),
        _ingest(_event(), store, index, "r-2"),
        _ingest(_event(payload={"amount": 13}), store, index, "r-3"),
    ]
    assert statuses == ["ACCEPTED", "DUPLICATE", "CONFLICT"]
    gate = next(item for (pk, sk), item in index.items.items() if sk == "META")
    assert (gate["duplicate_count"], gate["conflict_count"]) == (1, 1)
    assert [key.split("/")[0] for key in sorted(store.documents)] == ["conflicts", "raw"]  # the second payload kept
    attempts = list(index.by_entity("customer-42", "2026-11-20T00", "2026-11-21T00"))
    assert sorted((a["request_id"], a["status"]) for a in attempts) == [
        ("r-1", "ACCEPTED"),
        ("r-2", "DUPLICATE"),
        ("r-3", "CONFLICT"),
    ]


def test_a_concurrent_first_write_is_forced_with_a_hook_and_the_stored_bytes_decide():
    """Two requests of one event race: ours stores the raw object, the other one arrives before our gate
    transaction, finds our bytes and records *our* attempt as the ACCEPTED one (the module's rule)."""
    store, index = FakeDocumentStore(), FakeEventIndex()
    index.before("create_event", lambda meta, attempt: seen.append(_ingest(_event(), store, index, "r-other")))
    seen: list[str] = []
    assert _ingest(_event(), store, index, "r-1") == "ACCEPTED"
    assert seen == ["DUPLICATE"]
    attempts = list(index.by_entity("customer-42", "2026-11-20T00", "2026-11-21T00"))
    assert sorted((a["request_id"], a["status"]) for a in attempts) == [("r-1", "ACCEPTED"), ("r-other", "DUPLICATE")]


def test_run_store_advance_is_a_compare_and_set_and_a_hook_forces_the_race():
    runs = FakeRunStore()
    assert runs.put_new({"pk": "RUN#1", "sk": "RUN", "step": 0, "status": "RUNNING", "cursor": "a"})
    assert not runs.put_new({"pk": "RUN#1", "sk": "RUN", "step": 0})
    runs.before("advance", lambda *_: runs.advance("RUN#1", "RUN", 0, {"status": "PAUSED"}))
    assert runs.advance("RUN#1", "RUN", 0, {"status": "DONE", "cursor": None}) is False
    assert runs.get("RUN#1", "RUN") == {"pk": "RUN#1", "sk": "RUN", "step": 1, "status": "PAUSED", "cursor": "a"}
    assert runs.request_action("RUN#1", "RUN", "cancel") is False  # not RUNNING any more
    assert runs.advance("RUN#1", "RUN", 1, {"status": "RUNNING", "cursor": None})
    assert runs.request_action("RUN#1", "RUN", "cancel")
    assert runs.advance("RUN#1", "RUN", 2, {"status": "DONE"}, unrequested=True) is False  # a cancel is pending
    assert runs.get("RUN#1", "RUN") == {
        "pk": "RUN#1",
        "sk": "RUN",
        "step": 2,
        "status": "RUNNING",
        "requested": "cancel",
    }


def test_queue_and_dead_letters_keep_sqs_s_batch_rule_order_and_visibility():
    queue = FakeMessageQueue()
    with pytest.raises(ValueError, match="at most 10"):
        queue.send([{"n": i} for i in range(11)])
    queue.refuse = 1
    with pytest.raises(StorageError):
        queue.send([{"n": 0}])
    assert queue.send([{"n": 1}, {"n": 2}]) == 2 and queue.messages == [{"n": 1}, {"n": 2}]
    dlq = FakeDeadLetters([{"n": i} for i in range(12)] + [None])
    first = dlq.receive()
    assert [body["n"] for _, body in first] == list(range(10)) and dlq.depth() == 3
    dlq.delete([receipt for receipt, _ in first[:9]])
    dlq.release([first[9][0]])
    assert [body and body["n"] for _, body in dlq.receive()] == [9, 10, 11, None] and dlq.depth() == 0


def test_documents_are_never_overwritten_by_put_new_and_come_back_as_copies():
    store = FakeDocumentStore()
    document = {"a": [1]}
    assert store.put_new("raw/x", document) and not store.put_new("raw/x", {"a": [2]})
    document["a"].append(9)
    assert store.get("raw/x") == {"a": [1]}
    store.put("raw/w", {})
    assert store.list_keys("raw/") == ["raw/w", "raw/x"] and store.list_keys("raw/", after="raw/w") == ["raw/x"]
    with pytest.raises(StorageError, match="no such key"):
        store.get("raw/none")
