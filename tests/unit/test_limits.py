"""The AWS limits table (pik.core.limits) and every cap in code and template that must respect it."""

from __future__ import annotations

import pytest

from pik.core import limits


def test_every_limit_names_its_rule_and_an_aws_page() -> None:
    assert len({limit.name for limit in limits.ALL}) == len(limits.ALL) >= 17
    for limit in limits.ALL:
        assert getattr(limits, limit.name) is limit
        assert limit.doc.startswith("https://docs.aws.amazon.com/"), limit.name
        assert limit.value > 0 and limit.rule


def test_check_names_the_amount_the_rule_and_the_page() -> None:
    assert limits.SQS_MESSAGE.check(1_048_576, what="a replay message") == 1_048_576
    with pytest.raises(ValueError, match=r"a replay message is 1048577 bytes; an SQS message is at most 1 MiB"):
        limits.SQS_MESSAGE.check(1_048_577, what="a replay message")
    assert limits.SQS_MAX_RECEIVE_COUNT.respected_by(5) and not limits.SQS_MAX_RECEIVE_COUNT.respected_by(3)
