"""Index levels on hand-built stores whose answers follow from the numbers in each test.

Prices in tests/factory.py stores are a constant 10; each test moves the prices, shares,
dividends and listings it needs, so every level below can be computed by hand. The central
property is divisor continuity: a review or a corporate action never moves the level at the
moment it takes effect; only prices do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import indexrecon as ir
from factory import S, make_store
from indexrecon.analysis.baskets import Basket, basket_from_review, implied_shares
from indexrecon.analysis.levels import (
    drifted_weights,
    index_levels,
    official_weights_on,
    weights_on,
)
from indexrecon.analysis.performance import performance_stats, relative_stats
from indexrecon.analysis.tracking import track

D = dt.date
START, END = D(2024, 1, 1), D(2024, 6, 28)
BASE = D(2024, 1, 2)


def build(tmp_path: Path, stocks: list[S], name: str = "c.duckdb") -> Any:
    p = tmp_path / name
    make_store(p, stocks, start=START, end=END)
    return ir.open_store(p, read_only=False)


def price_from(st: Any, code: str, day: dt.date, price: float) -> None:
    """The stock closes at `price` from `day` on."""
    st.con.execute(
        "UPDATE bars SET open = ?, high = ?, low = ?, close = ? WHERE code = ? AND date >= ?",
        [price, price, price, price, code, day],
    )


def shares_from(st: Any, code: str, day: dt.date, total: float, source: str) -> None:
    st.con.execute("INSERT INTO shares (code, effective_date, total_shares, float_shares, free_float_shares, source) VALUES (?, ?, ?, ?, ?, ?)", [code, day, total, total, total, source])


def levels(st: Any, baskets: list[Basket], start: dt.date = BASE, end: dt.date = END) -> pd.DataFrame:
    path, _ = index_levels(st, baskets, start, end)
    return path.levels.set_index("date")


def basket(weights: dict[str, float], base: dt.date, start: dt.date, shares: str = "total",
           scale: float = 1.0) -> Basket:
    w = pd.DataFrame({"code": list(weights), "weight": list(weights.values())})
    return Basket(weights=w, base_date=base, start=start, shares=shares, scale=scale)  # type: ignore[arg-type]


def lv(df: pd.DataFrame, day: dt.date, col: str = "level") -> float:
    return float(df.loc[day, col])


def test_constant_prices_give_a_flat_index(tmp_path: Path) -> None:
    st = build(tmp_path, [S("300001", 1e9), S("300002", 3e9)])
    df = levels(st, [basket({"300001": 0.25, "300002": 0.75}, D(2024, 1, 2), D(2024, 1, 3))])
    assert df["level"].tolist() == pytest.approx([1000.0] * len(df))
    assert df.index[0] == D(2024, 1, 2) and df.index[-1] == END
    assert df["constituents"].iloc[1:].eq(2).all()


def test_a_review_leaves_the_level_unchanged_when_it_takes_effect(tmp_path: Path) -> None:
    # Basket 1 holds A only; basket 2 (effective 2024-03-01) holds B and C half and half.
    # B doubles in February while outside the index; C gains 10% on 2024-03-04.
    st = build(tmp_path, [S("300001", 1e9), S("300002", 1e9), S("300003", 1e9)])
    price_from(st, "300002", D(2024, 2, 1), 20.0)
    price_from(st, "300003", D(2024, 3, 4), 11.0)
    eff = D(2024, 3, 1)
    # scale: the market value each basket's weights stand for (its weighting shares x price)
    b1 = basket({"300001": 1.0}, D(2024, 1, 2), D(2024, 1, 3), scale=1e9)
    b2 = basket({"300002": 0.5, "300003": 0.5}, D(2024, 2, 28), eff, scale=2e9)
    df = levels(st, [b1, b2])
    assert lv(df, D(2024, 2, 29)) == pytest.approx(1000.0)  # B's jump was outside the index
    assert lv(df, eff) == pytest.approx(1000.0)  # the switch itself moves nothing
    assert lv(df, D(2024, 3, 4)) == pytest.approx(1050.0)  # half the index gains 10%
    assert lv(df, END) == pytest.approx(1050.0)
    # The divisor took the change: market value / level jumps at the switch, the level not.
    assert lv(df, D(2024, 2, 29), "divisor") == pytest.approx(1e9 / 1000)
    assert lv(df, eff, "divisor") == pytest.approx(2e9 / 1000)
    assert lv(df, END, "divisor") == pytest.approx(2e9 / 1000)


def test_review_transition_with_engine_weights(tmp_path: Path) -> None:
    # A top-3 total-cap index of five stocks (caps 5..1 bn), reviewed in March and May on
    # one month of data. 300005 quadruples in March (1 -> 4 bn) and enters in May in place of
    # 300003; the switch leaves the level alone and its later move counts at its new weight.
    stocks = [S(f"30000{i}", cap=(6 - i) * 1e9) for i in range(1, 6)]
    st = build(tmp_path, stocks)
    price_from(st, "300005", D(2024, 3, 1), 40.0)  # 1bn -> 4bn: rank 1 at the April cutoff
    m = {
        "name": "t3", "title": "top 3",
        "universe": {"boards": ["chinext"], "exclude_st": False, "exclude_delisting": False},
        "lookback": {"months": 1},
        "selection": {"rank_by": "total_cap", "count": 3},
        "weighting": {"method": "total_cap"},
        "schedule": {"review_months": [3, 5], "cutoff_months_before": 1},
    }
    r1 = ir.rebuild(m, st, "2024-03", incumbents="none")
    r2 = ir.rebuild(m, st, "2024-05", incumbents=r1.codes)
    assert r1.codes == ["300001", "300002", "300003"]
    assert "300005" in r2.codes and "300003" not in r2.codes
    price_from(st, "300005", D(2024, 6, 3), 44.0)  # +10% after the May review took effect
    eff = r2.dates.effective
    path, _ = index_levels(st, [basket_from_review(r1), basket_from_review(r2)], r1.dates.effective, END)
    df = path.levels.set_index("date")
    assert df["level"].loc[:D(2024, 5, 31)].tolist() == pytest.approx([1000.0] * len(df.loc[:D(2024, 5, 31)]))
    assert lv(df, eff) == pytest.approx(1000.0)
    w5 = float(r2.constituents.set_index("code").loc["300005", "weight"])  # 4 / (4 + 5 + 4) bn
    assert w5 == pytest.approx(4 / 13)
    assert lv(df, D(2024, 6, 3)) == pytest.approx(1000.0 * (1 + 0.1 * w5))
    # One-way turnover at the May review: 300003 (3/12 of the old index) out, 300005 in.
    t = path.transitions.set_index("label")["turnover"]
    old = pd.Series({"300001": 5 / 12, "300002": 4 / 12, "300003": 3 / 12})
    new = pd.Series({"300001": 5 / 13, "300002": 4 / 13, "300005": 4 / 13})
    assert t["2024-05"] == pytest.approx(0.5 * new.sub(old, fill_value=0).abs().sum())
    assert pd.isna(t["2024-03"])


@pytest.mark.parametrize("source", ["bonus_conversion", "stock_bonus_conversion", "unlabelled"])
def test_bonus_shares_leave_the_level_unchanged(tmp_path: Path, source: str) -> None:
    # 10-for-10 bonus on 2024-03-01: shares double, the raw price halves. Labelled or not
    # (then inferred from the price), the index does not move; the weight stays put.
    st = build(tmp_path, [S("300001", 1e9), S("300002", 1e9)])
    ex = D(2024, 3, 1)
    shares_from(st, "300001", ex, 2e8, source)
    price_from(st, "300001", ex, 5.0)
    price_from(st, "300001", D(2024, 3, 4), 5.5)  # then +10%
    for shares in ("total", "bonus"):
        df = levels(st, [basket({"300001": 0.5, "300002": 0.5}, D(2024, 1, 2), D(2024, 1, 3), shares)])
        assert lv(df, ex) == pytest.approx(1000.0)
        assert lv(df, ex, "total_return_level") == pytest.approx(1000.0)
        assert lv(df, D(2024, 3, 4)) == pytest.approx(1050.0)
    w = drifted_weights(st, pd.DataFrame({"code": ["300001", "300002"], "weight": [0.5, 0.5]}),
                        D(2024, 1, 2), ex)
    assert w.set_index("code")["weight"].to_dict() == pytest.approx({"300001": 0.5, "300002": 0.5})


def test_share_changes_move_weights_not_the_level(tmp_path: Path) -> None:
    # A placement (+20% shares, price unchanged) and a stale-estimate revision (x4.5 shares)
    # change weighting shares: the divisor absorbs both; later price moves use the new weights.
    st = build(tmp_path, [S("300001", 1e9), S("300002", 1e9)])
    shares_from(st, "300001", D(2024, 3, 1), 1.2e8, "placement")
    price_from(st, "300001", D(2024, 3, 4), 11.0)
    w0 = pd.DataFrame({"code": ["300001", "300002"], "weight": [0.5, 0.5]})
    df = levels(st, [Basket(w0, D(2024, 1, 2), D(2024, 1, 3), shares="total")])
    assert lv(df, D(2024, 3, 1)) == pytest.approx(1000.0)
    assert lv(df, D(2024, 3, 4)) == pytest.approx(1000.0 * (1 + 0.1 * 1.2 / 2.2))
    w = drifted_weights(st, w0, D(2024, 1, 2), D(2024, 3, 1)).set_index("code")["weight"]
    assert w["300001"] == pytest.approx(1.2 / 2.2)
    # Implied shares of a snapshot ignore the store's non-bonus share changes.
    dfb = levels(st, [Basket(w0, D(2024, 1, 2), D(2024, 1, 3), shares="bonus")])
    assert lv(dfb, D(2024, 3, 4)) == pytest.approx(1050.0)

    st2 = build(tmp_path, [S("300001", 1e9), S("300002", 1e9)], "c2.duckdb")
    shares_from(st2, "300001", D(2024, 3, 1), 4.5e8, "base_share")  # no price move: not a bonus
    df2 = levels(st2, [Basket(w0, D(2024, 1, 2), D(2024, 1, 3), shares="total")])
    assert lv(df2, D(2024, 3, 1)) == pytest.approx(1000.0)


def test_cash_dividend_price_and_total_return(tmp_path: Path) -> None:
    # 1 CNY cash on 2024-03-01: the raw price drops 10 -> 9. The price index loses half of
    # 10%; the total-return index reinvests the cash and does not move.
    st = build(tmp_path, [S("300001", 1e9), S("300002", 1e9)])
    ex = D(2024, 3, 1)
    st.con.execute("INSERT INTO dividends VALUES ('300001', ?, 1.0)", [ex])
    price_from(st, "300001", ex, 9.0)
    df = levels(st, [basket({"300001": 0.5, "300002": 0.5}, D(2024, 1, 2), D(2024, 1, 3))])
    assert lv(df, D(2024, 2, 29)) == pytest.approx(1000.0)
    assert lv(df, ex) == pytest.approx(950.0)
    assert lv(df, ex, "total_return_level") == pytest.approx(1000.0)
    assert (df["total_return_level"] >= df["level"] - 1e-9).all()
    assert lv(df, END, "total_return_level") > lv(df, END)


def test_cash_and_bonus_on_the_same_ex_date(tmp_path: Path) -> None:
    # 10 CNY price, 1 CNY cash and 10-for-10 bonus: reference price (10 - 1) / 2 = 4.5.
    st = build(tmp_path, [S("300001", 1e9)])
    ex = D(2024, 3, 1)
    st.con.execute("INSERT INTO dividends VALUES ('300001', ?, 1.0)", [ex])
    shares_from(st, "300001", ex, 2e8, "bonus_conversion")
    price_from(st, "300001", ex, 4.5)
    df = levels(st, [basket({"300001": 1.0}, D(2024, 1, 2), D(2024, 1, 3))])
    assert lv(df, ex) == pytest.approx(900.0)  # the price index loses the cash, not the bonus
    assert lv(df, ex, "total_return_level") == pytest.approx(1000.0)


def test_suspended_stock_carries_its_last_price(tmp_path: Path) -> None:
    st = build(tmp_path, [S("300001", 1e9, gaps=(D(2024, 3, 1), D(2024, 3, 29))), S("300002", 1e9)])
    price_from(st, "300001", D(2024, 4, 1), 12.0)  # resumes 20% higher
    df = levels(st, [basket({"300001": 0.5, "300002": 0.5}, D(2024, 1, 2), D(2024, 1, 3))])
    assert df.loc[D(2024, 3, 1):D(2024, 3, 29), "level"].tolist() == pytest.approx([1000.0] * 21)
    assert df.loc[D(2024, 3, 1):D(2024, 3, 29), "constituents"].eq(2).all()
    assert lv(df, D(2024, 4, 1)) == pytest.approx(1100.0)


def test_delisted_constituent_leaves_without_moving_the_level(tmp_path: Path) -> None:
    # 300001 delists on 2024-03-01 (last bar the day before); 300002 enters a delisting
    # arrangement on 2024-04-01 and collapses; both leave at those dates, the rest carries on.
    stocks = [
        S("300001", 1e9, delist_date=D(2024, 3, 1)),
        S("300002", 1e9, status=[(D(2024, 4, 1), None, "delisting")]),
        S("300003", 1e9),
        S("300004", 1e9),
    ]
    st = build(tmp_path, stocks)
    price_from(st, "300002", D(2024, 4, 1), 1.0)
    price_from(st, "300003", D(2024, 3, 4), 11.0)
    w = {"300001": 0.25, "300002": 0.25, "300003": 0.25, "300004": 0.25}
    df = levels(st, [basket(w, D(2024, 1, 2), D(2024, 1, 3))])
    assert lv(df, D(2024, 3, 1)) == pytest.approx(1000.0)
    assert int(df.loc[D(2024, 3, 1), "constituents"]) == 3
    assert lv(df, D(2024, 3, 4)) == pytest.approx(1000.0 * (1 + 0.1 / 3))
    after = lv(df, D(2024, 3, 4))
    assert lv(df, D(2024, 4, 1)) == pytest.approx(after)  # the collapse is not in the index
    assert int(df.loc[D(2024, 4, 1), "constituents"]) == 2


def _official(st: Any, code: str, rows: list[tuple[str, float]], day: dt.date, closes: pd.Series) -> None:
    st.con.executemany("INSERT INTO official_weights VALUES (?, ?, ?, ?)", [[code, day, c, w] for c, w in rows])
    st.con.executemany("INSERT INTO index_bars VALUES (?, ?, NULL, NULL, NULL, ?, NULL, NULL)",
                       [[code, d, float(v)] for d, v in closes.items()])


def test_track_maps_old_codes_and_reproduces_an_exact_official_path(tmp_path: Path) -> None:
    # The official list of 2024-02-01 names 300009 under its old code; the store keys its
    # history by the new code 302009. The "official" closes are the exact implied-share
    # path, so the tracking error is zero and the code change is invisible in the level.
    st = build(tmp_path, [S("302009", 1e9), S("300002", 1e9)])
    st.con.execute("INSERT INTO code_changes VALUES ('300009', '302009', DATE '2024-02-15')")
    price_from(st, "302009", D(2024, 2, 20), 12.0)
    price_from(st, "300002", D(2024, 3, 1), 8.0)
    days = st.trading_days(D(2024, 2, 1), D(2024, 3, 29))
    p1 = pd.Series([12.0 if d >= D(2024, 2, 20) else 10.0 for d in days], index=days)
    p2 = pd.Series([8.0 if d >= D(2024, 3, 1) else 10.0 for d in days], index=days)
    official = 2000.0 * (0.6 * p1 / 10 + 0.4 * p2 / 10)
    _official(st, "399999", [("300009", 0.6), ("300002", 0.4)], D(2024, 2, 1), official)
    m = {"name": "x", "index_code": "399999", "title": "x", "universe": {"boards": ["chinext"]},
         "lookback": {"months": 1}, "selection": {"rank_by": "total_cap", "count": 2},
         "weighting": {"method": "total_cap"}}
    res = track(m, st, D(2024, 2, 1), D(2024, 3, 29))
    assert res.stats["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    assert res.levels["level"].to_numpy() == pytest.approx(official.to_numpy())
    assert res.stats["final_gap"] == pytest.approx(0.0, abs=1e-12)
    imp = implied_shares(st, "399999", D(2024, 2, 1)).set_index("code")
    assert imp.loc["302009", "implied_shares"] == pytest.approx(0.6 * 2000 / 10)
    w = official_weights_on(st, "399999", D(2024, 2, 1), D(2024, 3, 1)).set_index("code")["weight"]
    assert w["302009"] == pytest.approx(0.6 * 1.2 / (0.6 * 1.2 + 0.4 * 0.8))


def test_weights_on_drifts_review_weights_with_market_caps(tmp_path: Path) -> None:
    st = build(tmp_path, [S("300001", 2e9), S("300002", 1e9)])
    price_from(st, "300001", D(2024, 5, 2), 15.0)
    m = {"name": "t", "title": "t", "universe": {"boards": ["chinext"]}, "lookback": {"months": 1},
         "selection": {"rank_by": "total_cap", "count": 2}, "weighting": {"method": "total_cap"},
         "schedule": {"review_months": [5], "cutoff_months_before": 1}}
    res = ir.rebuild(m, st, "2024-05", incumbents="none")
    w = weights_on(res, D(2024, 5, 31)).set_index("code")["weight"]
    assert w["300001"] == pytest.approx(2 * 1.5 / (2 * 1.5 + 1))


def test_performance_and_relative_stats_by_hand() -> None:
    days = [D(2024, 1, d) for d in (2, 3, 4, 5, 8, 9)]
    lvls = pd.DataFrame({"date": days, "level": [100.0, 110.0, 99.0, 99.0, 108.9, 120.0]})
    s = performance_stats(lvls, move_days=2, periods_per_year=5)
    assert s["cumulative_return"] == pytest.approx(0.2)
    assert s["annualised_return"] == pytest.approx(0.2)  # 5 days of a 5-day "year"
    assert s["max_drawdown"] == pytest.approx(-0.1)
    assert (s["drawdown_peak"], s["drawdown_trough"], s["drawdown_recovery"]) == (days[1], days[2], days[5])
    assert s["worst_move"] == pytest.approx(99 / 110 - 1) and s["worst_move_start"] == days[1]
    assert s["best_move"] == pytest.approx(120 / 99 - 1) and s["best_move_end"] == days[5]
    same = relative_stats(lvls, lvls)
    assert same["tracking_error"] == pytest.approx(0.0) and same["correlation"] == pytest.approx(1.0)


def test_official_weights_are_refused_when_absent(tmp_path: Path) -> None:
    st = build(tmp_path, [S("300001", 1e9)])
    m = {"name": "x", "index_code": "399999", "title": "x", "universe": {"boards": ["chinext"]},
         "lookback": {"months": 1}, "selection": {"rank_by": "total_cap", "count": 1},
         "weighting": {"method": "total_cap"}}
    with pytest.raises(ir.StoreError, match="no official 399999 close"):
        track(m, st, D(2024, 2, 1), D(2024, 3, 1))
