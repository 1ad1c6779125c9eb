"""Property tests of the shared weight capping and the tiered inclusion factors."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from indexrecon.engine.weighting import cap_weights, tier_case_sql
from indexrecon.errors import IndexReconError

bases = st.lists(st.floats(min_value=1e6, max_value=1e12, allow_nan=False), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(base=bases, cap=st.floats(min_value=0.01, max_value=1.0))
def test_single_cap_holds_and_sums_to_one(base: list[float], cap: float) -> None:
    b = np.array(base)
    assume(cap * b.size >= 1 + 1e-9)
    w = cap_weights(b, single=cap)
    assert abs(w.sum() - 1) < 1e-9
    assert w.max() <= cap + 1e-9
    # capping keeps the order and leaves uncapped stocks in their original proportions
    assert np.all(np.diff(w[np.argsort(b, kind="stable")]) >= -1e-12)
    free = w < cap - 1e-9
    if free.sum() >= 2:
        r = w[free] / b[free]
        assert np.allclose(r, r[0], rtol=1e-9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(base=bases, k=st.integers(1, 10), pct=st.floats(0.2, 0.9))
def test_top_k_cap_holds(base: list[float], k: int, pct: float) -> None:
    b = np.array(base)
    assume(b.size > k and pct * b.size >= k * 1.05)
    try:
        w = cap_weights(b, top_k=(k, pct))
    except IndexReconError:
        return  # refused with a clear error is an allowed outcome
    assert abs(w.sum() - 1) < 1e-9
    assert np.sort(w)[::-1][:k].sum() <= pct + 1e-9


@settings(max_examples=100, deadline=None)
@given(base=bases, n_groups=st.integers(2, 6), cap=st.floats(0.2, 0.9), seed=st.integers(0, 10**6))
def test_industry_cap_holds_or_is_refused(base: list[float], n_groups: int, cap: float, seed: int) -> None:
    b = np.array(base)
    groups = np.random.default_rng(seed).integers(0, n_groups, b.size)
    try:
        w = cap_weights(b, groups=groups, group_cap=cap)
    except IndexReconError as e:
        assert "cap" in str(e)
        return
    assert abs(w.sum() - 1) < 1e-9
    for g in np.unique(groups):
        assert w[groups == g].sum() <= cap + 1e-9


def test_impossible_single_cap_is_refused() -> None:
    with pytest.raises(IndexReconError, match="cannot sum to 100%"):
        cap_weights(np.ones(4), single=0.2)


def test_bad_base_values_refused() -> None:
    with pytest.raises(IndexReconError):
        cap_weights(np.array([1.0, np.nan]))


CSI_TIERS = [(15, "ceil"), (20, 20), (30, 30), (40, 40), (50, 50), (60, 60), (70, 70), (80, 80), (100, 100)]


@pytest.mark.parametrize(
    ("ratio", "factor"),
    [(0.05, 0.05), (0.1201, 0.13), (0.15, 0.15), (0.1501, 0.20), (0.2, 0.2), (0.35, 0.4),
     (0.8, 0.8), (0.8001, 1.0), (1.0, 1.0)],
)
def test_tier_table(ratio: float, factor: float) -> None:
    sql = tier_case_sql(CSI_TIERS, "r")  # type: ignore[arg-type]
    got = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT {ratio!r}::DOUBLE AS r)").fetchone()[0]  # type: ignore[index]
    assert got == pytest.approx(factor)
