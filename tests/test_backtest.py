"""Backtests on the SYNTHETIC demo store: no look-ahead, total return over price return,
corporate actions neutralised, the daily-rebalanced path, variants side by side, the CLI."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import indexrecon as ir
from indexrecon import engine
from indexrecon.analysis.backtest import BacktestResult, backtest, compare_backtests, review_chain
from indexrecon.analysis.levels import adjusted_returns

D = dt.date


def fresh(store: Any) -> None:
    """Forget the engine's cached reviews of this store, so a run recomputes everything."""
    engine._CONTEXTS.pop(id(store), None)


@pytest.fixture(scope="module")
def chinext() -> ir.Methodology:
    return ir.load_methodology("chinext")


@pytest.fixture(scope="module")
def long_run(demo_store: Any, chinext: ir.Methodology) -> BacktestResult:
    """2024-06-17 .. 2025-07-31: the reviews of 2024-06 (in force), 2024-12 and 2025-06."""
    fresh(demo_store)
    return backtest(chinext, demo_store, "2024-06-17", "2025-07-31", incumbents="none")


def test_reviews_roll_forward_point_in_time(long_run: BacktestResult) -> None:
    rv = long_run.reviews
    assert list(rv["review"]) == ["2024-06", "2024-12", "2025-06"]
    assert (rv["data_cutoff"] < rv["effective_date"]).all()
    assert list(rv["constituents"]) == [100, 100, 100]
    # Each later review takes the previous constituents as incumbents: adds equal deletes,
    # at most 10 (the cap on changes), and one-way turnover is a few percent.
    later = rv.iloc[1:]
    assert (later["adds"] == later["deletes"]).all() and (later["adds"] <= 10).all()
    assert later["turnover"].between(0.0, 0.2).all()
    assert later["incumbents"].eq("the previous review's 100 constituents").all()
    # the lists are the reviews' own added and deleted views
    for row, res in zip(rv.itertuples(), long_run.results, strict=True):
        assert row.added == " ".join(sorted(res.view("added").column("code")))
        assert row.deleted == " ".join(sorted(res.view("deleted").column("code")))
    assert (later["adds"] > 0).any()
    assert pd.isna(rv["turnover"].iloc[0])
    res = long_run.results
    for prev, cur in itertools.pairwise(res):
        assert cur.incumbents == prev.codes


def test_no_look_ahead(demo_store: Any, chinext: ir.Methodology, long_run: BacktestResult) -> None:
    """A backtest cut at a date equals the longer one up to that date, reviews included."""
    fresh(demo_store)
    short = backtest(chinext, demo_store, "2024-06-17", "2025-02-28", incumbents="none")
    n = len(short.levels)
    assert short.levels["date"].iloc[-1] == D(2025, 2, 28)
    pd.testing.assert_frame_equal(short.levels, long_run.levels.iloc[:n].reset_index(drop=True))
    assert list(short.reviews["review"]) == ["2024-06", "2024-12"]
    for a, b in zip(short.results, long_run.results, strict=False):
        pd.testing.assert_frame_equal(a.constituents, b.constituents)


def test_total_return_at_least_price_return(long_run: BacktestResult) -> None:
    lv = long_run.levels
    assert (lv["total_return_level"] >= lv["level"] - 1e-9).all()
    assert (lv["total_return"].iloc[1:] >= lv["return"].iloc[1:] - 1e-12).all()
    assert lv["total_return_level"].iloc[-1] > lv["level"].iloc[-1]  # the demo pays dividends
    s = long_run.stats
    assert s["total_return_cumulative"] > s["cumulative_return"]


def test_level_path_and_stats_are_consistent(long_run: BacktestResult) -> None:
    lv, s = long_run.levels, long_run.stats
    assert lv["level"].iloc[0] == 1000.0 and pd.isna(lv["return"].iloc[0])
    assert lv["level"].iloc[-1] / 1000.0 - 1 == pytest.approx(s["cumulative_return"])
    assert (lv["level"].iloc[1:].to_numpy() / lv["level"].iloc[:-1].to_numpy() - 1) == pytest.approx(
        lv["return"].iloc[1:].to_numpy()
    )
    assert s["max_drawdown"] <= 0 and s["drawdown_peak"] <= s["drawdown_trough"]
    assert s["worst_move"] <= s["best_move"] and s["move_days"] == 5
    assert lv["constituents"].iloc[1:].eq(100).all()
    w = long_run.weights_on("2025-03-14")
    assert len(w) == 100 and w["weight"].sum() == pytest.approx(1.0)


