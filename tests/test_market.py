"""`market` commands on small hand-made stores whose answers follow from the test itself, and
on the real data where it is present."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import S, make_store, weekdays
from indexrecon.analysis import market, valuation
from indexrecon.cli.main import main
from indexrecon.data.open import open_store


def limit(prev: float, pct: int) -> float:
    """The exchange's limit price, independently: round half up to the fen."""
    v = Decimal(str(prev)) * (Decimal(100 + pct) / 100)
    return float(v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def set_bars(path: Path, code: str, closes: dict[dt.date, float]) -> None:
    """Replace a stock's bars by these closes (high/low = close)."""
    import pandas as pd

    df = pd.DataFrame({"code": code, "date": sorted(closes), "close": [closes[d] for d in sorted(closes)]})
    with open_store(path, read_only=False) as st:
        st.con.execute("DELETE FROM bars WHERE code = ?", [code])
        st.con.register("_new", df)
        st.con.execute("INSERT INTO bars SELECT code, date, close, close, close, close, 1e7, 1000000 FROM _new")
        st.con.unregister("_new")


def path_of(days: list[dt.date], steps: dict[dt.date, int], start: float = 10.0,
            first: dt.date | None = None) -> dict[dt.date, float]:
    """Closes over `days` (from `first`): each day in `steps` moves to its limit (pct, signed),
    every other day repeats the previous close."""
    out, c = {}, start
    for d in days:
        if first and d < first:
            continue
        if d in steps and out:
            pct = steps[d]
            c = limit(c, abs(pct)) if pct > 0 else float(
                (Decimal(str(c)) * (Decimal(100 + pct) / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        out[d] = c
    return out


D0, D1 = dt.date(2020, 8, 3), dt.date(2023, 5, 31)
DAYS = weekdays(D0, D1)


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


@pytest.fixture(scope="module")
def rules_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stocks scripted to test one rule each (calendar: weekdays 2020-08-03 .. 2023-05-31)."""
    p = tmp_path_factory.mktemp("market") / "rules.duckdb"
    old = dt.date(2015, 1, 5)
    stocks = [
        S("000001", 1e10, board="sz_main", list_date=old),   # 7-day limit-up streak
        S("300001", 1e10, board="chinext", list_date=old),   # ChiNext across 2020-08-24
        S("600001", 1e10, board="sh_main", list_date=old,    # ST from 2021-03-01
          status=[(day("2021-03-01"), None, "ST")]),
        S("600002", 1e10, board="sh_main", list_date=old),   # not ST: 5% is no limit
        S("688001", 1e10, board="star", list_date=day("2021-06-01")),    # first week of a STAR listing
        S("600003", 1e10, board="sh_main", list_date=day("2021-06-01")),  # old main-board rules
        S("600004", 1e10, board="sh_main", list_date=day("2023-04-10")),  # registration system
        S("920001", 1e10, board="bse", list_date=day("2021-11-15")),      # BSE: only day 1 free
        S("300002", 1e10, board="chinext", list_date=old),    # ChiNext ST keeps 20%
        S("000002", 1e10, board="sz_main", list_date=old),    # rounding half up at the fen
        S("000003", 1e10, board="sz_main", list_date=old),    # a streak longer than the first scan
    ]
    stocks[8].status = [(day("2021-01-04"), None, "*ST")]
    make_store(p, stocks, start=D0, end=D1)
    streak_days = [d for d in DAYS if day("2022-03-01") <= d <= day("2022-03-09")]  # 7 weekdays
    set_bars(p, "000001", path_of(DAYS, {day("2022-02-28"): -10, **{d: 10 for d in streak_days}}))
    set_bars(p, "300001", path_of(DAYS, {day("2020-08-21"): 10, day("2020-08-25"): 10, day("2020-08-26"): 20}))
    set_bars(p, "600001", path_of(DAYS, {day("2021-03-02"): 5, day("2021-03-03"): -5}))
    set_bars(p, "600002", path_of(DAYS, {day("2021-03-02"): 5}))
    star = [d for d in DAYS if d >= day("2021-06-01")]
    set_bars(p, "688001", path_of(DAYS, {d: 20 for d in star[1:7]}, first=day("2021-06-01")))
    set_bars(p, "600003", path_of(DAYS, {star[1]: 10}, first=day("2021-06-01")))
    reg = [d for d in DAYS if d >= day("2023-04-10")]
    set_bars(p, "600004", path_of(DAYS, {d: 10 for d in reg[1:6]}, first=day("2023-04-10")))
    bse = [d for d in DAYS if d >= day("2021-11-15")]
    set_bars(p, "920001", path_of(DAYS, {bse[1]: 30, bse[2]: 30}, first=day("2021-11-15")))
    long = [d for d in DAYS if d >= day("2022-09-01")][: market.STREAK_SCAN_DAYS + 5]
    set_bars(p, "000003", path_of(DAYS, {d: 10 for d in long}, start=1.0))
    set_bars(p, "300002", path_of(DAYS, {day("2021-03-02"): 5, day("2021-03-03"): 20}))
    # 10.05 x 1.1 = 11.055: the limit is 11.06 (half up), so 11.05 is not at the limit
    closes = {d: 10.05 for d in DAYS if d < day("2022-06-01")}
    closes[day("2022-06-01")] = 11.06
    closes[day("2022-06-02")] = 11.06 * 0 + 12.17  # 11.06 x 1.1 = 12.166 -> 12.17
    closes[day("2022-06-03")] = 13.38  # 12.17 x 1.1 = 13.387 -> 13.39: 13.38 is not at the limit
    set_bars(p, "000002", closes)
    return p


def limits_on(path: Path, d: str) -> dict[str, dict]:
    with open_store(path) as st:
        res = market.limit_closes(st, day(d))
    return {r["code"]: r for r in res.payload["limit_up"] + res.payload["limit_down"]}


def test_a_seven_day_limit_up_streak(rules_store: Path) -> None:
    hit = limits_on(rules_store, "2022-03-09")
    assert hit["000001"]["streak"] == 7 and hit["000001"]["limit_pct"] == 10
    assert limits_on(rules_store, "2022-03-04")["000001"]["streak"] == 4
    with open_store(rules_store) as st:
        down = market.limit_closes(st, day("2022-02-28")).payload["limit_down"]
    assert [(r["code"], r["streak"]) for r in down] == [("000001", 1)]
    assert "000001" not in limits_on(rules_store, "2022-03-10")


def test_a_streak_longer_than_the_first_scan_is_counted_whole(rules_store: Path) -> None:
    n = market.STREAK_SCAN_DAYS + 5
    last = [d for d in DAYS if d >= day("2022-09-01")][n - 1]
    assert limits_on(rules_store, last.isoformat())["000003"]["streak"] == n


def test_the_ladder_groups_limit_up_stocks_by_streak(rules_store: Path) -> None:
    with open_store(rules_store) as st:
        lad = market.ladder(market.limit_closes(st, day("2022-03-09")))
    assert lad.iloc[0]["streak"] == 7 and lad.iloc[0]["codes"] == "000001"


def test_chinext_is_10_pct_before_2020_08_24_and_20_pct_from_it(rules_store: Path) -> None:
    before = limits_on(rules_store, "2020-08-21")["300001"]
    assert before["limit_pct"] == 10 and before["change"] == pytest.approx(0.1, abs=1e-3)
    assert "300001" not in limits_on(rules_store, "2020-08-25")  # +10% is no longer the limit
    after = limits_on(rules_store, "2020-08-26")["300001"]
    assert after["limit_pct"] == 20 and after["streak"] == 1


def test_an_st_stock_is_held_to_5_pct_and_others_are_not(rules_store: Path) -> None:
    up = limits_on(rules_store, "2021-03-02")
    assert up["600001"]["limit_pct"] == 5
    assert "600002" not in up  # the same +5% is not a limit for an ordinary stock
    with open_store(rules_store) as st:
        down = market.limit_closes(st, day("2021-03-03")).payload["limit_down"]
    assert [r["code"] for r in down] == ["600001"] and down[0]["limit_pct"] == 5


def test_a_chinext_risk_warning_stock_keeps_20_pct(rules_store: Path) -> None:
    assert "300002" not in limits_on(rules_store, "2021-03-02")
    assert limits_on(rules_store, "2021-03-03")["300002"]["limit_pct"] == 20


def test_no_limit_in_the_first_five_days_of_a_star_listing(rules_store: Path) -> None:
    star = [d for d in DAYS if d >= day("2021-06-01")]
    for d in star[1:5]:  # listing days 2..5: +20% each, no limit
        assert "688001" not in limits_on(rules_store, d.isoformat())
    sixth = limits_on(rules_store, star[5].isoformat())["688001"]
    assert sixth["limit_pct"] == 20 and sixth["streak"] == 1
    assert limits_on(rules_store, star[6].isoformat())["688001"]["streak"] == 2


def test_main_board_listings_before_and_after_the_registration_system(rules_store: Path) -> None:
    star = [d for d in DAYS if d >= day("2021-06-01")]
    assert limits_on(rules_store, star[1].isoformat())["600003"]["limit_pct"] == 10  # day 2: 10%
    reg = [d for d in DAYS if d >= day("2023-04-10")]
    for d in reg[1:5]:
        assert "600004" not in limits_on(rules_store, d.isoformat())
    assert limits_on(rules_store, reg[5].isoformat())["600004"]["limit_pct"] == 10  # day 6


def test_bse_listing_day_is_free_then_30_pct(rules_store: Path) -> None:
    bse = [d for d in DAYS if d >= day("2021-11-15")]
    assert limits_on(rules_store, bse[1].isoformat())["920001"]["limit_pct"] == 30
    assert limits_on(rules_store, bse[2].isoformat())["920001"]["streak"] == 2


def test_the_limit_price_is_rounded_half_up_to_the_fen(rules_store: Path) -> None:
    assert limit(10.05, 10) == 11.06
    assert "000002" in limits_on(rules_store, "2022-06-01")
    assert "000002" in limits_on(rules_store, "2022-06-02")
    assert "000002" not in limits_on(rules_store, "2022-06-03")


def test_breadth_counts_per_board_and_in_total(rules_store: Path) -> None:
    with open_store(rules_store) as st:
        res = market.breadth(st, day("2021-03-02"))
    boards = {b["board"]: b for b in res.payload["boards"]}
    # sh_main: 600001 (ST, +5% = limit), 600002 (+5%); sz_main: 3 flat
    assert boards["sh_main"]["up"] == 2 and boards["sh_main"]["limit_up"] == 1
    assert boards["sh_main"]["flat"] == 0 and boards["sz_main"]["flat"] == 3
    assert boards["chinext"]["up"] == 1 and boards["chinext"]["limit_up"] == 0
    tot = res.payload["total"]
    assert tot["traded"] == sum(b["traded"] for b in boards.values())
    assert tot["up"] + tot["down"] + tot["flat"] == tot["traded"]
    assert set(res.payload["boards"][0]) == {"board", *market.BREADTH_KEYS}


def test_breadth_over_a_range_is_a_daily_table(rules_store: Path) -> None:
    with open_store(rules_store) as st:
        res = market.breadth(st, start=day("2022-03-01"), end=day("2022-03-09"))
    days = res.payload["days"]
    assert len(days) == 7 and all(d["total"]["limit_up"] >= 1 for d in days)


def test_cli_limits_json_contract_and_errors(rules_store: Path) -> None:
    r = CliRunner().invoke(main, ["market", "limits", "--date", "2022-03-09", "--format", "json",
                                  "--store", str(rules_store)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"date", "limit_up", "limit_down"} <= set(out)
    assert set(out["limit_up"][0]) == {"code", "name", "board", "close", "change", "limit_pct", "streak"}
    r = CliRunner().invoke(main, ["market", "limits", "--date", "2022-03-12", "--store", str(rules_store)])
    assert r.exit_code == 2 and "not a trading day" in r.output and "2022-03-11" in r.output
    r = CliRunner().invoke(main, ["market", "breadth", "--date", "2030-01-02", "--store", str(rules_store)])
    assert r.exit_code == 2 and "outside the store's data" in r.output


def test_st_inference_reads_its_limit_prices_from_market_rules() -> None:
    from indexrecon.data import market_rules
    from indexrecon.data.sources import st_inference

    assert market_rules.limit_price_sql("prev", 5, 1) in st_inference.inferred_st_sql()
    assert market_rules.limit_price_sql("prev", 5, -1) in st_inference.inferred_st_sql()


@pytest.mark.realdata
def test_real_market_limits_agree_with_the_change(real_store) -> None:
    res = market.limit_closes(real_store, day("2025-04-08"))
    ups = res.payload["limit_up"]
    assert len(ups) > 50
    for r in ups:  # every limit-up close is within a fen of prev x (1 + limit)
        assert r["change"] == pytest.approx(r["limit_pct"] / 100, abs=0.0051 / (r["close"] / (1 + r["change"])) + 1e-9)
    b = market.breadth(real_store, day("2025-04-08")).payload
    assert b["total"]["limit_up"] == len(ups)
    assert b["total"]["limit_down"] == len(res.payload["limit_down"])


# ---------------------------------------------------------------------------------------
# moves, compare, events on an index whose levels the test writes
# ---------------------------------------------------------------------------------------
HOLIDAY_2022 = (day("2022-01-31"), day("2022-02-04"))  # the Spring Festival week of 2022


@pytest.fixture(scope="module")
def index_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[dt.date, float]]:
    """Index TEST01: 100, +1% on every trading day of a week after each holiday, flat otherwise;
    TEST02 = 2 x TEST01. The calendar closes the 2022 Spring Festival week only."""
    import pandas as pd

    p = tmp_path_factory.mktemp("market") / "index.duckdb"
    make_store(p, [S("000001", 1e10, board="sz_main")], start=day("2021-12-01"), end=day("2025-03-31"))
    with open_store(p, read_only=False) as st:
        st.con.execute("DELETE FROM calendar WHERE date BETWEEN ? AND ?", list(HOLIDAY_2022))
        st.con.execute("DELETE FROM bars WHERE date BETWEEN ? AND ?", list(HOLIDAY_2022))
        days = [r[0] for r in st.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()]
        level, levels = 100.0, {}
        for i, d in enumerate(days):
            if i and days[i - 1] < day("2022-01-31") <= d:  # a jump on the day after the holiday
                level *= 1.10
            elif d == day("2022-03-01"):
                level *= 0.95
            elif i > 0 and d.month == 6 and d.day <= 7:
                level *= 1.01
            levels[d] = level
        df = pd.DataFrame({"d": list(levels), "l": list(levels.values())})
        st.con.register("_l", df)
        for code, k in (("TEST01", 1), ("TEST02", 2)):
            st.con.execute(f"INSERT INTO index_bars SELECT '{code}', d, l * {k}, l * {k}, l * {k}, l * {k}, 0, 0 FROM _l")
    return p, levels


def test_moves_best_and_worst_of_a_known_path(index_store) -> None:
    p, _ = index_store
    with open_store(p) as st:
        res = market.moves(st, "TEST01", 3, on=day("2022-02-08"))
    best, worst = res.payload["best"], res.payload["worst"]
    # +10% on 2022-02-07, the first day after the holiday: the first 3-day window holding it
    # ends on it (ties go to the earlier end)
    assert best["return"] == pytest.approx(0.10) and best["end"] == day("2022-02-07")
    assert best["start"] == day("2022-01-26")
    assert worst["return"] == pytest.approx(-0.05) and worst["end"] == day("2022-03-01")
    on = res.payload["on"]
    assert on["daily"] == pytest.approx(0.0) and on["return"] == pytest.approx(0.10)
    assert on["start"] == day("2022-01-27")


def test_compare_two_proportional_indices(index_store) -> None:
    p, _ = index_store
    with open_store(p) as st:
        res = market.compare(st, ["TEST01", "TEST02"], day("2022-01-03"), day("2022-12-30"))
    a, b = res.payload["series"]
    assert a["annualised_return"] == pytest.approx(b["annualised_return"])
    assert a["max_drawdown"] == pytest.approx(-0.05)
    assert a["best_day"] == pytest.approx(0.10) and a["best_day_date"] == day("2022-02-07")
    assert res.payload["correlation"]["TEST01"]["TEST02"] == pytest.approx(1.0)
    assert {"target", "annualised_return", "volatility", "sharpe", "max_drawdown"} <= set(a)


def test_spring_festival_window_starts_from_the_last_close_before_the_holiday(index_store) -> None:
    p, levels = index_store
    with open_store(p) as st:
        res = market.events(st, "spring-festival", ["TEST01"], 5)
    years = {y["year"]: y for y in res.payload["series"][0]["years"]}
    y22 = years[2022]
    assert y22["event_date"] == day("2022-02-01")
    assert market.spring_festival(2022) == day("2022-02-01")
    assert y22["start"] == day("2022-01-28") and y22["end"] == day("2022-02-11")
    assert y22["return"] == pytest.approx(levels[day("2022-02-11")] / levels[day("2022-01-28")] - 1)
    assert y22["return"] == pytest.approx(0.10)
    s = res.payload["series"][0]
    assert s["share_up"] == pytest.approx(sum(y["return"] > 0 for y in years.values()) / len(years))
    # the store's calendar (weekdays) trades on the 2025 Spring Festival: said, not hidden
    assert any("trades on 2025-01-29" in w for w in res.warnings)
    assert not any("2022-02-01" in w for w in res.warnings)


def test_events_before_and_from_a_file(index_store, tmp_path: Path) -> None:
    p, _ = index_store
    f = tmp_path / "dates.txt"
    f.write_text("# my events\n2022-02-07\n2022-03-02\n", encoding="utf-8")
    with open_store(p) as st:
        res = market.events(st, str(f), ["TEST01"], 2, before=True)
        bad = tmp_path / "bad.txt"
        bad.write_text("2022-02-07\nlater\n", encoding="utf-8")
        with pytest.raises(market.IndexReconError, match=r"bad\.txt:2"):
            market.events(st, str(bad), ["TEST01"], 2)
    yrs = res.payload["series"][0]["years"]
    assert res.payload["event"] == "dates" and [y["end"] for y in yrs] == [day("2022-01-28"), day("2022-03-01")]
    assert yrs[1]["return"] == pytest.approx(-0.05)


def test_cli_events_json_contract(index_store) -> None:
    p, _ = index_store
    r = CliRunner().invoke(main, ["market", "events", "national-day", "TEST01", "--days", "3", "--format",
                                  "json", "--store", str(p)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"event", "days", "series"} <= set(out)
    assert set(out["series"][0]) == {"target", "years", "share_up", "mean"}
    assert set(out["series"][0]["years"][0]) == {"year", "event_date", "start", "end", "return"}
    r = CliRunner().invoke(main, ["market", "moves", "NOPE", "--store", str(p)])
    assert r.exit_code == 2 and "neither an index code" in r.output


@pytest.mark.realdata
def test_real_399006_moves_agree_with_index_bars(real_store) -> None:
    import pandas as pd

    off = real_store.con.execute(
        "SELECT date, close FROM index_bars WHERE index_code = '399006' ORDER BY date").df()
    for n in (1, 3, 6):
        res = market.moves(real_store, "399006", n)
        r = off["close"] / off["close"].shift(n) - 1
        assert res.payload["best"]["return"] == pytest.approx(r.max(), rel=1e-12)
        assert res.payload["worst"]["return"] == pytest.approx(r.min(), rel=1e-12)
        assert pd.Timestamp(res.payload["best"]["end"]) == off["date"][r.idxmax()]
    six = market.moves(real_store, "399006", 6).payload["best"]
    assert six["return"] > 0.6 and six["end"] == day("2024-10-08")


@pytest.mark.realdata
def test_real_spring_festivals_fall_in_the_store_calendar_holidays(real_store) -> None:
    first, last = real_store.date_range()
    dates = [market.spring_festival(y) for y in range(first.year, last.year + 1)]
    assert day("2024-02-10") in dates and day("2025-01-29") in dates
    assert market.holiday_check(real_store, dates) == []


# ---------------------------------------------------------------------------------------
# coverage of the board on a date (stats --as-of D)
# ---------------------------------------------------------------------------------------
COV_METHOD = {
    "name": "cov3", "title": "Top three", "universe": {"boards": ["chinext"]},
    "lookback": {"months": 6}, "selection": {"rank_by": "avg_total_cap", "count": 3},
    "weighting": {"method": "total_cap"}, "schedule": {"review_months": [6, 12]},
}


@pytest.fixture(scope="module")
def cov_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten ChiNext stocks of 10bn .. 1bn CNY (300002 suspended 2025-03-10 .. 03-20) and a main
    board stock that is not part of the board."""
    p = tmp_path_factory.mktemp("market") / "cov.duckdb"
    stocks = [S(f"300{i:03d}", cap=(11 - i) * 1e9, industry="270000" if i == 1 else "630000")
              for i in range(1, 11)]
    stocks[1].gaps = (day("2025-03-10"), day("2025-03-20"))
    stocks.append(S("000001", 50e9, board="sz_main"))
    make_store(p, stocks)
    return p


def test_coverage_on_a_date_prices_members_and_board_on_that_day(cov_store: Path, tmp_path: Path) -> None:
    import indexrecon as ir

    yaml_path = tmp_path / "cov3.yaml"
    yaml_path.write_text(json.dumps(COV_METHOD), encoding="utf-8")
    with open_store(cov_store) as st:
        res = ir.rebuild(ir.load_methodology(yaml_path), st, as_of=day("2025-03-14"), incumbents="none")
        assert res.codes == ["300001", "300002", "300003"]
        cov, mix, warnings = market.coverage_on(res, day("2025-03-14"))
    # 300002 did not trade on the day: the board is 9 stocks, 46bn; the index 2 stocks, 18bn
    assert cov["board_stocks"] == 9 and cov["index_stocks"] == 2
    assert cov["board_total_cap"] == pytest.approx(46e9) and cov["index_total_cap"] == pytest.approx(18e9)
    assert cov["share_of_market_cap"] == pytest.approx(18 / 46)
    assert cov["share_of_companies"] == pytest.approx(2 / 9)
    assert cov["avg_cap_multiple"] == pytest.approx((18 / 2) / (46 / 9))
    assert list(cov) == list(market.COVERAGE_KEYS)
    assert any("300002" in w for w in warnings)
    assert mix["weight"].sum() == pytest.approx(1.0)
    assert float(mix.loc[mix["sw_l1_code"] == "270000", "weight"].iloc[0]) == pytest.approx(10 / 27)


def test_cli_stats_as_of_has_the_day_and_the_cutoff_blocks(cov_store: Path, tmp_path: Path) -> None:
    yaml_path = tmp_path / "cov3.yaml"
    yaml_path.write_text(json.dumps(COV_METHOD), encoding="utf-8")
    args = ["stats", str(yaml_path), "--as-of", "2025-03-14", "--incumbents", "none", "--store", str(cov_store)]
    r = CliRunner().invoke(main, [*args, "--format", "json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.stdout)["stats"]
    assert stats["coverage"]["date"] == "2025-03-14" and stats["coverage"]["index_stocks"] == 2
    assert stats["coverage_at_cutoff"]["index_stocks"] == 3
    assert "industry_mix_at_cutoff" in stats
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "Coverage of the board on 2025-03-14" in r.output and "at the cutoff" in r.output


# ---------------------------------------------------------------------------------------
# valuation
# ---------------------------------------------------------------------------------------
def add_valuation(path: Path, rows: list[tuple[str, dt.date, float | None, float | None]]) -> None:
    import pandas as pd

    with open_store(path, read_only=False) as st:
        # the optional table, as `ingest files` creates it
        st.con.execute("CREATE TABLE IF NOT EXISTS valuation(code VARCHAR, date DATE, pe_ttm DOUBLE, pb DOUBLE)")
        st.con.register("_v", pd.DataFrame(rows, columns=["code", "date", "pe_ttm", "pb"]))
        st.con.execute("INSERT INTO valuation SELECT * FROM _v")


@pytest.fixture(scope="module")
def val_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """Official index IDX of A (10bn), B (6bn, a loss-maker) and C (4bn, no PE) on 25 days;
    A's PE rises 10, 11, ... 34 over them."""
    p = tmp_path_factory.mktemp("market") / "val.duckdb"
    make_store(p, [S("600001", 10e9, board="sh_main"), S("600002", 6e9, board="sh_main"),
                   S("600003", 4e9, board="sh_main"), S("600004", 99e9, board="sh_main")],
               start=day("2024-01-01"), end=day("2024-12-31"))
    days = [d for d in weekdays(day("2024-06-03"), day("2024-12-31"))][:25]
    rows = []
    for i, d in enumerate(days):
        rows += [("600001", d, 10.0 + i, 2.0), ("600002", d, -60.0, 1.5), ("600003", d, None, 1.0),
                 ("600004", d, 5.0, 0.5)]
    add_valuation(p, rows)
    with open_store(p, read_only=False) as st:
        st.con.execute("INSERT INTO index_bars VALUES ('IDX', DATE '2024-06-03', 1, 1, 1, 1, 0, 0)")
        for c in ("600001", "600002", "600003"):
            st.con.execute("INSERT INTO index_membership VALUES ('IDX', ?, DATE '2024-01-01', NULL)", [c])
    return p, days


def test_index_pe_is_total_cap_over_total_earnings_with_loss_makers(val_store) -> None:
    p, days = val_store
    with open_store(p) as st:
        res = valuation.valuation(st, "IDX", days[0])
    out = res.payload
    # A: cap 10bn / PE 10 = 1bn earnings; B: 6bn / -60 = -0.1bn; C has no PE: left out of both
    assert out["pe_ttm"] == pytest.approx(16 / 0.9)
    assert out["pb"] == pytest.approx(20 / (5 + 4 + 4))
    assert out["members"] == 3 and out["with_pe"] == 2 and out["with_pb"] == 3
    assert out["pe_percentile"] is None  # one day of data: refused, and said
    assert any("a percentile needs at least" in w for w in res.warnings)
    assert any("1 priced member(s) have no PE" in w for w in res.warnings)
    assert not any("cannot count as negative earnings" in w for w in res.warnings)  # B is negative


def test_valuation_says_when_the_data_has_no_loss_makers(val_store, tmp_path: Path) -> None:
    import shutil

    p, days = val_store
    q = tmp_path / "noloss.duckdb"
    shutil.copy(p, q)
    with open_store(q, read_only=False) as st:  # the provider gives no PE for loss-makers
        st.con.execute("UPDATE valuation SET pe_ttm = NULL WHERE pe_ttm < 0")
    with open_store(q) as st:
        res = valuation.valuation(st, "IDX", days[0])
    assert res.payload["pe_ttm"] == pytest.approx(10.0)  # A alone
    assert any("cannot count as negative earnings" in w for w in res.warnings)


def test_negative_total_earnings_give_no_percentile(tmp_path: Path) -> None:
    p = tmp_path / "neg.duckdb"
    make_store(p, [S("600001", 10e9, board="sh_main")], start=day("2024-01-01"), end=day("2024-03-31"))
    days = weekdays(day("2024-02-01"), day("2024-03-29"))
    add_valuation(p, [("600001", d, -5.0 if d == days[-1] else 10.0, 1.0) for d in days])
    with open_store(p, read_only=False) as st:
        st.con.execute("INSERT INTO index_bars VALUES ('IDX', DATE '2024-02-01', 1, 1, 1, 1, 0, 0)")
        st.con.execute("INSERT INTO index_membership VALUES ('IDX', '600001', DATE '2024-01-01', NULL)")
    with open_store(p) as st:
        res = valuation.valuation(st, "IDX", days[-1])
    assert res.payload["pe_ttm"] == pytest.approx(-5.0) and res.payload["pe_percentile"] is None
    assert any("negative" in w for w in res.warnings)


def test_valuation_uses_the_index_s_published_pe_pb_when_stored(val_store, tmp_path: Path) -> None:
    import shutil

    p, days = val_store
    q = tmp_path / "published.duckdb"
    shutil.copy(p, q)
    with open_store(q, read_only=False) as st:  # legulegu: 25 days, PE 30 - i; csindex: 3 days, PE only
        for i, d in enumerate(days):
            st.con.execute("INSERT INTO index_valuation VALUES ('IDX', ?, ?, ?, 'akshare:legulegu')",
                           [d, 30.0 - i, 1.2])
        for d in days[-3:]:
            st.con.execute("INSERT INTO index_valuation VALUES ('IDX', ?, 12.5, NULL, 'akshare:csindex')", [d])
        st.con.execute("INSERT INTO index_valuation VALUES ('OTHER', ?, 9.0, 1.0, 'akshare:csindex')", [days[0]])
    with open_store(q) as st:
        res = valuation.valuation(st, "IDX", days[-1])
        out = res.payload
        assert out["source"] == "akshare:legulegu" and out["members_from"] == "published by akshare:legulegu"
        assert out["pe_ttm"] == pytest.approx(6.0) and out["pb"] == pytest.approx(1.2)
        assert out["pe_percentile"] == pytest.approx(1 / 25)  # the lowest PE of the window
        assert out["pb_percentile"] == pytest.approx(1.0) and out["window"]["dates"] == 25
        assert any("published PE/PB of akshare:legulegu" in w for w in res.warnings)
        # a day after the provider's last one: its last day, said
        later = valuation.valuation(st, "IDX", day("2024-12-31"))
        assert later.payload["date"] == days[-1]
        assert any(f"figures are of {days[-1]}" in w for w in later.warnings)
        # PE only (csindex): no PB, said; and no percentile from 1 day
        other = valuation.valuation(st, "OTHER", days[0])
        assert other.payload["pe_ttm"] == 9.0 and other.payload["pe_percentile"] is None
        assert any("a percentile needs at least" in w for w in other.warnings)
    with open_store(q, read_only=False) as st:
        st.con.execute("UPDATE index_valuation SET pb = NULL WHERE index_code = 'OTHER'")
    with open_store(q) as st:
        other = valuation.valuation(st, "OTHER", days[0])
        assert other.payload["pb"] is None and any("gives no pb of OTHER" in w for w in other.warnings)
    r = CliRunner().invoke(main, ["market", "valuation", "IDX", "--date", str(days[-1]), "--store", str(q)])
    assert r.exit_code == 0, r.output
    assert "published by akshare:legulegu" in r.output and "members have a PE" not in r.output
    assert "published PE/PB" in r.output  # the warning reaches the (mixed) output


def test_valuation_percentile_over_the_window(val_store) -> None:
    p, days = val_store
    with open_store(p) as st:
        res = valuation.valuation(st, "IDX", days[19])
    out = res.payload
    assert out["window"]["dates"] == 20
    assert out["pe_percentile"] == pytest.approx(1.0)  # the highest PE so far
    with open_store(p) as st:
        last = valuation.valuation(st, "IDX", days[-1], years=1).payload
    assert last["pe_percentile"] == pytest.approx(1.0) and last["window"]["dates"] == 25
    assert last["pb_percentile"] == pytest.approx(1.0)  # PB is the same every day: all at or below


def test_valuation_without_data_is_one_line(cov_store: Path) -> None:
    # the table is in every new store's schema, empty until an ingest fills it
    r = CliRunner().invoke(main, ["market", "valuation", "399006", "--store", str(cov_store)])
    # schema version 2 creates the table (empty) in every store: "no data", or "no table" in an older one
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "no valuation table" in r.output or "valuation table has no data" in r.output


def test_valuation_of_a_methodology_uses_its_rebuilt_members(cov_store: Path, tmp_path: Path) -> None:
    import shutil

    p = tmp_path / "cov_val.duckdb"
    shutil.copy(cov_store, p)
    yaml_path = tmp_path / "cov3.yaml"
    yaml_path.write_text(json.dumps(COV_METHOD), encoding="utf-8")
    d = day("2025-03-13")
    # PE 10 for the three members, 100 for every other stock: the index PE is 10 only if the
    # members are the rebuilt ones
    add_valuation(p, [(f"300{i:03d}", d, 10.0 if i <= 3 else 100.0, 1.0) for i in range(1, 11)])
    with open_store(p) as st:
        out = valuation.valuation(st, str(yaml_path), d).payload
    assert out["members"] == 3 and out["pe_ttm"] == pytest.approx(10.0)
    assert "rebuilt" in out["members_from"]


# ---------------------------------------------------------------------------------------
# the HTML market page
# ---------------------------------------------------------------------------------------
def test_market_page_has_breadth_ladder_and_moves(rules_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.html"
    r = CliRunner().invoke(main, ["market", "report", "--date", "2022-03-09", "--store", str(rules_store),
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert 'id="breadth"' in html and 'id="ladder"' in html and "SYNTHETIC" in html
    assert "<td>000001</td>" in html or ">000001<" in html  # the 7-day streak on the ladder
    assert "http" not in html  # self-contained (the charts' SVG carries no namespace URL either)
    breadth = html.split('data-chart="market_breadth"')[1].split("</svg>")[0]
    assert breadth.count('class="mark"') == 5 and ">ChiNext</text>" in breadth  # a bar per board


def test_market_page_with_an_index_and_its_coverage(index_store, cov_store: Path, tmp_path: Path) -> None:
    from indexrecon.present.market_html import render_market_page

    p, _ = index_store
    with open_store(p) as st:
        html = render_market_page(st, day("2022-02-08"), target="TEST01", days=3)
    assert 'id="moves"' in html and "10.00%" in html
    level = html.split('data-chart="market_level"')[1].split("</svg>")[0]
    assert 'aria-label="TEST01: the year to 2022-02-08"' in level and 'class="mark"' in level
    yaml_path = tmp_path / "cov3.yaml"
    yaml_path.write_text(json.dumps(COV_METHOD), encoding="utf-8")
    with open_store(cov_store) as st:
        html = render_market_page(st, day("2025-03-14"), method=str(yaml_path), incumbents="none")
    assert 'id="coverage"' in html and "share_of_market_cap" in html
    assert 'data-chart="market_industry"' in html
    assert f"{100 * 18 / 46:.2f}%" in html


@pytest.mark.parametrize("args", [["breadth"], ["limits"], ["moves", "TEST01"], ["report"]])
def test_market_output_refuses_the_store_it_reads(index_store, args: list[str]) -> None:
    p, _ = index_store
    before = p.stat().st_size
    r = CliRunner().invoke(main, ["market", *args, "--store", str(p), "-o", str(p)])
    assert r.exit_code == 2 and "refused, nothing written" in r.output
    assert p.stat().st_size == before


def test_moves_of_a_methodology_are_those_of_its_backtest(demo_store) -> None:
    import indexrecon as ir

    start, end = day("2025-06-02"), day("2025-12-31")
    res = market.moves(demo_store, "chinext", 5, start, end)
    lv = ir.backtest("chinext", demo_store, start, end).levels
    r = lv["level"] / lv["level"].shift(5) - 1
    assert res.payload["best"]["return"] == pytest.approx(r.max(), rel=1e-12)
    assert res.payload["worst"]["end"] == lv["date"][r.idxmin()]
    assert res.payload["levels"] == "chinext"


@pytest.mark.realdata
def test_real_csi300_valuation_from_the_daily_basic_snapshots(real_store_path: Path, realdata_dir: Path,
                                                             tmp_path: Path) -> None:
    """The valuation table filled here from the shared snapshots (as `ingest files` does), so
    the test does not depend on which ingest wrote it."""
    import shutil

    p = tmp_path / "real_val.duckdb"
    shutil.copy(real_store_path, p)
    with open_store(p, read_only=False) as st:
        st.con.execute("CREATE TABLE IF NOT EXISTS valuation(code VARCHAR, date DATE, pe_ttm DOUBLE, pb DOUBLE)")
        st.con.execute("DELETE FROM valuation")
        st.con.execute("INSERT INTO valuation SELECT code, date, pe_ttm, pb FROM read_parquet(?)",
                       [str(realdata_dir / "daily_basic_snapshots.parquet")])
    with open_store(p) as st:
        res = valuation.valuation(st, "000300", day("2024-03-25"))
        check = st.con.execute("""
            SELECT sum(b.close * s.total_shares) / sum(b.close * s.total_shares / v.pe_ttm)
            FROM index_membership m JOIN bars b ON b.code = m.code AND b.date = DATE '2024-03-25'
            JOIN valuation v ON v.code = m.code AND v.date = b.date AND v.pe_ttm IS NOT NULL
            ASOF JOIN shares s ON s.code = m.code AND b.date >= s.effective_date
            WHERE m.index_code = '000300' AND m.start_date <= b.date AND (m.end_date IS NULL OR m.end_date >= b.date)
        """).fetchall()[0][0]
    out = res.payload
    assert out["members"] == 300 and out["pe_percentile"] is None  # three snapshot days only
    assert out["pe_ttm"] == pytest.approx(check, rel=1e-9)
    assert 5 < out["pe_ttm"] < 30 and 0.5 < out["pb"] < 5


def test_a_range_snaps_to_its_trading_days_and_refuses_an_empty_one(rules_store: Path) -> None:
    with open_store(rules_store) as st:
        res = market.breadth(st, start=day("2022-03-05"), end=day("2022-03-13"))  # Sat .. Sun
        assert res.payload["days"][0]["date"] == "2022-03-07"
        assert len(res.payload["days"]) == 5
        with pytest.raises(market.StoreError, match="no trading day"):
            market.breadth(st, start=day("2022-03-05"), end=day("2022-03-06"))


@pytest.mark.parametrize(("args", "says"), [
    (["events", "xmas", "TEST01"], "not one of spring-festival, national-day"),
    (["events", "spring-festival", "TEST01", "--days", "0"], "--days must be at least 1"),
    (["moves", "TEST01", "--days", "5000"], "too few for 5000-day moves"),
    (["moves", "TEST01", "--date", "2030-01-02"], "outside the store's data"),
    (["compare", "TEST01", "--start", "2030-01-02"], "no trading day of the store"),
    (["limits", "--date", "2025-13-01"], "--date 2025-13-01"),
    (["breadth", "--date", "2022-03-01", "--start", "2022-03-01"], "not both"),
])
def test_market_bad_input_is_one_line_exit_2(index_store, args: list[str], says: str) -> None:
    p, _ = index_store
    r = CliRunner().invoke(main, ["market", *args, "--store", str(p)])
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0] and "Traceback" not in r.output


@pytest.mark.realdata
def test_real_no_close_is_above_the_limit_up_price_the_rules_give(real_store) -> None:
    """A year of the whole market: a rule that says 10% where the exchange allowed 20% (a
    ChiNext date, a new listing) would show as closes above our limit-up price."""
    from indexrecon.data import market_rules

    # an ex-dividend day may close a fen above: the reference price the exchange used and the
    # store's previous close minus the dividend can differ by a fen
    ex_div = ("EXISTS (SELECT 1 FROM dividends v WHERE v.code = d.code AND v.ex_date = d.date)"
              if real_store.has_table("dividends") else "false")
    rows = real_store.con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE close > up_price + 0.005 AND NOT {ex_div}), "
        f"count(*) FILTER (WHERE at_up), count(*) FILTER (WHERE close < down_price - 0.005), "
        f"count(*) FILTER (WHERE close > up_price + 0.015) "
        f"FROM ({market_rules.market_days_sql(real_store)}) d",
        {"scan_lo": day("2024-07-01"), "hi": day("2025-06-30")}).fetchall()[0]
    n, above, at_up, below, above_fen = rows
    assert n > 1_000_000 and at_up > 10_000
    # ex-dividend days use previous close - cash; a few closes sit a fen above that limit
    # (e.g. 2024-11-28): companies holding treasury shares pay a smaller per-share amount than
    # the table's, and the exchange's reference price uses it (差异化分红)
    assert above == 0 and above_fen == 0
    assert below < 0.001 * n  # ex-rights days: the store has no bonus-share reference prices
