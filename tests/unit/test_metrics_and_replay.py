from __future__ import annotations

import pytest

from pik.core import metrics
from pik.core.replay import Tally, replay_id_for


def test_compute_counts_every_event_and_skips_non_numbers():
    payloads = [{"amount": 2}, {"amount": 5.5}, {"amount": "7"}, {"amount": True}, {"nested": {"v": 1}}, []]
    result = metrics.compute(payloads, ("amount", "nested.v", "absent"))
    assert result == {
        "count": 6,
        "sum.amount": 7.5,
        "min.amount": 2,
        "max.amount": 5.5,
        "sum.nested.v": 1,
        "min.nested.v": 1,
        "max.nested.v": 1,
        "sum.absent": None,
        "min.absent": None,
        "max.absent": None,
    }
    assert list(result)[:4] == ["count", "sum.amount", "min.amount", "max.amount"]


@pytest.mark.parametrize("text", ["a#b", "a b", "a/b"])
def test_field_names_that_would_break_keys_are_refused(text):
    with pytest.raises(ValueError):
        metrics.parse_fields(text)


def test_default_aggregator_and_its_code_version():
    assert metrics.load_aggregator("") == (metrics.compute, metrics.CODE_VERSION)


def test_replay_ids_follow_requester_and_token():
    assert replay_id_for("alice", "t1", "x") == replay_id_for("alice", "t1", "y")
    assert replay_id_for("alice", "t1", "x") != replay_id_for("bob", "t1", "x")
    assert replay_id_for("alice", None, "abc") == "rp-abc"


def test_tally_counts_by_day_and_keeps_a_sample():
    tally = Tally()
    for i in range(12):
        tally.match(f"e{i}", "2026-01-02" if i % 3 else "2026-01-01")
    assert tally.to_dict()["by_day"] == {"2026-01-01": 4, "2026-01-02": 8}
    assert len(tally.sample_event_ids) == 10
