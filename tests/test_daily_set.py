"""Daily methodologies set-based (engine.daily): every day's rows, reasons, weights and
warnings equal those of the per-day reviews, and the backtest's output is the same."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

import indexrecon as ir
from indexrecon.analysis import backtest as bmod
from indexrecon.engine import context, daily, forget, run_review


def _both(m: ir.Methodology, store: Any, start: dt.date, end: dt.date, inc: str) -> tuple[list, list]:
    days = [d for d in context(store).cal.days if start <= d <= end]
    forget(store)
    per_day = bmod._daily_chain(m, store, days, inc, copy=False, set_based=False)
    forget(store)
    ctx = context(store)
    first = bmod._trim(run_review(m, store, as_of=days[0], incumbents=inc, _ctx=ctx))
    got = daily.run_days(m, ctx, days, first)
    forget(store)
    assert got is not None
    return per_day, got


def test_microcap400_set_based_days_equal_the_per_day_reviews(demo_store: Any) -> None:
    m = ir.load_methodology("microcap400")
    assert daily.eligible(m)
    per_day, got = _both(m, demo_store, dt.date(2025, 3, 3), dt.date(2025, 4, 11), "auto")
    assert len(per_day) == len(got) > 25
    changes = 0
    for a, b in zip(per_day, got, strict=True):
        assert a.dates == b.dates
        assert a.table.columns == b.table.columns and a.table.types == b.table.types
        assert a.table.rows == b.table.rows, a.dates.review
        assert a.warnings == b.warnings
        assert a.incumbents == b.incumbents and a.incumbents_source == b.incumbents_source
        assert a.incumbents_detail == b.incumbents_detail
        changes += len(b.view("added")) + len(b.view("deleted"))
    assert changes > 0  # the days differ: adds and deletes were compared too


def test_a_ranking_on_an_exact_average_groups_and_equals_the_per_day_reviews(demo_store: Any) -> None:
    """A rank metric that is an exact average (avg_total_cap) is grouped per day and stock
    (the average of one value is not bit for bit the value), a last value (total_cap, as
    microcap400) read from the bar: both give the per-day rows."""
    m = ir.load_methodology("microcap400").with_changes(selection={"rank_by": "avg_total_cap"})
    from indexrecon.engine.universe import _metric_exprs

    exprs = _metric_exprs(context(demo_store))
    assert daily.eligible(m) and daily._row_expr(exprs["avg_total_cap"]) is None
    assert daily._row_expr(exprs["total_cap"]) is not None and daily._row_expr(exprs["traded_days"]) == "1"
    per_day, got = _both(m, demo_store, dt.date(2025, 3, 3), dt.date(2025, 3, 14), "none")
    assert len(per_day) == len(got) == 10
    for a, b in zip(per_day, got, strict=True):
        assert a.table.rows == b.table.rows and a.warnings == b.warnings, a.dates.review


def test_backtest_output_is_the_per_day_one(demo_store: Any, monkeypatch: Any) -> None:
    m = ir.load_methodology("microcap400")
    forget(demo_store)
    fast = bmod.backtest(m, demo_store, "2025-05-06", "2025-05-30", incumbents="none")
    forget(demo_store)
    monkeypatch.setattr(daily, "eligible", lambda m: False)
    slow = bmod.backtest(m, demo_store, "2025-05-06", "2025-05-30", incumbents="none")
    forget(demo_store)
    assert fast.to_json() == slow.to_json()
    pd.testing.assert_frame_equal(fast.levels, slow.levels)


def test_not_eligible_methodologies_keep_the_per_day_path() -> None:
    m = ir.load_methodology("microcap400")
    assert not daily.eligible(m.with_changes(selection={"buffer": {"newcomers_within": 300, "incumbents_within": 500}}))
    assert not daily.eligible(m.with_changes(lookback={"trading_days": 5}))
    assert not daily.eligible(m.with_changes(schedule={"frequency": "periodic"}))
    assert not daily.eligible(m.with_changes(screens=[
        {"type": "min_value", "metric": "avg_amount", "value": 1.0}]))


def test_an_unknown_incumbent_falls_back_to_the_per_day_path(demo_store: Any) -> None:
    """An incumbent unknown to the store is kept by the per-day path: the set path refuses
    (None) and the backtest gives the per-day result."""
    m = ir.load_methodology("microcap400")
    days = [d for d in context(demo_store).cal.days if dt.date(2025, 6, 2) <= d <= dt.date(2025, 6, 6)]
    forget(demo_store)
    ctx = context(demo_store)
    inc = ["999999"]
    first = bmod._trim(run_review(m, demo_store, as_of=days[0], incumbents=inc, _ctx=ctx))
    assert "999999" in first.codes
    assert daily.run_days(m, ctx, days, first) is None
    forget(demo_store)
    got = bmod._daily_chain(m, demo_store, days, inc, copy=False)
    assert all("999999" in r.codes for r in got)
    forget(demo_store)


def _writable_copy(demo_store_path: Any, tmp_path: Any) -> Any:
    import shutil

    from indexrecon.data.open import open_store

    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_store_path, path)
    return open_store(path, read_only=False)


def _same_as_per_day(m: ir.Methodology, store: Any, days: list[dt.date], inc: Any) -> list:
    """The backtest's daily chain (set path first, per-day fallback) against the per-day path."""
    forget(store)
    got = bmod._daily_chain(m, store, days, inc, copy=False)
    forget(store)
    per_day = bmod._daily_chain(m, store, days, inc, copy=False, set_based=False)
    forget(store)
    assert len(got) == len(per_day) == len(days)
    for a, b in zip(per_day, got, strict=True):
        assert a.dates == b.dates and a.table.columns == b.table.columns
        assert a.table.rows == b.table.rows, a.dates.review
        assert a.warnings == b.warnings and a.incumbents == b.incumbents
    return got