def test_corporate_actions_are_neutralised(demo_store: Any) -> None:
    """Raw ChiNext closes fall far beyond the 20% limit on bonus ex-dates; adjusted for the
    store's bonus issues, no move between two sessions exceeds the limit (after listing)."""
    codes = [r[0] for r in demo_store.con.execute(
        "SELECT DISTINCT code FROM shares JOIN securities USING (code) "
        "WHERE board = 'chinext' AND source = 'bonus_conversion' AND effective_date >= DATE '2023-02-01'"
    ).fetchall()]
    assert len(codes) > 20
    df = adjusted_returns(demo_store, codes, D(2023, 1, 3), D(2026, 5, 29))
    cal = {d: i for i, d in enumerate(r[0] for r in demo_store.con.execute("SELECT date FROM calendar ORDER BY 1").fetchall())}
    df["i"] = df["date"].map(cal)
    df["gap"] = df.groupby("code")["i"].diff()
    df["n"] = df.groupby("code").cumcount()
    df["raw"] = df.groupby("code")["close"].pct_change()
    consecutive = df[(df["gap"] == 1) & (df["n"] > 5)]
    assert (consecutive["raw"] < -0.25).sum() > 10  # bonus ex-dates in raw prices
    assert consecutive["price_return"].abs().max() < 0.21  # limit plus rounding to the fen
    assert (consecutive["total_return"] >= consecutive["price_return"] - 1e-12).all()


def daily_methodology(chinext: ir.Methodology) -> ir.Methodology:
    return chinext.with_changes(
        name="chinext_liquid50_daily",
        title="ChiNext 50 most liquid, equal weight, daily",
        index_code=None,
        schedule={"frequency": "daily"},
        lookback={"months": None, "trading_days": 20},
        screens=[],
        selection={"rank_by": "avg_amount", "count": 50, "buffer": None, "max_changes_pct": None, "tie_break": []},
        universe={"new_listing_exception": None},
        weighting={"method": "equal", "inclusion_factor": []},
        versions=[],
    )


def test_daily_rebalanced_methodology(demo_store: Any, chinext: ir.Methodology) -> None:
    m = daily_methodology(chinext)
    fresh(demo_store)
    bt = backtest(m, demo_store, "2025-03-03", "2025-03-14", incumbents="none", fast=True)
    days = demo_store.trading_days(D(2025, 3, 3), D(2025, 3, 14))
    assert list(bt.levels["date"]) == days
    assert list(bt.reviews["effective_date"]) == days  # one review per trading day
    assert (bt.reviews["data_cutoff"] < bt.reviews["effective_date"]).all()
    assert bt.levels["constituents"].iloc[1:].eq(50).all()
    assert all(r.store is demo_store for r in bt.results)
    # The working copy of the store gives the same reviews as the store itself.
    fresh(demo_store)
    direct = review_chain(m, demo_store, D(2025, 3, 3), D(2025, 3, 7), "none", fast=False)
    for a, b in zip(direct, bt.results[:5], strict=True):
        pd.testing.assert_frame_equal(a.constituents, b.constituents)
    # Equal weights: each review sets 2% per stock at its cutoff; turnover is the changes
    # plus resetting the previous day's drift.
    assert all(r.constituents["weight"].eq(0.02).all() for r in bt.results)
    rv = bt.reviews.iloc[2:]
    assert rv["turnover"].notna().all() and (rv["turnover"] < 0.5).all()


