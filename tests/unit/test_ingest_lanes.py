"""``ingest_all`` lanes: the records of one entity are ingested in record order, entities at once."""

import threading

from pik.services.batch import ingest_all
from pik.services.ingest import IngestOutcome


def test_a_lane_runs_in_input_order_while_other_lanes_run_beside_it():
    lanes = ["a", "b", "a", "b"]  # indices 0 and 2 share lane "a", 1 and 3 lane "b"
    both_lanes_running = threading.Barrier(2)  # 0 and 1 must be running at the same time
    log, lock = [], threading.Lock()

    def one(index: int) -> IngestOutcome:
        with lock:
            log.append(("start", index))
        if index in (0, 1):
            both_lanes_running.wait(timeout=30)  # breaks (and fails the test) if the lanes were serialised
        with lock:
            log.append(("end", index))
        return IngestOutcome("ACCEPTED", {"status": "ACCEPTED", "i": index})

    outcomes = ingest_all(4, one, workers=4, lane=lambda i: lanes[i])

    assert [o.status for o in outcomes] == ["ACCEPTED"] * 4
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    for first, second in ((0, 2), (1, 3)):  # within a lane, the second starts after the first ended
        assert log.index(("end", first)) < log.index(("start", second))


def test_an_exception_in_one_lane_fails_only_its_record():
    def one(index: int) -> IngestOutcome:
        if index == 1:
            raise RuntimeError("boom")
        return IngestOutcome("ACCEPTED", {"status": "ACCEPTED"})

    outcomes = ingest_all(3, one, lane=lambda i: "same")
    assert [o.status for o in outcomes] == ["ACCEPTED", "FAILED", "ACCEPTED"]
