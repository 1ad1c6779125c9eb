"""The rebalance as a desk sees it (issue 19): board lots, pro-forma weights on the price
date, passive flows, the reserve list, the probabilities and their scoring."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import indexrecon as ir
from factory import S, make_store
from indexrecon.analysis.desk import desk_report, reserve_list
from indexrecon.analysis.flows import ADV_DAYS, default_price_date, desk_view, priced_rows
from indexrecon.analysis.forecast import brier, forecast_review, score_change, select_paths
from indexrecon.cli.main import main
from indexrecon.data.market_rules import BOARD_LOTS, is_whole_lot, round_to_lots
from indexrecon.engine import run_review

AUM = 5e10


@pytest.fixture(scope="module")
def review(demo_store: Any) -> Any:
    return ir.simulate_review("chinext", demo_store, "2025-12", incumbents="simulate")


# -- lots ---------------------------------------------------------------------------------
def test_board_lots_follow_the_exchange_rules() -> None:
    q = np.array([149, 150, 251, -349, 40, 60, 199, 99, 100, 101, 1234.6, -37])
    main_b = round_to_lots(q, ["sh_main"] * len(q))
    assert main_b.tolist() == [100, 200, 300, -300, 0, 100, 200, 100, 100, 100, 1200, 0]
    star = round_to_lots(q, ["star"] * len(q))
    assert star.tolist() == [200, 200, 251, -349, 0, 0, 200, 0, 200, 200, 1235, 0]
    bse = round_to_lots(q, ["bse"] * len(q))
    assert bse.tolist() == [149, 150, 251, -349, 0, 100, 199, 100, 100, 101, 1235, 0]
    for board in BOARD_LOTS:
        assert all(is_whole_lot(int(x), board) for x in round_to_lots(np.arange(-1000, 1000, 7), [board] * 286))
    assert not is_whole_lot(150, "chinext") and not is_whole_lot(199, "star") and is_whole_lot(201, "star")


# -- price date and pro-forma weights ------------------------------------------------------
def test_default_price_date_is_the_last_day_before_the_effective_date(review: Any, demo_store: Any) -> None:
    day, notes = default_price_date(review)
    assert day < review.dates.effective and not notes
    nxt = demo_store.con.execute("SELECT min(date) FROM calendar WHERE date > ?", [day]).fetchone()[0]
    assert nxt == review.dates.effective
    with pytest.raises(ir.IndexReconError, match="before the effective date"):
        default_price_date(review, review.dates.effective)


def test_price_date_is_clipped_to_the_store_and_said(demo_store: Any) -> None:
    res = ir.simulate_review("chinext", demo_store, incumbents="simulate")  # the next review: beyond the data
    last = demo_store.con.execute("SELECT max(date) FROM calendar").fetchone()[0]
    day, notes = default_price_date(res)
    if res.dates.effective > last + dt.timedelta(days=1):
        assert day == last and notes and "clipped" in notes[0]
    assert day <= last


def test_weights_priced_on_the_day(review: Any) -> None:
    v = desk_view(review)
    assert abs(sum(v.pro_forma.values()) - 1) < 1e-9 and abs(sum(v.current.values()) - 1) < 1e-9
    assert set(v.pro_forma) <= set(review.codes) and set(v.current) <= set(review.incumbents)
    for c in review.view("added").column("code"):
        assert v.row(c)["current_weight"] == 0 and v.row(c)["pro_forma_weight"] > 0
    for c in review.view("deleted").column("code"):
        assert v.row(c)["pro_forma_weight"] == 0 and v.row(c)["current_weight"] > 0
    # the caps of the methodology hold on the price date
    cap = review.methodology.weighting.caps.single_pct
    if cap:
        assert max(v.pro_forma.values()) <= cap / 100 + 1e-9
    # priced on a later day the weights move with the prices
    early = desk_view(review, review.dates.cutoff)
    assert early.price_date == review.dates.cutoff and early.pro_forma != v.pro_forma


# -- flows ---------------------------------------------------------------------------------
def test_flows_net_to_zero_in_whole_lots(review: Any) -> None:
    v = desk_view(review, aum=AUM)
    assert v.trades
    boards = {c: v.priced[c]["board"] for c in v.trades}
    assert all(is_whole_lot(t["trade_shares"], boards[c]) for c, t in v.trades.items())
    # rounding to lots is the only leak: at most half a lot's value per trade
    slack = sum(BOARD_LOTS[boards[c]][0] / 2 * v.priced[c]["close"] for c in v.trades)
    assert abs(v.net_value()) <= slack
    buys = sum(t["trade_value"] for t in v.trades.values() if t["trade_value"] > 0)
    assert buys > 0.01 * AUM * 0.1  # a review moves real money
    for c, t in v.trades.items():
        delta = v.pro_forma.get(c, 0) - v.current.get(c, 0)
        assert np.sign(t["trade_shares"]) in (0, np.sign(delta))
        assert abs(t["trade_shares"] * v.priced[c]["close"] - AUM * delta) <= BOARD_LOTS[boards[c]][1] * v.priced[c]["close"]
    dov = [r["days_of_volume"] for r in v.trade_list()]
    assert dov == sorted(dov, reverse=True)


def _flow_store(path: Path) -> Path:
    stocks = [S(f"3000{i:02d}", cap=(100 - i) * 1e9, amount=(50 + i) * 1e6) for i in range(12)]
    return make_store(path, stocks)


def test_days_of_volume_use_only_data_up_to_the_price_date(tmp_path: Path) -> None:
    m = {"name": "t4", "title": "Test", "universe": {"boards": ["chinext"]}, "lookback": {"months": 6},
         "selection": {"rank_by": "avg_total_cap", "count": 4},
         "weighting": {"method": "total_cap"}, "schedule": {"review_months": [6, 12]}}
    path = _flow_store(tmp_path / "f.duckdb")

    def days(store: Any) -> dict[str, Any]:
        res = run_review(m, store, "2024-12", incumbents=["300000", "300001", "300002", "300011"])
        v = desk_view(res, aum=1e9)
        return {c: t["days_of_volume"] for c, t in v.trades.items()}, v.price_date

    with ir.open_store(path) as st:
        before, day = days(st)
        rows = priced_rows(run_review(m, st, "2024-12", incumbents="none"), ["300005"], day)
        assert rows["300005"]["adv_days"] == ADV_DAYS and rows["300005"]["adv"] == pytest.approx(55e6 / 10)
    with ir.open_store(path, read_only=False) as st:  # a volume spike after the price date
        st.con.execute("UPDATE bars SET volume = volume * 1000 WHERE date > ?", [day])
    with ir.open_store(path) as st:
        after, _ = days(st)
    assert before and before == after
    with ir.open_store(path, read_only=False) as st:  # and one on the price date itself
        st.con.execute("UPDATE bars SET volume = volume * 1000 WHERE date = ?", [day])
    with ir.open_store(path) as st:
        moved, _ = days(st)
    assert all(moved[c] < before[c] for c in before)


# -- reserve list --------------------------------------------------------------------------
def test_reserve_is_the_best_ranked_not_selected(review: Any) -> None:
    res = reserve_list(review)
    assert len(res) == review.methodology.selection.reserve.count == 5
    codes = {r["code"] for r in res}
    assert not codes & set(review.codes)
    worst = max(r["rank"] for r in res)
    t = review.table
    others = [r for r in t.records() if not r["selected"] and r["stage"] == "selection" and r["rank"] is not None
              and r["code"] not in codes]
    assert all(r["rank"] > worst for r in others)
    assert [r["rank"] for r in res] == sorted(r["rank"] for r in res)


# -- probabilities -------------------------------------------------------------------------
def test_select_paths_mirrors_the_buffer_and_change_cap() -> None:
    # 6 stocks, 3 places, incumbents 0, 4, 5; newcomers within 2, incumbents within 5, 1 change
    key = np.array([[1.0, 2, 3, 4, 5, 6]])
    inc = np.array([True, False, False, False, True, True])
    got = select_paths(key, inc, 3, (2, 5), 34.0)
    # rank 2 newcomer enters (tier 0), incumbent rank 5 kept (tier 0) ahead of rank-3 newcomer
    assert got.tolist() == [[True, True, False, False, True, False]]
    # no change cap: the same; no buffer: the top 3
    assert select_paths(key, inc, 3, None, None).tolist() == [[True, True, True, False, False, False]]
    # a cap of 0 changes keeps the incumbents back in by rank
    assert select_paths(key, inc, 3, (2, 5), 0.0).tolist() == [[True, False, False, False, True, True]]


def test_zero_noise_reproduces_the_rule(review: Any) -> None:
    fc = forecast_review(review, paths=3, sigma_shares=0, sigma_residual=0, epsilon=0)
    sel = set(review.codes)
    assert fc.probability == {c: float(c in sel) for c in fc.candidate_codes}


def test_probabilities_in_unit_interval_and_reproducible(review: Any) -> None:
    a = forecast_review(review, paths=100, seed=7)
    b = forecast_review(review, paths=100, seed=7)
    c = forecast_review(review, paths=100, seed=8)
    assert a.probability == b.probability and a.probability != c.probability
    p = np.array(list(a.probability.values()))
    assert ((p >= 0) & (p <= 1)).all() and ((p > 0.02) & (p < 0.98)).any()
    count = review.methodology.selection.count
    ranks = {c: r for c, r in zip(review.table.column("code"), review.table.column("rank"), strict=True)}
    assert set(review.incumbents) & set(ranks) <= set(a.candidate_codes)
    assert all(ranks[c] is None or ranks[c] <= 2 * count or c in review.incumbents for c in a.candidate_codes)
    assert {c for c, r in ranks.items() if r is not None and r <= 2 * count} <= set(a.candidate_codes)


def test_forecast_before_the_cutoff_simulates_the_rest(demo_store: Any) -> None:
    asof = dt.date(2025, 9, 15)
    res = run_review("chinext", demo_store, "2025-12", incumbents="simulate", data_until=asof)
    assert res.dates.cutoff <= asof and res.dates.provisional
    assert any("forecast as of" in w for w in res.warnings)
    fc = forecast_review(res, paths=60)
    assert fc.remaining_days > 20
    full = run_review("chinext", demo_store, "2025-12", incumbents="simulate")
    assert forecast_review(full, paths=60).remaining_days == 0
    # the forecast reads nothing after its day: its metrics differ from the full window's
    a = dict(zip(res.table.column("code"), res.table.column("avg_total_cap"), strict=True))
    b = dict(zip(full.table.column("code"), full.table.column("avg_total_cap"), strict=True))
    assert any(a[c] != b.get(c) for c in a if a[c] is not None)
    rep = desk_report(res, forecast=fc, as_of=asof)
    assert rep.view.price_date <= asof


def test_brier_and_change_scores(review: Any) -> None:
    assert brier({"a": 1.0, "b": 0.0}, {"a"}) == 0 and brier({"a": 0.5}, set()) == 0.25
    fc = forecast_review(review, paths=50)
    official = set(review.codes)  # scoring the rule against itself: perfect precision and recall
    s = score_change(review, official, fc)
    assert s["adds"]["precision"] in (None, 1.0) and s["deletes"]["recall"] in (None, 1.0)
    assert s["brier_plain"] == 0 and s["brier"] > 0


# -- the command line ----------------------------------------------------------------------
def test_rebalance_json_contract(run, tmp_path: Path) -> None:
    aum = tmp_path / "aum.yaml"
    aum.write_text("chinext: 5.0e10\ncsi300: 1.0e12\n", encoding="utf-8")
    code, out, _ = run("rebalance", "chinext", "--review", "2025-12", "--incumbents", "simulate", "--aum", str(aum),
                       "--paths", "50", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["aum"] == 5e10 and doc["price_date"] < doc["effective_date"]
    for key in ("adds", "deletes", "retained"):
        for x in doc[key]:
            for k in ("code", "name", "rank", "reason", "probability", "current_weight", "pro_forma_weight",
                      "trade_shares", "trade_value", "days_of_volume"):
                assert k in x
    assert doc["adds"] and all(x["current_weight"] == 0 and x["trade_shares"] > 0 for x in doc["adds"])
    assert all(x["pro_forma_weight"] == 0 and x["trade_shares"] < 0 for x in doc["deletes"])
    assert len(doc["reserve"]) == 5 and all({"code", "rank"} <= set(r) for r in doc["reserve"])
    assert doc["candidates"] and all(0 <= c["probability"] <= 1 for c in doc["candidates"])
    assert abs(doc["net_trade_value"]) < 1e-4 * 5e10


def test_rebalance_xlsx_trade_list(run, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    a = tmp_path / "a.xlsx"
    args = ["rebalance", "chinext", "--review", "2025-12", "--incumbents", "simulate", "--aum", "5e10",
            "--paths", "30", "--format", "xlsx"]
    assert run(*args, "-o", str(a))[0] == 0
    wb = load_workbook(a)
    rows = list(wb["Trades"].values)
    assert rows[0][0] == "code" and len(rows) > 2
    dov = [r[rows[0].index("days_of_volume")] for r in rows[1:]]
    assert dov == sorted(dov, reverse=True)
    summary = {r[0]: r[1] for r in wb["Summary"].values}
    assert summary["data"] == "SYNTHETIC demo data: not real market data"
    code, _, err = run("rebalance", "chinext", "--review", "2025-12", "--format", "xlsx")
    assert code == 2 and "needs -o FILE" in err


def test_rebalance_bad_aum_is_one_line(run, tmp_path: Path) -> None:
    code, _, err = run("rebalance", "chinext", "--review", "2025-12", "--aum", "lots")
    assert code == 2 and "--aum" in err and len(err.strip().splitlines()) == 1
    y = tmp_path / "a.yaml"
    y.write_text("csi300: 1e12\n", encoding="utf-8")
    code, _, err = run("rebalance", "chinext", "--review", "2025-12", "--aum", str(y))
    assert code == 2 and "no entry for 'chinext'" in err


def test_rebalance_as_of_forecast(run) -> None:
    code, out, err = run("rebalance", "chinext", "--review", "2025-12", "--as-of", "2025-09-15",
                         "--incumbents", "simulate", "--paths", "30", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["data_cutoff"] <= "2025-09-15" and doc["price_date"] <= "2025-09-15"
    assert doc["probability_model"]["remaining_days"] > 20
    assert any("forecast as of" in w for w in doc["warnings"])
    assert "prices after 2025-09-15 are not used" in err  # said on stderr in every format


def test_rebuild_price_date(run) -> None:
    code, out, _ = run("rebuild", "chinext", "--review", "2025-12", "--price-date", "effective", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["price_date"] < doc["effective_date"]
    w = [c["pro_forma_weight"] for c in doc["constituents"]]
    assert abs(sum(w) - 1) < 1e-9 and w != [c["weight"] for c in doc["constituents"]]


def test_compare_reports_precision_recall_and_brier(real_store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXRECON_STORE", str(real_store_path))
    r = CliRunner().invoke(main, ["compare", "csi300", "--review", "2024-12", "--incumbents", "official",
                                  "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0
    ch = json.loads(r.stdout)["change"]
    assert 0 < ch["adds"]["precision"] <= 1 and 0 < ch["deletes"]["recall"] <= 1
    assert ch["brier"] < ch["brier_plain"]


def test_probabilities_beat_the_plain_rule_on_real_csi300(real_store: Any) -> None:
    from indexrecon.engine import members_on

    res = run_review("csi300", real_store, "2024-06", incumbents="official")
    fc = forecast_review(res)
    snap = real_store.con.execute("SELECT min(start_date) FROM index_membership WHERE index_code = '000300' "
                                  "AND start_date >= ?", [res.dates.effective]).fetchone()[0]
    official = members_on(real_store, "000300", snap)
    s = score_change(res, official, fc)
    assert s["brier"] < s["brier_plain"]


@pytest.mark.parametrize("name", ["csi300", "csi500", "csi1000"])
def test_zero_noise_paths_apply_the_engine_rules_on_real_data(real_store: Any, name: str) -> None:
    """The numpy rules on each path (screens with incumbents' own cuts, the sample-space
    screens, buffer, change cap) give the engine's answer when nothing is uncertain."""
    res = run_review(name, real_store, "2024-12", incumbents="official")
    fc = forecast_review(res, paths=2, sigma_shares=0, sigma_residual=0, epsilon=0)
    sel = set(res.codes)
    assert fc.probability == {c: float(c in sel) for c in fc.candidate_codes}


