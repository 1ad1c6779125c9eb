"""Rule families added with the second reading of the published texts (issue 18), on
hand-built stores whose answers follow from the inputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest

import indexrecon as ir
from factory import S, make_store, three_industries
from factory import meth as factory_meth
from indexrecon.errors import IndexReconError
from indexrecon.methodology.schema import deep_merge
from indexrecon.present.describe import describe_methodology

N_STOCKS = 30


def base_stocks() -> list[S]:
    # caps 30bn .. 1bn by code; amounts cycle so the liquidity order differs from the cap order
    return [
        S(f"300{i:03d}", cap=(N_STOCKS + 1 - i) * 1e9, amount=((i * 7) % N_STOCKS + 1) * 1e6, ff_ratio=0.5)
        for i in range(1, N_STOCKS + 1)
    ]


def by_amount() -> list[str]:
    """Codes from the most to the least liquid."""
    return [s.code for s in sorted(base_stocks(), key=lambda s: (-s.amount, s.code))]


def meth(**over: Any) -> dict[str, Any]:
    return factory_meth(**deep_merge({"selection": {"count": 30}}, over))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = tmp_path_factory.mktemp("rules") / "s.duckdb"
    make_store(p, base_stocks())
    st = ir.open_store(p)
    yield st
    st.close()


# -- incumbents_value: an incumbent's own threshold in the same screen --------------------
def test_incumbents_value_looser_liquidity_cut_for_incumbents(store: Any) -> None:
    liquid = by_amount()
    inc_20, inc_27, new_20 = liquid[19], liquid[26], liquid[20]  # amount ranks 20, 27, 21
    screen = {"type": "drop_bottom_pct", "metric": "avg_amount", "value": 50, "incumbents_value": 20}
    res = ir.rebuild(meth(screens=[screen]), store, "2024-12", incumbents=[inc_20, inc_27])
    # newcomers need the top 15 (50%), incumbents the top 24 (80%) of the same ranking of 30
    assert set(res.codes) == {*liquid[:15], inc_20}
    assert new_20 not in res.codes and "cut at 15" in res.explain(new_20)
    assert "cut at 24" in res.explain(inc_27) and inc_27 not in res.codes
    plain = ir.rebuild(meth(screens=[{**screen, "incumbents_value": None}]), store, "2024-12",
                       incumbents=[inc_20, inc_27])
    assert set(plain.codes) == set(liquid[:15])


def test_incumbents_value_for_value_and_count_screens(store: Any) -> None:
    # 300001..300030 have caps 30bn..1bn: newcomers need 26bn, incumbents 20bn
    m = meth(screens=[{"type": "min_value", "metric": "avg_total_cap", "value": 26e9, "incumbents_value": 20e9}])
    res = ir.rebuild(m, store, "2024-12", incumbents=["300008", "300012"])
    assert res.codes == ["300001", "300002", "300003", "300004", "300005", "300008"]
    m = meth(screens=[{"type": "keep_top_n", "metric": "avg_total_cap", "value": 3, "incumbents_value": 10}])
    res = ir.rebuild(m, store, "2024-12", incumbents=["300010", "300011"])
    assert res.codes == ["300001", "300002", "300003", "300010"]


@pytest.mark.parametrize(
    ("screen", "message"),
    [
        ({"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20, "incumbents_value": 100},
         "0 < incumbents_value < 100"),
        ({"type": "keep_top_n", "metric": "avg_amount", "value": 20, "incumbents_value": 2.5},
         "whole number >= 1 as incumbents_value"),
        ({"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20, "incumbents_value": 10,
          "applies_to": "newcomers"}, "contradict"),
    ],
)
def test_incumbents_value_is_validated(screen: dict[str, Any], message: str) -> None:
    with pytest.raises(IndexReconError, match=message):
        ir.load_methodology(meth(screens=[screen]))


def test_incumbents_value_in_plain_words() -> None:
    m = ir.load_methodology("csi300")
    liquidity = next(s for s in m.screens if s.metric == "avg_amount")
    assert liquidity.describe() == "drop the bottom 50% by avg_amount; incumbents: 40%"
    for name in ("csi500", "csi1000"):
        s = next(s for s in ir.load_methodology(name).screens if s.metric == "avg_amount")
        assert (s.value, s.incumbents_value) == (20, 10)


def test_liquidity_cut_over_the_whole_sample_space(store: Any, tmp_path: Any) -> None:
    """CSI 2000 V1.1: the bottom 10% by turnover of the whole sample space, the members of the
    indices it excludes ranked too, before they are excluded."""
    import yaml

    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(factory_meth(name="big", selection={"count": 5})))
    liquid = by_amount()
    for scope, cut in (("sample_space", 15), ("remaining", 13)):
        m = meth(universe={"exclude_members_of": [str(big)]},
                 screens=[{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 50, "scope": scope}])
        res = ir.rebuild(m, store, "2024-12", incumbents="none")
        members = {f"300{i:03d}" for i in range(1, 6)}
        pool = [c for c in liquid if c not in members] if scope == "remaining" else liquid
        assert set(res.codes) == set(pool[:cut]) - members, scope


def test_csi2000_v11_is_a_dated_version() -> None:
    m = ir.load_methodology("csi2000")
    old, new = m.for_date(dt.date(2023, 6, 12)), m.for_date(dt.date(2024, 12, 16))
    assert [(s.type, s.value) for s in old.screens[2:]] == [("drop_top_n", 1800), ("drop_bottom_pct", 20)]
    assert [(s.type, s.value, s.scope) for s in new.screens[2:]] == [
        ("drop_bottom_pct", 10, "sample_space"), ("drop_top_n", 1500, "sample_space")]
    assert new.universe.listing_age_by_board["bse"].min_age.months == 24


# -- dated rule changes of the SSE, STAR and CNI files --------------------------------------
def test_dated_versions_of_sse180_star50_and_chinext() -> None:
    sse180 = ir.load_methodology("sse180")
    liq = [s for s in sse180.for_date(dt.date(2024, 12, 16)).screens if s.metric == "avg_amount"]
    assert [(s.type, s.value) for s in liq] == [("drop_bottom_pct", 10)]  # the top 90% stay
    assert not [s for s in sse180.for_date(dt.date(2024, 6, 17)).screens if s.metric == "avg_amount"]
    star = ir.load_methodology("star50")
    before, after = star.for_date(dt.date(2023, 9, 18)).universe, star.for_date(dt.date(2023, 12, 11)).universe
    assert before.min_listing_age.months == 6 and after.min_listing_age.months == 12
    assert after.new_listing_exception == before.new_listing_exception  # quick inclusion kept
    chinext = ir.load_methodology("chinext")
    assert chinext.universe.max_suspended_days is None
    for day in (dt.date(2024, 12, 16), dt.date(2025, 6, 16)):
        assert chinext.for_date(day).screens[0].metric == "quality_flag"


def test_chinext_composite_drops_st_from_2025_07_25(tmp_path: Any) -> None:
    stocks = [S("300001", cap=5e9), S("300002", cap=4e9, status=[(dt.date(2025, 1, 2), None, "ST")])]
    p = tmp_path / "c.duckdb"
    make_store(p, stocks)
    with ir.open_store(p) as st:
        before = ir.rebuild("chinext_composite", st, as_of=dt.date(2025, 7, 24), incumbents="none")
        after = ir.rebuild("chinext_composite", st, as_of=dt.date(2025, 7, 25), incumbents="none")
    assert before.codes == ["300001", "300002"]
    assert after.codes == ["300001"]
    assert "ST on 2025-06-30 (the month-end before the monthly adjustment of 2025-07-14)" in after.explain("300002")


# -- ESG grades -----------------------------------------------------------------------------
def _rated_store(tmp_path: Any, ratings: list[tuple[str, dt.date, str, str]]) -> Any:
    p = tmp_path / "esg.duckdb"
    make_store(p, base_stocks())
    with ir.open_store(p, read_only=False) as st:
        st.con.execute("CREATE TABLE esg_ratings (code VARCHAR, date DATE, provider VARCHAR, grade VARCHAR)")
        st.con.executemany("INSERT INTO esg_ratings VALUES (?, ?, ?, ?)", ratings)
    return ir.open_store(p)


def test_min_grade_keeps_rated_b_or_better_and_the_unrated(tmp_path: Any) -> None:
    d = dt.date
    ratings = [
        ("300001", d(2024, 3, 1), "CNI", "CCC"),  # below B: out
        ("300002", d(2024, 3, 1), "CNI", "B"),  # B: in
        ("300003", d(2023, 3, 1), "CNI", "C"), ("300003", d(2024, 9, 1), "CNI", "A"),  # latest A: in
        ("300004", d(2024, 3, 1), "CNI", "AA"), ("300004", d(2024, 11, 20), "CNI", "C"),  # after the cutoff
        ("300005", d(2024, 3, 1), "CSI", "C"),  # another provider's grade: unrated by CNI, in
        ("300006", d(2024, 3, 1), "CNI", "Z"),  # off the scale: unrated, warned
    ]
    m = meth(screens=[{"type": "min_grade", "metric": "esg_grade_cni", "grade": "B"}])
    with _rated_store(tmp_path, ratings) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
    assert "300001" not in res.codes and "CNI ESG grade CCC fails screen 1" in res.explain("300001")
    assert {"300002", "300003", "300004", "300005", "300006", "300007"} <= set(res.codes)
    assert len(res.codes) == 29
    assert any("1 CNI ratings up to the cutoff have a grade not on its scale" in w for w in res.warnings)


def test_min_grade_without_ratings_is_skipped_with_a_warning(store: Any) -> None:
    m = meth(screens=[{"type": "min_grade", "metric": "esg_grade_csi", "grade": "CC"}])
    res = ir.rebuild(m, store, "2024-12", incumbents="none")
    assert len(res.codes) == 30
    assert any("skipped: the store has no CSI ESG grades (table esg_ratings)" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("screen", "message"),
    [
        ({"type": "min_grade", "metric": "esg_grade_cni", "grade": "B+"}, "one of CNI's grades"),
        ({"type": "min_grade", "metric": "esg_score", "grade": "B"}, "needs a grade metric"),
        ({"type": "min_grade", "metric": "esg_grade_cni", "grade": "B", "value": 2}, "not value"),
        ({"type": "min_value", "metric": "esg_score", "grade": "B", "value": 2}, "grade goes with type: min_grade"),
        ({"type": "min_value", "metric": "esg_score"}, "needs a value"),
    ],
)
def test_min_grade_is_validated(screen: dict[str, Any], message: str) -> None:
    with pytest.raises(IndexReconError, match=message):
        ir.load_methodology(meth(screens=[screen]))


def test_builtins_screen_esg_by_grade() -> None:
    chinext = ir.load_methodology("chinext").for_date(dt.date(2025, 6, 16))
    esg = next(s for s in chinext.screens if s.type == "min_grade")
    assert (esg.metric, esg.grade) == ("esg_grade_cni", "B")
    for name, day in (("sse180", dt.date(2024, 12, 16)), ("csi_a500", dt.date(2024, 12, 16))):
        esg = next(s for s in ir.load_methodology(name).for_date(day).screens if s.type == "min_grade")
        assert (esg.metric, esg.grade) == ("esg_grade_csi", "CC")


# -- new methodologies -----------------------------------------------------------------------
def test_sse_composite_2020_revision_is_a_version() -> None:
    m = ir.load_methodology("sse_composite")
    old, new = m.for_date(dt.date(2020, 7, 21)).universe, m.for_date(dt.date(2020, 7, 22)).universe
    assert old.boards == ["sh_main"] and not old.exclude_st and old.min_listing_age.trading_days == 10
    assert new.boards == ["sh_main", "star"] and new.exclude_st and new.min_listing_age.months == 12
    assert new.new_listing_exception is not None and new.new_listing_exception.top_n == 10
    assert m.weighting.method == "total_cap" and m.selection.all_eligible


def test_sse_composite_drops_a_warned_stock_at_the_next_monthly_adjustment(real_store: Any) -> None:
    """600753 trades under the 5% limit from 2025-05-06: still in the SSE Composite after the
    May adjustment (2025-05-12, April's status), out from the June one (2025-06-16)."""
    may = ir.rebuild("sse_composite", real_store, as_of="2025-05-20")
    june = ir.rebuild("sse_composite", real_store, as_of="2025-06-16")
    assert "600753" in may.codes and "600753" not in june.codes
    assert "ST on 2025-05-31 (the month-end before the monthly adjustment of 2025-06-16)" in june.explain("600753")


def test_szse_component_tracks_399001(real_store: Any) -> None:
    """The whole reconstruction against the official closes (docs/methodologies.md quotes the
    figures of 2022-06-13 .. 2026-07-01: tracking error 1.6%, correlation 0.997)."""
    bt = ir.backtest("szse_component", real_store, start="2024-06-17", end="2024-12-31", against="399001")
    assert bt.stats["correlation"] > 0.98
    assert bt.stats["tracking_error"] < 0.04
    res = bt.reviews
    assert len(res) == 2 and set(res["constituents"]) == {500}


def test_csi_a500_tracks_000510_with_its_change_cap(real_store: Any) -> None:
    """CSI A500 against its official closes (docs/methodologies.md quotes 2.55% a year from
    2024-12-16); the changes per review stay within the 10% cap."""
    bt = ir.backtest("csi_a500", real_store, start="2024-12-16", end="2025-12-31", against="000510")
    assert bt.stats["correlation"] > 0.98
    assert bt.stats["tracking_error"] < 0.04
    res = bt.reviews
    assert set(res["constituents"]) == {500} and (res["adds"] <= 50).all()


# -- inclusion_factor: exact -----------------------------------------------------------------
def test_inclusion_factor_exact_weights_by_the_free_float_ratio_itself(tmp_path: Any) -> None:
    p = tmp_path / "ff.duckdb"
    make_store(p, [S("300001", cap=10e9, ff_ratio=0.5), S("300002", cap=10e9, ff_ratio=0.17)])
    tiers = [{"up_to_pct": 15, "factor_pct": "ceil"}, {"up_to_pct": 20, "factor_pct": 20},
             {"up_to_pct": 50, "factor_pct": 50}, {"up_to_pct": 100, "factor_pct": 100}]
    with ir.open_store(p) as st:
        w = {}
        for label, factor in (("exact", "exact"), ("tiers", tiers)):
            m = meth(weighting={"method": "free_float_cap", "inclusion_factor": factor})
            c = ir.rebuild(m, st, "2024-12", incumbents="none").constituents.set_index("code")
            w[label] = (c.loc["300002", "weight"], c.loc["300002", "inclusion_factor"])
    assert w["exact"][0] == pytest.approx(0.17 / 0.67) and w["exact"][1] == pytest.approx(0.17)
    assert w["tiers"][0] == pytest.approx(0.2 / 0.7) and w["tiers"][1] == pytest.approx(0.2)
    with pytest.raises(IndexReconError, match="exact only applies to method free_float_cap"):
        ir.load_methodology(meth(weighting={"method": "total_cap", "inclusion_factor": "exact"}))
    exact = ir.load_methodology(meth(weighting={"method": "free_float_cap", "inclusion_factor": "exact"}))
    assert "the exact free-float ratio" in describe_methodology(exact)


# -- ST at the review, not the cutoff ---------------------------------------------------------
def test_st_read_on_the_day_before_the_effective_date(tmp_path: Any) -> None:
    d = dt.date
    stocks = base_stocks()[:5]
    stocks[0].status = [(d(2024, 11, 20), None, "ST")]  # after the cutoff 2024-10-31, before 2024-12-16
    stocks[1].status = [(d(2024, 3, 1), d(2024, 11, 15), "ST")]  # lifted after the cutoff
    stocks[2].status = [(d(2024, 12, 16), None, "ST")]  # on the effective date itself: too late
    p = tmp_path / "st.duckdb"
    make_store(p, stocks)
    with ir.open_store(p) as st:
        cut = ir.rebuild(meth(), st, "2024-12", incumbents="none")
        late = ir.rebuild(meth(universe={"exclude_st": {"as_of": "effective"}}), st, "2024-12", incumbents="none")
    assert cut.codes == ["300001", "300003", "300004", "300005"]
    assert "ST at the data cutoff" in cut.explain("300002")
    assert late.codes == ["300002", "300003", "300004", "300005"]
    assert "ST on 2024-12-13 (the day before the effective date)" in late.explain("300001")
    assert "status on the day before the effective date" in describe_methodology(
        ir.load_methodology(meth(universe={"exclude_st": {"as_of": "effective"}})))
    assert ir.load_methodology("csi300").universe.st_as_of == "effective"


def test_st_read_monthly_at_the_month_end_before_the_latest_adjustment(tmp_path: Any) -> None:
    """SSE / CNI composites: a warning of one month counts from the trading day after the
    second Friday of the next; 2024-12's adjustment (2024-12-16) applies November's status."""
    from indexrecon.methodology.schedule import TradingCalendar, monthly_adjustment

    d = dt.date
    cal = TradingCalendar([d(2024, 11, 1) + dt.timedelta(days=i) for i in range(90)
                           if (d(2024, 11, 1) + dt.timedelta(days=i)).weekday() < 5])
    assert monthly_adjustment(cal, d(2024, 12, 13)) == (d(2024, 11, 11), d(2024, 10, 31))
    assert monthly_adjustment(cal, d(2024, 12, 16)) == (d(2024, 12, 16), d(2024, 11, 30))
    assert monthly_adjustment(cal, d(2025, 1, 14)) == (d(2025, 1, 13), d(2024, 12, 31))
    stocks = base_stocks()[:5]
    stocks[0].status = [(d(2024, 11, 20), None, "ST")]  # warned in November: out from 2024-12-16
    stocks[1].status = [(d(2024, 3, 1), d(2024, 11, 15), "ST")]  # lifted in November: back
    stocks[2].status = [(d(2024, 12, 2), None, "ST")]  # warned in December: stays until January
    p = tmp_path / "st.duckdb"
    make_store(p, stocks)
    monthly = meth(universe={"exclude_st": {"as_of": "monthly"}})
    with ir.open_store(p) as st:
        res = ir.rebuild(monthly, st, "2024-12", incumbents="none")
    assert res.codes == ["300002", "300003", "300004", "300005"]
    assert "ST on 2024-11-30 (the month-end before the monthly adjustment of 2024-12-16)" in res.explain("300001")
    assert "second Friday of the month after the warning" in describe_methodology(ir.load_methodology(monthly))
    for name in ("sse_composite", "chinext_composite"):
        m = ir.load_methodology(name)
        assert m.universe.st_as_of == "cutoff" and m.for_date(dt.date(2025, 8, 1)).universe.st_as_of == "monthly"


# -- new listings counted from their 6th trading day (CSI §6.2) -------------------------------
def test_window_averages_start_at_a_new_listings_sixth_trading_day(tmp_path: Any) -> None:
    p = tmp_path / "ipo.duckdb"
    make_store(p, [*base_stocks()[:3], S("301999", cap=5e9, amount=1e6, list_date=dt.date(2024, 9, 2))])
    with ir.open_store(p, read_only=False) as st:  # the first five sessions trade 100 times as much
        st.con.execute("UPDATE bars SET amount = 1e8 WHERE code = '301999' AND date < DATE '2024-09-09'")
    with ir.open_store(p) as st:
        plain = ir.rebuild(meth(), st, "2024-12", incumbents="none").candidates.set_index("code")
        m = meth(lookback={"skip_listing_days": 5})
        skip = ir.rebuild(m, st, "2024-12", incumbents="none").candidates.set_index("code")
    assert plain.loc["301999", "avg_amount"] > 10e6
    assert skip.loc["301999", "avg_amount"] == pytest.approx(1e6)
    assert skip.loc["301999", "traded_days"] == plain.loc["301999", "traded_days"] - 5
    assert skip.loc["301999", "suspended_days"] == plain.loc["301999", "suspended_days"] == 0
    assert skip.loc["300001", "avg_amount"] == plain.loc["300001", "avg_amount"]  # listed long before
    assert "new listings from their trading day 6" in describe_methodology(ir.load_methodology(m))


# -- loss-making newcomers -------------------------------------------------------------------
def test_loss_making_newcomers_are_not_candidates(tmp_path: Any) -> None:
    d = dt.date
    stocks = [*base_stocks()[:6], S("688001", cap=20e9, board="star")]
    p = tmp_path / "pe.duckdb"
    make_store(p, stocks)
    with ir.open_store(p, read_only=False) as st:
        st.con.execute("CREATE TABLE IF NOT EXISTS valuation (code VARCHAR, date DATE, pe_ttm DOUBLE, pb DOUBLE)")
        st.con.executemany("INSERT INTO valuation (code, date, pe_ttm, pb) VALUES (?, ?, ?, ?)", [
            ("300001", d(2024, 10, 31), -5.0, 1.0),  # a loss, newcomer: out
            ("300002", d(2024, 10, 31), None, 1.0),  # missing PE: a loss, out
            ("300003", d(2024, 10, 31), -3.0, 1.0),  # a loss, but an incumbent: stays
            ("300004", d(2024, 4, 30), -1.0, 1.0), ("300004", d(2024, 10, 31), 12.0, 1.0),  # profitable now
            ("300005", d(2024, 11, 29), -2.0, 1.0),  # after the cutoff: not seen
            ("688001", d(2024, 10, 31), -8.0, 1.0),  # STAR: exempt
        ])  # 300006: no row at all, spared
    screen = {"type": "min_value", "metric": "profitable", "value": 1, "applies_to": "newcomers",
              "boards": ["chinext"], "if_missing": "keep"}
    m = meth(universe={"boards": ["chinext", "star"]}, screens=[screen])
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents=["300003"])
    assert res.codes == ["300003", "300004", "300005", "300006", "688001"]
    assert "profitable 0.0 fails screen 1" in res.explain("300001")
    assert "(on chinext) (stocks without data kept)" in ir.load_methodology(m).screens[0].describe()