def test_an_incumbent_without_rank_data_falls_back_to_the_per_day_path(
        demo_store: Any, demo_store_path: Any, tmp_path: Any) -> None:
    """An incumbent listed, traded and past the rules but without the rank metric (no share
    capital, so no total_cap) is the selection stage's to judge: the set path refuses and
    the chain gives the per-day result."""
    m = ir.load_methodology("microcap400")
    days = [d for d in context(demo_store).cal.days if dt.date(2025, 6, 2) <= d <= dt.date(2025, 6, 6)]
    inc = bmod._trim(run_review(m, demo_store, as_of=days[0], incumbents="none")).codes
    forget(demo_store)
    code = inc[0]  # a constituent with bars and listing age, whose share capital goes
    store = _writable_copy(demo_store_path, tmp_path)
    try:
        store.con.execute("DELETE FROM shares WHERE code = ?", [code])
        ctx = context(store)
        first = bmod._trim(run_review(m, store, as_of=days[0], incumbents=inc, _ctx=ctx))
        t = first.table
        row = next(r for r in t.rows if r[t.col("code")] == code)
        assert row[t.col("stage")] == "selection" and row[t.col("rank")] is None
        assert daily.run_days(m, ctx, days, first) is None
        got = _same_as_per_day(m, store, days, inc)
        assert all(code in r.codes for r in got)  # kept on every day: what the set path cannot give
    finally:
        forget(store)
        store.close()


def test_a_constituent_delisted_inside_the_range_is_deleted_as_the_per_day_path_deletes_it(
        demo_store: Any, demo_store_path: Any, tmp_path: Any) -> None:
    """A constituent that delists between two days is no listed stock of the boards at the
    next cutoff: the set path keeps it that day as a deleted row, as the per-day path does."""
    m = ir.load_methodology("microcap400")
    days = [d for d in context(demo_store).cal.days if dt.date(2025, 6, 2) <= d <= dt.date(2025, 6, 6)]
    t0 = bmod._trim(run_review(m, demo_store, as_of=days[0], incumbents="none")).table
    code = next(r[t0.col("code")] for r in t0.rows if r[t0.col("rank")] == 1)  # far inside the places
    forget(demo_store)
    store = _writable_copy(demo_store_path, tmp_path)
    try:
        # a day's review has the day before as its cutoff: delisted at the cutoff of days[2]
        store.con.execute("UPDATE securities SET delist_date = ? WHERE code = ?", [days[1], code])
        ctx = context(store)
        first = bmod._trim(run_review(m, store, as_of=days[0], incumbents="none", _ctx=ctx))
        assert daily.run_days(m, ctx, days, first) is not None  # the set path gave it
        got = _same_as_per_day(m, store, days, "none")
        t = got[2].table
        row = next(r for r in t.rows if r[t.col("code")] == code)
        assert row[t.col("status")] == "deleted" and row[t.col("incumbent")] is True
        assert row[t.col("reason")] == "deleted: not a listed stock of the index boards at the cutoff"
        assert code in got[1].codes and code not in got[2].codes
        assert code not in got[3].table.column("code")  # deleted once, then gone from the rows
    finally:
        forget(store)
        store.close()