@pytest.mark.parametrize("args, says", [
    (["--price-date", "2025-12-15"], "must be before the effective date"),
    (["--price-date", "2030-01-02"], "before the effective date"),
    (["--price-date", "2025-13-01"], "--price-date 2025-13-01: no such day"),
    (["--price-date", "15.03.2025"], "YYYY-MM-DD"),
    (["--as-of", "2031-01-05"], "after the store's last trading day"),
    (["--as-of", "2025-09-15", "--price-date", "2025-10-10"], "after the forecast's as-of day"),
    (["--paths", "0"], "--paths must be at least 1"),
    (["--aum", "-5"], "--aum must be a positive amount"),
])
def test_rebalance_bad_desk_options_are_one_line(run, args: list[str], says: str) -> None:
    code, out, err = run("rebalance", "chinext", "--review", "2025-12", "--incumbents", "simulate", *args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and not out


@pytest.mark.parametrize("fmt", ["json", "xlsx"])
def test_rebalance_outputs_are_byte_identical(run, tmp_path: Path, fmt: str) -> None:
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    args = ["rebalance", "chinext", "--review", "2025-12", "--incumbents", "simulate", "--aum", "5e10",
            "--paths", "40", "--format", fmt]
    assert run(*args, "-o", str(a))[0] == 0 and run(*args, "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_current_weights_resting_on_our_rules_are_said_on_stderr(run, fmt: str) -> None:
    """The current index is priced by the methodology's rules (its published factors are not in
    the store): stderr says so once, in every format, and a terminal table does not repeat it."""
    code, out, err = run("rebalance", "chinext", "--review", "2025-12", "--incumbents", "simulate",
                         "--paths", "20", "--format", fmt)
    assert code == 0
    said = [ln for ln in err.splitlines() if ln.startswith("warning: current weights:")]
    assert len(said) == 1
    if fmt == "table":
        assert "current weights:" not in out  # said once, on stderr
    else:
        assert any(w.startswith("current weights:") for w in json.loads(out)["warnings"])  # the record keeps it