def test_profitability_screen_without_valuation_data_is_skipped(store: Any) -> None:
    m = meth(screens=[{"type": "min_value", "metric": "profitable", "value": 1, "applies_to": "newcomers"}])
    res = ir.rebuild(m, store, "2024-12", incumbents="none")
    assert len(res.codes) == 30
    assert any("skipped: the store has no profitability data (table valuation" in w for w in res.warnings)


# -- long suspensions ------------------------------------------------------------------------
def test_suspended_run_counts_the_days_without_a_bar_up_to_the_cutoff(tmp_path: Any) -> None:
    d = dt.date
    stocks = base_stocks()[:4]
    stocks[0].gaps = (d(2024, 9, 2), d(2024, 12, 31))  # no bar for the last 44 sessions to 2024-10-31
    stocks[1].gaps = (d(2024, 10, 28), d(2024, 11, 30))  # four sessions at the cutoff
    stocks[2].gaps = (d(2024, 6, 3), d(2024, 8, 30))  # long, but resumed before the cutoff
    p = tmp_path / "susp.duckdb"
    make_store(p, stocks)
    m = meth(screens=[{"type": "max_value", "metric": "suspended_run", "value": 25}])
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents=["300001"])
    c = res.candidates.set_index("code")
    assert list(c.loc[["300001", "300002", "300003", "300004"], "suspended_run"]) == [44, 4, 0, 0]
    assert res.codes == ["300002", "300003", "300004"]
    assert "suspended_run 44 fails screen 1" in res.explain("300001")


