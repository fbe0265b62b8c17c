"""The local stack's write-ahead journal: framing, torn tails, several writer processes, generations."""

from __future__ import annotations

import multiprocessing
import zlib

import pytest

from pik_local import journal

RECORD = {
    "service": "s3",
    "operation": "PutObject",
    "params": {"Bucket": "b", "Key": "raw/é", "Body": b'\x00\xff{"a": 1}', "IfNoneMatch": "*"},
}


def test_a_record_round_trips_with_its_bytes(tmp_path):
    path = tmp_path / "00000001.log"
    path.write_bytes(journal.encode(RECORD) * 2)
    assert list(journal.records(path)) == [RECORD, RECORD]


def test_a_torn_tail_is_dropped_at_every_possible_cut(tmp_path):
    whole, last = journal.encode(RECORD), journal.encode({**RECORD, "operation": "DeleteObject"})
    path = tmp_path / "00000001.log"
    for cut in range(len(last)):
        path.write_bytes(whole + last[:cut])
        assert list(journal.records(path)) == [RECORD], cut


def test_a_corrupt_record_ends_the_journal_there(tmp_path):
    data = bytearray(journal.encode(RECORD) * 3)
    data[len(data) // 2] ^= 0x01  # a flipped bit in the second record
    path = tmp_path / "00000001.log"
    path.write_bytes(bytes(data))
    assert list(journal.records(path)) == [RECORD]


def test_only_writes_that_succeeded_are_journaled(tmp_path):
    log = journal.Journal(journal.path_of(tmp_path, 1))

    def refused():
        raise RuntimeError("ConditionalCheckFailed")

    with pytest.raises(RuntimeError):
        log.call("dynamodb", "PutItem", {"TableName": "t"}, refused)
    assert log.call("dynamodb", "PutItem", {"TableName": "t"}, lambda: "ok") == "ok"
    log.sync()
    assert list(journal.records(log.path)) == [
        {"service": "dynamodb", "operation": "PutItem", "params": {"TableName": "t"}}
    ]


def test_a_parameter_that_cannot_be_journaled_is_refused_before_the_write(tmp_path):
    log = journal.Journal(journal.path_of(tmp_path, 1))
    sent = []
    with pytest.raises(TypeError, match="cannot journal a object"):
        log.call("s3", "PutObject", {"Body": object()}, lambda: sent.append(1))
    assert sent == []


def _append_many(path: str, writer: int, count: int) -> None:
    log = journal.Journal(path)
    for i in range(count):
        log.call("sqs", "SendMessage", {"MessageBody": f"{writer}-{i}" + "x" * (i * 37 % 5000)}, lambda: None)
    log.sync()


def test_several_writer_processes_share_one_journal_without_tearing_a_record(tmp_path):
    path = str(journal.path_of(tmp_path, 1))
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_many, args=(path, w, 200)) for w in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
    assert [process.exitcode for process in writers] == [0, 0, 0]
    bodies = [record["params"]["MessageBody"].rstrip("x") for record in journal.records(path)]
    assert sorted(bodies) == sorted(f"{w}-{i}" for w in range(3) for i in range(200))
    for w in range(3):  # each writer's records in its own order
        assert [b for b in bodies if b.startswith(f"{w}-")] == [f"{w}-{i}" for i in range(200)]


def test_writes_of_different_items_run_together_and_of_one_item_one_at_a_time(tmp_path):
    """A write blocked inside its call holds only its item's stripe: another item's write goes
    through meanwhile; a second write of the blocked item waits for it (journal order = moto's)."""
    import threading

    log = journal.Journal(journal.path_of(tmp_path, 1))
    key_a = "raw/a.json"
    key_b = next(
        k
        for k in (f"raw/b{i}.json" for i in range(100))
        if zlib.crc32(f"s3 b {k}".encode()) % journal.STRIPES != zlib.crc32(f"s3 b {key_a}".encode()) % journal.STRIPES
    )
    inside, release, order = threading.Event(), threading.Event(), []

    def slow_write():
        inside.set()
        assert release.wait(timeout=30)
        order.append("a1")

    first = threading.Thread(target=log.call, args=("s3", "PutObject", {"Bucket": "b", "Key": key_a}, slow_write))
    first.start()
    assert inside.wait(timeout=30)
    log.call("s3", "PutObject", {"Bucket": "b", "Key": key_b}, lambda: order.append("b"))  # not blocked by a1
    second = threading.Thread(
        target=log.call, args=("s3", "PutObject", {"Bucket": "b", "Key": key_a}, lambda: order.append("a2"))
    )
    second.start()
    assert order == ["b"]
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert order == ["b", "a1", "a2"]
    assert [r["params"]["Key"] for r in journal.records(log.path)] == [key_b, key_a, key_a]


def test_the_items_a_write_touches():
    put = {"TableName": "t", "Item": {"pk": {"S": "EVT#1"}, "sk": {"S": "META"}, "n": {"N": "1"}}}
    assert journal.items_written("dynamodb", "PutItem", put) == [
        'dynamodb t {"pk": {"S": "EVT#1"}, "sk": {"S": "META"}}'
    ]
    transaction = {
        "TransactItems": [{"Put": put}, {"Update": {"TableName": "t", "Key": {"pk": {"S": "EVT#1"}, "sk": {"S": "A"}}}}]
    }
    assert len(set(journal.items_written("dynamodb", "TransactWriteItems", transaction))) == 2
    batch = {
        "RequestItems": {"t": [{"PutRequest": {"Item": put["Item"]}}, {"DeleteRequest": {"Key": {"pk": {"S": "x"}}}}]}
    }
    assert journal.items_written("dynamodb", "BatchWriteItem", batch) == [
        'dynamodb t {"pk": {"S": "EVT#1"}, "sk": {"S": "META"}}',
        'dynamodb t {"pk": {"S": "x"}}',
    ]


def test_a_snapshot_discards_the_generations_it_covers(tmp_path):
    for generation in (1, 2, 3):
        journal.path_of(tmp_path, generation).parent.mkdir(parents=True, exist_ok=True)
        journal.path_of(tmp_path, generation).write_bytes(b"")
    journal.discard(tmp_path, 2)
    assert journal.generations(tmp_path) == [3]
