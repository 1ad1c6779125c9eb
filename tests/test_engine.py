"""Every rule type of the engine on hand-built stores whose answers follow from the inputs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import yaml

import indexrecon as ir
from factory import S, make_store
from indexrecon.errors import DependencyCycleError, IndexReconError, StoreError
from indexrecon.methodology.schema import deep_merge

D = dt.date
N_STOCKS = 30


def codes(n: int, start: int = 1) -> list[str]:
    return [f"300{i:03d}" for i in range(start, start + n)]


def base_stocks() -> list[S]:
    # caps 30bn .. 1bn by code; amounts cycle so the liquidity order differs from the cap order
    return [
        S(f"300{i:03d}", cap=(N_STOCKS + 1 - i) * 1e9, amount=((i * 7) % N_STOCKS + 1) * 1e6,
          industry=["630000", "270000", "370000"][i % 3], ff_ratio=0.5)
        for i in range(1, N_STOCKS + 1)
    ]


def meth(**over: Any) -> dict[str, Any]:
    base = {
        "name": "t",
        "title": "Test index",
        "universe": {"boards": ["chinext"], "exclude_st": True},
        "lookback": {"months": 6},
        "selection": {"rank_by": "avg_total_cap", "count": 10},
        "weighting": {"method": "total_cap"},
        "schedule": {"review_months": [6, 12]},
    }
    return deep_merge(base, over)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = tmp_path_factory.mktemp("eng") / "s.duckdb"
    make_store(p, base_stocks())
    st = ir.open_store(p)
    yield st
    st.close()


def build(tmp_path: Path, stocks: list[S], name: str = "x.duckdb") -> Any:
    p = tmp_path / name
    make_store(p, stocks)
    return ir.open_store(p)


def test_top_n_ranks_and_cap_weights(store: Any) -> None:
    res = ir.rebuild(meth(), store, "2024-12", incumbents="none")
    cons = res.constituents
    assert list(cons["code"]) == codes(10)
    assert list(cons["rank"]) == list(range(1, 11))
    caps = np.array([(N_STOCKS + 1 - i) * 1e9 for i in range(1, 11)])
    assert np.allclose(cons["weight"], caps / caps.sum())
    assert res.dates.cutoff == D(2024, 10, 31) and res.dates.window_start == D(2024, 5, 1)
    assert res.dates.effective == D(2024, 12, 16)  # the Monday after the second Friday
    assert res.synthetic


def test_drop_bottom_pct_drops_exactly_the_least_liquid(store: Any) -> None:
    m = meth(screens=[{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 10}],
             selection={"count": 30})
    res = ir.rebuild(m, store, "2024-12", incumbents="none")
    c = res.candidates
    dropped = c[c["stage"] == "screen 1"]
    amounts = {s.code: s.amount for s in base_stocks()}
    lowest3 = sorted(amounts, key=lambda k: amounts[k])[:3]
    assert sorted(dropped["code"]) == sorted(lowest3)
    assert all("drop the bottom 10% by avg_amount" in r for r in dropped["reason"])
    assert len(res.codes) == 27
    assert any("only 27 stocks passed" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("screen", "kept"),
    [
        ({"type": "keep_top_n", "metric": "avg_total_cap", "value": 5}, codes(5)),
        ({"type": "drop_top_n", "metric": "avg_total_cap", "value": 25}, codes(5, 26)),
        ({"type": "min_value", "metric": "avg_total_cap", "value": 26e9}, codes(5)),
        ({"type": "max_value", "metric": "avg_total_cap", "value": 5e9}, codes(5, 26)),
        ({"type": "keep_top_pct", "metric": "avg_total_cap", "value": 10}, codes(3)),
    ],
)
def test_screens(store: Any, screen: dict[str, Any], kept: list[str]) -> None:
    res = ir.rebuild(meth(screens=[screen], selection={"count": 30}), store, "2024-12", incumbents="none")
    assert res.codes == kept


def test_listing_age_and_large_new_listing_exception(tmp_path: Path) -> None:
    stocks = [*base_stocks(), S("301999", cap=99e9, list_date=D(2024, 7, 1)),
              S("301998", cap=98e9, list_date=D(2024, 9, 2))]
    st = build(tmp_path, stocks)
    plain = ir.rebuild(meth(universe={"min_listing_age": {"months": 6}}), st, "2024-12", incumbents="none")
    assert "301999" not in plain.codes and "301998" not in plain.codes
    assert "needs 6 months" in plain.explain("301999")
    exc = meth(universe={"min_listing_age": {"months": 6},
                         "new_listing_exception": {"min_age": {"months": 3}, "top_n": 2}})
    res = ir.rebuild(exc, st, "2024-12", incumbents="none")
    assert "301999" in res.codes  # listed 4 months, rank 1: enters early
    assert "301998" not in res.codes  # listed under 2 months: too young even for the exception
    td = ir.rebuild(meth(universe={"min_listing_age": {"trading_days": 60}}), st, "2024-12", incumbents="none")
    assert "301999" in td.codes and "301998" not in td.codes  # ~88 vs ~44 trading days


def test_st_suspension_and_delisting(tmp_path: Path) -> None:
    stocks = base_stocks()
    stocks[0].status = [(D(2024, 3, 1), None, "*ST")]  # ST at the cutoff
    stocks[1].status = [(D(2023, 3, 1), D(2024, 1, 31), "ST")]  # ST ended before the window
    stocks[2].gaps = (D(2024, 6, 1), D(2024, 9, 30))  # ~87 trading days without a bar
    stocks[3].delist_date = D(2024, 9, 1)
    stocks[4].status = [(D(2024, 10, 1), None, "delisting")]
    st = build(tmp_path, stocks)
    res = ir.rebuild(meth(universe={"max_suspended_days": 60}), st, "2024-12", incumbents="none")
    assert "300001" not in res.codes and "*ST at the data cutoff" in res.explain("300001")
    assert "300002" in res.codes
    assert "300003" not in res.codes and "suspended" in res.explain("300003")
    assert "300004" not in set(res.candidates["code"])  # delisted before the cutoff
    assert "300005" not in res.codes and "delisting" in res.explain("300005")


def test_buffer_keeps_incumbents_and_holds_back_newcomers(store: Any) -> None:
    m = meth(selection={"buffer": {"newcomers_within": 8, "incumbents_within": 12}})
    inc = [*codes(7), "300012", "300013", "300011"]  # ranks 1-7, 12, 13, 11
    res = ir.rebuild(m, store, "2024-12", incumbents=inc)
    # tier 0: ranks 1-7 (incumbents), 8 (newcomer within 8), 11 and 12 (incumbents within 12)
    assert res.codes == sorted([*codes(8), "300011", "300012"])
    assert set(res.adds["code"]) == {"300008"}
    assert set(res.deletes["code"]) == {"300013"}
    c = res.candidates.set_index("code")
    assert "kept by incumbent buffer 12" in c.loc["300012", "reason"]
    assert "outside incumbent buffer 12" in c.loc["300013", "reason"]
    assert "newcomers must rank within 8" in c.loc["300009", "reason"]


def test_max_changes_limits_adds(store: Any) -> None:
    m = meth(selection={"max_changes_pct": 20})
    res = ir.rebuild(m, store, "2024-12", incumbents=codes(10, 21))
    assert sorted(res.adds["code"]) == codes(2)
    assert len(res.codes) == 10
    kept = sorted(set(res.codes) - set(codes(2)))
    assert kept == codes(8, 21)  # the best-ranked incumbents stay
    c = res.candidates.set_index("code")
    assert "at most 2 changes" in c.loc["300003", "reason"]


def test_forced_deletions_are_replaced_beyond_the_change_limit(tmp_path: Path) -> None:
    stocks = base_stocks()
    for s in stocks[:5]:
        s.status = [(D(2024, 9, 1), None, "ST")]
    st = build(tmp_path, stocks)
    res = ir.rebuild(meth(selection={"max_changes_pct": 10}), st, "2024-12", incumbents=codes(10))
    assert len(res.codes) == 10 and len(res.adds) == 5  # five forced out, five in
    assert all(r.startswith("deleted: ST") for r in res.deletes["reason"])


def test_incumbent_without_data_keeps_its_place_and_counts_against_the_places(tmp_path: Path) -> None:
    p = tmp_path / "noshares.duckdb"
    make_store(p, base_stocks())
    con = duckdb.connect(str(p))
    con.execute("DELETE FROM shares WHERE code = '300003'")  # no share capital: no market cap
    con.close()
    st = ir.open_store(p)
    m = meth(selection={"max_changes_pct": 20, "buffer": {"newcomers_within": 8, "incumbents_within": 12}})
    res = ir.rebuild(m, st, "2024-12", incumbents=["300003", *codes(9, 21)])
    c = res.candidates.set_index("code")
    assert c.loc["300003", "selected"] and c.loc["300003", "reason"].startswith("kept: no avg_total_cap data")
    assert c.loc["300004", "rank"] == 3  # the ranks pass over the unranked incumbent
    # 9 places left; at most 2 newcomers (20% of 10), the best; the best 7 incumbents refill
    assert len(res.codes) == 10
    assert sorted(res.adds["code"]) == ["300001", "300002"]
    assert sorted(set(res.codes) - {"300001", "300002", "300003"}) == codes(7, 21)
    assert sorted(res.deletes["code"]) == ["300028", "300029"]
    st.close()


def test_ascending_selection_picks_the_smallest(store: Any) -> None:
    res = ir.rebuild(meth(selection={"order": "asc", "count": 4}), store, "2024-12", incumbents="none")
    assert res.codes == codes(4, 27)
    assert list(res.constituents["code"]) == ["300030", "300029", "300028", "300027"]


def test_equal_weight_and_single_cap(store: Any) -> None:
    eq = ir.rebuild(meth(weighting={"method": "equal"}), store, "2024-12", incumbents="none")
    assert np.allclose(eq.constituents["weight"], 0.1)
    capped = ir.rebuild(meth(weighting={"caps": {"single_pct": 10.5}}), store, "2024-12", incumbents="none")
    w = capped.constituents["weight"].to_numpy()
    assert w.max() <= 0.105 + 1e-12 and abs(w.sum() - 1) < 1e-12
    assert capped.constituents["cap_factor"].iloc[0] < 1  # the largest was capped


def test_industry_and_top_k_caps(store: Any) -> None:
    m = meth(weighting={"caps": {"industry_pct": 36, "top_k": {"k": 3, "pct": 32}}})
    res = ir.rebuild(m, store, "2024-12", incumbents="none")
    cons = res.constituents
    assert cons.groupby("sw_l1_code")["weight"].sum().max() <= 0.36 + 1e-9
    assert np.sort(cons["weight"])[::-1][:3].sum() <= 0.32 + 1e-9
    assert abs(cons["weight"].sum() - 1) < 1e-12
    # industries 36/36/36 and the top three at 30% cannot hold together: a clear refusal
    tight = meth(weighting={"caps": {"industry_pct": 34, "top_k": {"k": 3, "pct": 30}}})
    with pytest.raises(IndexReconError, match="cannot all hold"):
        ir.rebuild(tight, store, "2024-12", incumbents="none")


def test_tiered_inclusion_factors(tmp_path: Path) -> None:
    ratios = {"300001": 0.12, "300002": 0.121, "300003": 0.16, "300004": 0.55, "300005": 0.95}
    stocks = [S(c, cap=10e9, ff_ratio=r) for c, r in ratios.items()]
    st = build(tmp_path, stocks)
    # chinext.yaml weights by the exact ratio (the official 399006 weights fit it); the CNI tiers
    # stay in chinext50.yaml
    exact = ir.load_methodology("chinext").with_changes(
        universe={"min_listing_age": None, "new_listing_exception": None}, screens=[],
        selection={"count": 5, "buffer": None, "max_changes_pct": None})
    m = exact.with_changes(weighting={"inclusion_factor": ir.load_methodology("chinext50").weighting.inclusion_factor})
    res = ir.rebuild(m, st, "2024-12", incumbents="none")
    f = res.constituents.set_index("code")["inclusion_factor"].to_dict()
    assert f == pytest.approx({"300001": 0.12, "300002": 0.13, "300003": 0.20, "300004": 0.60, "300005": 1.0})
    w = res.constituents.set_index("code")["weight"]
    assert w["300005"] / w["300001"] == pytest.approx(1.0 / 0.12)
    fe = ir.rebuild(exact, st, "2024-12", incumbents="none").constituents.set_index("code")["inclusion_factor"]
    assert fe.to_dict() == pytest.approx(ratios, abs=1e-6)


def test_same_inputs_identical_outputs(store: Any, tmp_path: Path) -> None:
    a = ir.rebuild("chinext", store, "2024-12", incumbents="none").to_json()
    copy = tmp_path / "copy.duckdb"
    shutil.copy(store.path, copy)
    with ir.open_store(copy) as st2:
        b = ir.rebuild("chinext", st2, "2024-12", incumbents="none").to_json()
    assert a == b


def test_no_data_after_the_cutoff_is_read(store: Any, tmp_path: Path) -> None:
    before = ir.rebuild(meth(screens=[{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20}]),
                        store, "2024-12", incumbents="none").to_json()
    p = tmp_path / "future.duckdb"
    shutil.copy(store.path, p)
    con = duckdb.connect(str(p))
    # rewrite the future: prices, turnover, shares, status and industries after the cutoff
    con.execute("UPDATE bars SET close = close * 50, amount = amount * (1 + random()) WHERE date > DATE '2024-10-31'")
    con.execute("UPDATE bars SET amount = 1 WHERE date > DATE '2024-10-31' AND code = '300001'")
    con.execute("INSERT INTO shares (code, effective_date, total_shares, float_shares, free_float_shares, source) VALUES ('300030', DATE '2024-11-01', 1e12, NULL, NULL, 'future')")
    con.execute("INSERT INTO status VALUES ('300002', DATE '2024-11-01', NULL, 'ST')")
    con.execute("INSERT INTO securities VALUES ('301500', 'SZ', 'chinext', 'future IPO', DATE '2024-11-05', NULL)")
    con.close()
    with ir.open_store(p) as st2:
        after = ir.rebuild(meth(screens=[{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20}]),
                           st2, "2024-12", incumbents="none").to_json()
    assert before == after


def test_dependencies_exclude_members_and_detect_cycles(store: Any, tmp_path: Path) -> None:
    a = tmp_path / "idx_a.yaml"
    b = tmp_path / "idx_b.yaml"
    a.write_text(yaml.safe_dump(meth(name="idx_a", selection={"count": 5})))
    b.write_text(yaml.safe_dump(meth(name="idx_b", universe={"exclude_members_of": [str(a)]})))
    res = ir.rebuild(b, store, "2024-12", incumbents="none")
    assert res.codes == codes(10, 6)
    assert "member of" in res.explain("300001")
    a.write_text(yaml.safe_dump(meth(name="idx_a", universe={"exclude_members_of": [str(b)]})))
    with pytest.raises(DependencyCycleError) as e:
        ir.rebuild(b, store, "2024-12", incumbents="none")
    assert "idx_b -> idx_a -> idx_b" in str(e.value)


def test_simulated_incumbents_roll_forward(store: Any) -> None:
    m = ir.load_methodology(meth(selection={"buffer": {"newcomers_within": 8, "incumbents_within": 12}}))
    res = ir.rebuild(m, store, "2025-06", incumbents="simulate")
    assert "simulated" in res.incumbents_source
    assert res.incumbents == codes(10)  # constant caps: the seed list persists
    assert len(res.adds) == 0 and len(res.deletes) == 0


def test_dates_outside_the_data_are_refused(store: Any) -> None:
    with pytest.raises(StoreError, match="store starts"):
        ir.rebuild(meth(), store, "2023-06", incumbents="none")
    with pytest.raises(StoreError, match="store ends"):
        ir.rebuild(meth(), store, "2026-06", incumbents="none")
    with pytest.raises(IndexReconError, match="is not a review"):
        ir.rebuild(meth(), store, "2024-11", incumbents="none")
    with pytest.raises(IndexReconError, match="YYYY-MM"):
        ir.rebuild(meth(), store, "Dec 2024", incumbents="none")
    with pytest.raises(StoreError, match="official"):
        ir.rebuild(meth(index_code="399006"), store, "2024-12", incumbents="official")


def test_next_review_is_provisional_when_data_ends_early(store: Any) -> None:
    sim = ir.simulate_review(meth(), store, incumbents="none")
    assert sim.dates.review == "2026-06" and sim.dates.provisional
    assert sim.warnings[0].startswith("provisional")


def test_as_of_picks_the_review_in_force(store: Any) -> None:
    res = ir.rebuild(meth(), store, as_of="2025-01-15", incumbents="none")
    assert res.dates.review == "2024-12"
    res = ir.rebuild(meth(), store, as_of="2024-12-13", incumbents="none")
    assert res.dates.review == "2024-06"