# -- a change cap together with industry-balanced selection ---------------------------------
def _two_industries(tmp_path: Any) -> Any:
    a = [S(f"3000{i:02d}", cap=(32 - 2 * i) * 1e9, industry="630000") for i in range(1, 7)]  # 30, 28, ... 20
    b = [S(f"3000{i:02d}", cap=(43 - 2 * i) * 1e9, industry="270000") for i in range(7, 13)]  # 29, 27, ... 19
    p = tmp_path / "ind.duckdb"
    make_store(p, [*a, *b])
    return ir.open_store(p)


def test_change_cap_with_industry_balance_refills_each_industry(tmp_path: Any) -> None:
    sel = {"count": 6, "max_changes_pct": 34, "industry_balance": {"level": "sw_l1", "allocate_by": "avg_total_cap"}}
    with _two_industries(tmp_path) as st:
        free = ir.rebuild(meth(selection={**sel, "max_changes_pct": None}), st, "2024-12",
                          incumbents=["300004", "300005", "300006", "300010", "300011", "300012"])
        capped = ir.rebuild(meth(selection=sel), st, "2024-12",
                            incumbents=["300004", "300005", "300006", "300010", "300011", "300012"])
        one_side = ir.rebuild(meth(selection=sel), st, "2024-12", incumbents=["300004", "300005", "300006"])
    assert set(free.codes) == {"300001", "300002", "300003", "300007", "300008", "300009"}
    # two changes (the two best-ranked newcomers); each industry keeps its three places
    assert set(capped.codes) == {"300001", "300007", "300004", "300005", "300010", "300011"}
    assert "not added: at most 2 changes per review" in capped.explain("300002")
    assert "kept: at most 2 changes per review" in capped.explain("300004")
    # an industry without incumbents to keep fills its places with newcomers: the cap yields
    assert set(one_side.codes) == {"300001", "300007", "300004", "300005", "300008", "300009"}