def test_status_data_starting_inside_the_range_falls_back_to_the_per_day_path(
        demo_store: Any, demo_store_path: Any, tmp_path: Any) -> None:
    """Delisting-arrangement data that begins inside the range: the early days warn that the
    exclusion is not applied, the later ones apply it; the set path (one set of status kinds
    for every day) refuses and the chain gives the per-day result."""
    m = ir.load_methodology("microcap400")
    days = [d for d in context(demo_store).cal.days if dt.date(2025, 6, 2) <= d <= dt.date(2025, 6, 13)]
    store = _writable_copy(demo_store_path, tmp_path)
    try:
        code = store.con.execute("SELECT min(code) FROM status WHERE status = 'delisting'").fetchone()[0]
        store.con.execute("DELETE FROM status WHERE status = 'delisting'")
        store.con.execute("INSERT INTO status VALUES (?, ?, NULL, 'delisting')", [code, days[4]])
        ctx = context(store)
        first = bmod._trim(run_review(m, store, as_of=days[0], incumbents="none", _ctx=ctx))
        assert daily.run_days(m, ctx, days, first) is None
        got = _same_as_per_day(m, store, days, "none")
        note = "exclusion of delisting-arrangement stocks is not applied"
        assert any(note in w for w in got[0].warnings)
        assert not any(note in w for w in got[-1].warnings)
    finally:
        forget(store)
        store.close()


def _refused_after(demo_store: Any, demo_store_path: Any, tmp_path: Any, damage: str, *args: Any) -> Any:
    """A writable copy of the demo store after `damage` (SQL run with (code, *days picked by
    `args`)) to the first constituent of a June week: the set path must refuse it. Returns
    (store, days); the caller closes the store."""
    m = ir.load_methodology("microcap400")
    days = [d for d in context(demo_store).cal.days if dt.date(2025, 6, 2) <= d <= dt.date(2025, 6, 6)]
    code = bmod._trim(run_review(m, demo_store, as_of=days[0], incumbents="none")).codes[0]
    forget(demo_store)
    store = _writable_copy(demo_store_path, tmp_path)
    store.con.execute(damage, [code if a == "code" else days[a] for a in args])
    ctx = context(store)
    first = bmod._trim(run_review(m, store, as_of=days[0], incumbents="none", _ctx=ctx))
    assert daily.run_days(m, ctx, days, first) is None
    return store, days


def test_a_duplicate_bar_falls_back_to_the_per_day_path(demo_store: Any, demo_store_path: Any, tmp_path: Any) -> None:
    """Two bars of one stock on one day (a store check-data calls broken): the set path, which
    reads one bar per stock and day without grouping, counts them and refuses; the chain
    gives what the per-day reviews give."""
    store, days = _refused_after(demo_store, demo_store_path, tmp_path,
                                 "INSERT INTO bars SELECT * FROM bars WHERE code = ? AND date = ?", "code", 2)
    try:
        _same_as_per_day(ir.load_methodology("microcap400"), store, days, "none")
    finally:
        forget(store)
        store.close()


def test_two_industry_rows_starting_on_one_day_fall_back_to_the_per_day_path(
        demo_store: Any, demo_store_path: Any, tmp_path: Any) -> None:
    """The set path sends a stock's names and industry once per (stock, industry start date);
    two industry rows of a stock starting on the same day are not told apart by that key,
    so it refuses. From the third day on (the first day, which the set path checks against
    the per-day review, is untouched), two rows of one start date."""
    # $1 the code, $2 the third day, $3 the first
    two_rows = " UNION ALL ".join(
        f"SELECT * REPLACE ('{p}' || sw_l1_code AS sw_l1_code, CAST($2 AS DATE) AS start_date, NULL AS end_date) "
        "FROM industry WHERE code = $1 AND start_date <= $3 AND (end_date IS NULL OR end_date >= $3)"
        for p in ("98", "99"))
    store, days = _refused_after(demo_store, demo_store_path, tmp_path, f"INSERT INTO industry {two_rows}",
                                 "code", 2, 0)
    try:
        assert len(bmod._daily_chain(ir.load_methodology("microcap400"), store, days, "none", copy=False)) == len(days)
    finally:
        forget(store)
        store.close()


def test_set_based_days_equal_the_per_day_reviews_on_the_real_market(real_store: Any) -> None:
    """Two weeks of microcap400 on the real store (the whole A-share market, A-share capital
    with its coverage warnings, ST inferred from the price limits, code changes): every
    day's rows, reasons, weights and warnings as the per-day reviews give them."""
    m = ir.load_methodology("microcap400")
    per_day, got = _both(m, real_store, dt.date(2025, 3, 3), dt.date(2025, 3, 14), "auto")
    assert len(per_day) == len(got) == 10
    for a, b in zip(per_day, got, strict=True):
        assert a.dates == b.dates and a.table.columns == b.table.columns and a.table.types == b.table.types
        assert a.table.rows == b.table.rows, a.dates.review
        assert a.warnings == b.warnings and a.incumbents == b.incumbents
    assert any("A-share" in w for w in got[-1].warnings)  # the coverage warning was compared too
    assert sum(len(r.view("added")) for r in got[1:]) > 0
