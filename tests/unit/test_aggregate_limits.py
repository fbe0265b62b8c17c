"""One aggregate version is one DynamoDB transaction (at most 100 items, one per metric): the
template and the settings refuse more fields than that, with the same limit."""

from __future__ import annotations

import re

import pytest

from pik.core import metrics
from pik_local import template


def fields(count: int) -> str:
    return ",".join(f"f{i}" for i in range(count))


def test_the_limit_is_what_one_transaction_holds():
    assert 1 + 3 * metrics.MAX_FIELDS <= metrics.MAX_METRICS == 100 < 1 + 3 * (metrics.MAX_FIELDS + 1)


@pytest.mark.parametrize(
    "value, allowed",
    [
        ("", True),
        ("amount", True),
        ("amount,cart.total", True),
        (fields(33), True),
        (fields(34), False),
        ("amount,,items", False),
        ("amount, items", False),
        ("amount,", False),
    ],
)
def test_the_template_parameter_refuses_what_the_settings_refuse(value, allowed):
    pattern = template.load()["Parameters"]["AggregateFields"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is allowed
    if allowed:
        assert len(metrics.parse_fields(value)) == len([f for f in value.split(",") if f])
    elif value == fields(34):
        with pytest.raises(ValueError, match="at most 33"):
            metrics.parse_fields(value)