def test_a_composite_ranks_ties_go_to_the_larger_tie_break_value(tmp_path: Any) -> None:
    """A composite rank is lower-is-better; its tie-break (cap) is larger-is-better: of two
    stocks with the same composite, the larger cap ranks first (it ranked last before)."""
    p = tmp_path / "tie.duckdb"
    make_store(p, [S("300001", cap=9e9, amount=2e8), S("300002", cap=10e9, amount=1e8),
                   S("300003", cap=1e9, amount=1e7)])
    comp = meth(selection={"rank_by": "composite_rank", "count": 1, "tie_break": ["avg_total_cap"],
                           "composite": [{"metric": "avg_total_cap"}, {"metric": "avg_amount"}]})
    with ir.open_store(p) as st:
        res = ir.rebuild(comp, st, "2024-12", incumbents="none")
    ranks = res.candidates.set_index("code")["rank"]
    assert res.codes == ["300002"] and ranks["300002"] == 1 and ranks["300001"] == 2
    assert "ties broken by avg_total_cap, code (larger first)" in describe_methodology(ir.load_methodology(comp))
    small = meth(selection={"order": "asc", "tie_break": ["avg_amount"], "count": 1})
    with ir.open_store(p) as st:  # a small-cap ranking keeps breaking ties the small way
        assert ir.rebuild(small, st, "2024-12", incumbents="none").codes == ["300003"]


