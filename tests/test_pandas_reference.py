"""The engine against an independent plain-pandas implementation of the ChiNext review.

benchmarks/pandas_reference.py re-implements the ChiNext Index rules (calendar, metrics,
universe, screen, ranking) with ordinary pandas operations and shares no code with the
engine. With no incumbents the buffers and the cap on changes do not act, so both must
select the same 100 stocks in the same order. (The benchmark suite times the same module;
nothing here is timed.)
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "pandas_reference.py"


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("indexrecon_pandas_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look the module up while building the class
    spec.loader.exec_module(mod)
    return mod


ref = _load_reference()


def _compare(store_path: Path, tables: object, review: str) -> None:
    from indexrecon import engine
    from indexrecon.data.open import open_store

    with open_store(store_path) as store:
        ctx = engine.context(store)
        if ctx.has_esg and review >= "2025-06":
            pytest.skip("the store has ESG scores; the pandas reference has no ESG screen")
        res = engine.run_review("chinext", store, review, incumbents="none")
        eng = res.constituents.sort_values("rank")
        engine._CONTEXTS.pop(id(store), None)
    pd_res = ref.chinext_review(tables, review)

    assert len(pd_res) == 100
    assert list(eng["code"]) == list(pd_res["code"]), (
        f"review {review}: engine-only {sorted(set(eng['code']) - set(pd_res['code']))}, "
        f"pandas-only {sorted(set(pd_res['code']) - set(eng['code']))}"
    )
    # the ranking metric agrees too (the engine sums in DECIMAL, pandas in float64)
    for a, b in zip(eng["avg_total_cap"], pd_res["avg_total_cap"], strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)
    for a, b in zip(eng["avg_amount"], pd_res["avg_amount"], strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)


@pytest.fixture(scope="module")
def demo_tables(demo_store_path: Path) -> object:
    return ref.load_tables(demo_store_path)


@pytest.fixture(scope="module")
def real_tables(real_store_path: Path) -> object:
    return ref.load_tables(real_store_path)


@pytest.mark.parametrize("review", ["2024-12", "2025-12"])
def test_demo_store_matches_pandas_reference(demo_store_path: Path, demo_tables: object, review: str) -> None:
    _compare(demo_store_path, demo_tables, review)


@pytest.mark.realdata
@pytest.mark.parametrize("review", ["2022-12", "2024-12", "2025-06"])
def test_real_store_matches_pandas_reference(real_store_path: Path, real_tables: object, review: str) -> None:
    _compare(real_store_path, real_tables, review)


def test_reference_review_window() -> None:
    """The reference's own calendar: cutoff at the end of the month two months before the
    review month, window from the first day six months earlier."""
    import pandas as pd

    days = pd.DatetimeIndex(pd.bdate_range("2024-01-01", "2024-12-31"))
    start, cutoff = ref.review_window("2024-12", days)
    assert (start, cutoff) == (pd.Timestamp("2024-05-01"), pd.Timestamp("2024-10-31"))
    start, cutoff = ref.review_window("2024-06", days)
    assert (start, cutoff) == (pd.Timestamp("2023-11-01"), pd.Timestamp("2024-04-30"))