def test_parallel_daily_run_equals_the_sequential_one(demo_store_path: Any, chinext: ir.Methodology,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent days in two processes give exactly the sequential results: levels,
    reviews, and each review's incumbents (the first day of the second block is rerun)."""
    import indexrecon.analysis.backtest as bmod

    monkeypatch.setattr(bmod, "_PARALLEL_MIN_DAYS_PER_WORKER", 3)
    m = daily_methodology(chinext)
    assert bmod.parallel_safe(m) and not bmod.parallel_safe(chinext)
    store = ir.open_store(demo_store_path)  # a store of its own: the engine caches per store
    try:
        seq = backtest(m, store, "2025-03-03", "2025-03-10", incumbents="none", workers=1)
        fresh(store)
        par = backtest(m, store, "2025-03-03", "2025-03-10", incumbents="none", workers=2)
        pd.testing.assert_frame_equal(seq.levels, par.levels)
        pd.testing.assert_frame_equal(seq.reviews, par.reviews)
        for a, b in zip(seq.results, par.results, strict=True):
            assert a.incumbents == b.incumbents and a.incumbents_source == b.incumbents_source
            assert b.store is store
    finally:
        fresh(store)
        store.close()


def test_compare_backtests_and_against(demo_store: Any, chinext: ir.Methodology, long_run: BacktestResult) -> None:
    cap10 = chinext.with_changes(name="chinext_cap10", index_code=None, weighting={"caps": {"single_pct": 10}},
                                 versions=[])
    bt = backtest(cap10, demo_store, "2024-06-17", "2025-07-31", incumbents="none", against=long_run)
    assert bt.stats["against"] == "chinext"
    assert 0 < bt.stats["tracking_error"] < 0.1 and 0.9 < bt.stats["correlation"] <= 1
    top = bt.results[-1].constituents["weight"].max()
    assert top <= 0.10 + 1e-9
    table = compare_backtests([long_run, bt])
    assert list(table["variant"]) == ["chinext", "chinext_cap10"]
    assert table.loc[0, "tracking_error_vs_first"] == 0.0
    assert table.loc[1, "tracking_error_vs_first"] == pytest.approx(bt.stats["tracking_error"])
    assert table.loc[1, "top10_weight"] < table.loc[0, "top10_weight"]
    with pytest.raises(ir.IndexReconError, match="neither an index code"):
        backtest(cap10, demo_store, "2025-01-02", "2025-02-28", against="399006")


def _cli() -> Any:
    from indexrecon.cli.calc import COMMANDS
    from indexrecon.cli.main import main

    for c in COMMANDS:
        if c.name not in main.commands:
            main.add_command(c)
    return main


def test_cli_backtest_json_and_csv(demo_store_path: Any) -> None:
    main = _cli()
    args = ["backtest", "chinext", "--start", "2024-12-16", "--end", "2025-02-28", "--incumbents", "none",
            "--store", str(demo_store_path)]
    r = CliRunner().invoke(main, [*args, "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["synthetic"] is True and data["methodology"] == "chinext"
    assert data["levels"][0]["level"] == 1000.0 and data["levels"][-1]["date"] == "2025-02-28"
    assert data["reviews"][0]["review"] == "2024-12"
    assert "max_drawdown" in data["stats"]
    r = CliRunner().invoke(main, [*args, "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("date,level,total_return_level")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "max_drawdown" in r.output and "SYNTHETIC" in r.output


def test_cli_errors_are_one_line(demo_store_path: Any) -> None:
    main = _cli()
    r = CliRunner().invoke(main, ["track", "chinext", "--from-official", "2025-01-27", "--end", "2025-04-30",
                                  "--store", str(demo_store_path)])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "official 399006" in r.output
    r = CliRunner().invoke(main, ["backtest", "chinext", "--start", "2025-13-01", "--store", str(demo_store_path)])
    assert r.exit_code == 2 and "--start 2025-13-01: no such day" in r.output


def test_same_inputs_bit_identical_levels(demo_store: Any, chinext: ir.Methodology,
                                          long_run: BacktestResult) -> None:
    engine._CONTEXTS.clear()  # recompute every review and level, not a cached result
    again = backtest(chinext, demo_store, long_run.start, long_run.end, incumbents="none")
    assert again.levels.to_csv() == long_run.levels.to_csv()