def test_buffer_and_change_cap_with_industry_balance(tmp_path: Any) -> None:
    # each industry has 3 of the 6 places; the 4/8 buffer scales to 2/4 within an industry
    sel = {"count": 6, "buffer": {"newcomers_within": 4, "incumbents_within": 8},
           "industry_balance": {"level": "sw_l1", "allocate_by": "avg_total_cap"}}
    inc = ["300004", "300005", "300010", "300011", "300012"]
    with _two_industries(tmp_path) as st:
        buf = ir.rebuild(meth(selection=sel), st, "2024-12", incumbents=inc)
        both = ir.rebuild(meth(selection={**sel, "max_changes_pct": 34}), st, "2024-12", incumbents=inc)
    # the newcomers within 2 of their industry and the incumbents within 4 come first
    assert set(buf.codes) == {"300001", "300002", "300004", "300007", "300008", "300010"}
    assert "kept by incumbent buffer 4 of its 3 places" in buf.explain("300004")
    assert "300005" not in buf.codes and "outside its 3 places" in buf.explain("300005")
    # then at most 2 newcomers (the best-ranked, 30bn and 29bn); each held-back newcomer's
    # place goes to its own industry's best displaced incumbent
    assert set(both.codes) == {"300001", "300007", "300004", "300005", "300010", "300011"}
    assert "not added: at most 2 changes per review" in both.explain("300002")
    assert "not added: at most 2 changes per review" in both.explain("300008")
    assert "kept: at most 2 changes per review" in both.explain("300005")
    assert both.constituents.groupby("sw_l1_code").size().to_dict() == {"270000": 3, "630000": 3}


