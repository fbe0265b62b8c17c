"""Hypothesis strategies for payloads ingest accepts and the archive must give back exactly (issue 18 #2):
integers past int64, the largest and smallest doubles, -0.0, nested lists and objects, and fields whose
kind differs from one event to the next (``amount``, ``vip``, ``n``), as a stream's producers send them."""

from __future__ import annotations

from hypothesis import strategies as st

EDGES = [2**63, -(2**63) - 1, 2**63 - 1, -(2**63), 10**40, 1.797e308, -1.797e308, 5e-324, -0.0, 0, True, ""]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(EDGES),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
PAYLOADS = st.fixed_dictionaries({"v": VALUES}, optional={"amount": SCALARS, "vip": SCALARS, "n": VALUES})