# -- the leaders' size condition and allocation over the sample space -----------------------
def _leader_store(tmp_path: Any) -> Any:
    # 300204 (2bn, rank 12) is alone in its own level-2 industry, 300203 (4bn, rank 11) too
    p = three_industries(tmp_path / "lead.duckdb")
    con = duckdb.connect(str(p))
    con.execute("UPDATE industry SET sw_l2_code = sw_l1_code")
    con.execute("UPDATE industry SET sw_l2_code = 'C2' || code WHERE code IN ('300203', '300204')")
    con.close()
    return ir.open_store(p)


def test_leaders_within_a_rank_line(tmp_path: Any) -> None:
    ib = {"level": "sw_l1", "allocate_by": "avg_total_cap", "leaders": "sw_l2"}
    with _leader_store(tmp_path) as st:
        every = ir.rebuild(meth(selection={"count": 6, "industry_balance": ib}), st, "2024-12", incumbents="none")
        large = ir.rebuild(meth(selection={"count": 6, "industry_balance": {**ib, "leaders_within": 11}}),
                           st, "2024-12", incumbents="none")
    # without the line C's three level-2 leaders (300201, 300203, 300204) all enter, though
    # its 20% share gives it 1.2 places: A gives one of its 3 back
    assert {"300201", "300203", "300204"} <= set(every.codes)
    assert every.constituents.groupby("sw_l1_code").size().to_dict() == {"A00000": 2, "B00000": 1, "C00000": 3}
    # within the top 11 only 300201 and 300203 lead: 300204 ranks 12th and is no leader
    assert "300203" in large.codes and "largest of its industry" in large.explain("300203")
    assert "300204" not in large.codes and "largest" not in large.explain("300204")
    assert large.constituents.groupby("sw_l1_code").size().to_dict() == {"A00000": 3, "B00000": 1, "C00000": 2}
    with pytest.raises(IndexReconError, match="leaders_within needs leaders"):
        ir.load_methodology(meth(selection={"count": 6, "industry_balance": {"leaders_within": 10}}))


def test_industry_places_from_the_sample_space(tmp_path: Any) -> None:
    # A and B hold 60bn each; a liquidity screen leaves 2 of B's 6 stocks
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9 / 2, industry="A00000") for i in range(1, 7)]
    stocks += [S(f"3001{i:02d}", cap=(20 - i) * 1e9 / 2, industry="B00000", amount=1e8 if i <= 2 else 1e5)
               for i in range(1, 7)]
    p = tmp_path / "ss.duckdb"
    make_store(p, stocks)
    ib = {"level": "sw_l1", "allocate_by": "avg_total_cap"}
    screens = [{"type": "min_value", "metric": "avg_amount", "value": 1e6}]
    with ir.open_store(p) as st:
        ranked = ir.rebuild(meth(screens=screens, selection={"count": 4, "industry_balance": ib}),
                            st, "2024-12", incumbents="none")
        space = ir.rebuild(meth(screens=screens, selection={
            "count": 4, "industry_balance": {**ib, "allocate_over": "sample_space"}}), st, "2024-12", incumbents="none")
    # over the stocks left A has 3 of the cap; over the sample space A and B have half each
    assert ranked.constituents.groupby("sw_l1_code").size().to_dict() == {"A00000": 3, "B00000": 1}
    assert space.constituents.groupby("sw_l1_code").size().to_dict() == {"A00000": 2, "B00000": 2}
    assert set(space.codes) == {"300001", "300002", "300101", "300102"}


def test_leaders_do_not_let_a_lower_newcomer_displace_an_incumbent(tmp_path: Any) -> None:
    # one industry, 3 places: leaders 300001 (level 2 'X') and the small 300006 ('Y') take two;
    # the third goes to the incumbent 300002 (2nd), not to the newcomer 300003 (3rd)
    stocks = [S(f"30000{i}", cap=c * 1e9) for i, c in enumerate([10, 9, 8, 7, 6, 1], 1)]
    p = tmp_path / "tier.duckdb"
    make_store(p, stocks)
    con = duckdb.connect(str(p))
    con.execute("UPDATE industry SET sw_l2_code = CASE WHEN code = '300006' THEN 'Y' ELSE 'X' END")
    con.close()
    sel = {"count": 3, "industry_balance": {"level": "sw_l1", "allocate_by": "avg_total_cap", "leaders": "sw_l2"}}
    with ir.open_store(p) as st:
        res = ir.rebuild(meth(selection=sel), st, "2024-12", incumbents=["300002"])
    assert set(res.codes) == {"300001", "300002", "300006"}
    assert "outside its 3 places" in res.explain("300003")
