"""The SYNTHETIC demo universe: calibration, consistency of bars/shares/events, determinism."""

from __future__ import annotations

import datetime as dt
import threading
from functools import partial
from pathlib import Path

import duckdb
import pytest

from indexrecon.data.sources.demo import (
    DEMO_END,
    DEMO_SEED,
    DEMO_START,
    DEMO_VERSION,
    build_demo_store,
    demo_store_path,
    ensure_demo_store,
)
from indexrecon.data.sources.demo import store as demo_store
from indexrecon.data.sources.demo.calibration import BONUS_FACTORS
from indexrecon.data.store import TABLES

CAL_DAY = "2024-10-31"
L1_CODES = {
    "110000", "220000", "230000", "240000", "270000", "280000", "330000", "340000",
    "350000", "360000", "370000", "410000", "420000", "430000", "450000", "460000",
    "480000", "490000", "510000", "610000", "620000", "630000", "640000", "650000",
    "710000", "720000", "730000", "740000", "750000", "760000", "770000",
}  # fmt: skip
LEAD_FILLED = {"official_weights", "index_membership", "index_bars", "ingest_log"}
# Tables of schema version 2 the synthetic market does not model (no H shares, valuations or
# renames, nor the indices' published PE/PB): real sources fill them.
REAL_ONLY = {"valuation", "dual_listings", "name_history", "index_valuation"}

# The daily limit of a bar: 5% for ST/*ST on the main boards, else the board's limit.
LIMIT_SQL = """
    CASE WHEN s.board IN ('sh_main', 'sz_main') AND st.code IS NOT NULL THEN 0.05
         WHEN s.board IN ('sh_main', 'sz_main') THEN 0.10
         WHEN s.board IN ('chinext', 'star') THEN 0.20
         ELSE 0.30 END::DOUBLE
"""

# Each bar with the previous bar of the same stock and the facts that decide its limit.
BARS_WITH_PREV = f"""
    WITH b AS (
        SELECT code, date, open, high, low, close, c.sess,
               lag(close) OVER w AS prev_close,
               lag(c.sess) OVER w AS prev_sess,
               row_number() OVER w AS n
        FROM bars JOIN (SELECT date, row_number() OVER (ORDER BY date) AS sess FROM calendar) c
             USING (date)
        WINDOW w AS (PARTITION BY code ORDER BY date)
    ),
    st AS (SELECT code, start_date, coalesce(end_date, DATE '9999-12-31') AS end_date
           FROM status WHERE status IN ('ST', '*ST'))
    SELECT b.*, s.board, s.list_date, {LIMIT_SQL} AS lim,
           s.list_date >= DATE '{DEMO_START}' AND b.n <= 5 AS new_listing,
           d.cash_per_share AS cash,
           bonus.factor AS factor
    FROM b
    JOIN securities s USING (code)
    LEFT JOIN st ON st.code = b.code AND b.date BETWEEN st.start_date AND st.end_date
    LEFT JOIN dividends d ON d.code = b.code AND d.ex_date = b.date
    LEFT JOIN (
        SELECT code, effective_date,
               total_shares / lag(total_shares) OVER (PARTITION BY code ORDER BY effective_date)
                   AS factor, source
        FROM shares
    ) bonus ON bonus.code = b.code AND bonus.effective_date = b.date
               AND bonus.source = 'bonus_conversion'
"""


def q(store, sql: str, params: list | None = None) -> list[tuple]:
    return store.con.execute(sql, params or []).fetchall()


def one(store, sql: str, params: list | None = None):
    return q(store, sql, params)[0][0]


def caps_on(store, day: str, board: str | None = None) -> list[tuple[str, float, float]]:
    """(code, market cap, amount) of the stocks with a bar on `day`."""
    where = "AND s.board = ?" if board else ""
    return q(
        store,
        f"""
        SELECT b.code, b.close * sh.total_shares, b.amount
        FROM bars b JOIN securities s USING (code)
        ASOF JOIN shares sh ON sh.code = b.code AND b.date >= sh.effective_date
        WHERE b.date = ? {where}
        """,
        [day, board] if board else [day],
    )


# -- metadata and tables ----------------------------------------------------------------------
def test_meta_says_synthetic(demo_store) -> None:
    meta = demo_store.meta
    assert meta["synthetic"] == "true"
    assert demo_store.synthetic
    assert meta["source"] == f"indexrecon demo universe (SYNTHETIC, seed {DEMO_SEED})"
    assert meta["demo_version"] == DEMO_VERSION
    assert meta["created_by"] == "indexrecon.data.sources.demo"
    assert not any("created_at" in k or "time" in k for k in meta)


def test_every_source_table_is_filled(demo_store) -> None:
    for table in TABLES:
        n = demo_store.row_count(table)
        if table in LEAD_FILLED or table in REAL_ONLY:
            assert n == 0, table
        else:
            assert n > 0, table


def test_calendar(demo_store) -> None:
    days = [r[0] for r in q(demo_store, "SELECT date FROM calendar ORDER BY date")]
    assert days[0] == DEMO_START and days[-1] == DEMO_END
    assert len(days) == 822  # the real number of sessions in this window
    assert all(d.weekday() < 5 for d in days)
    for closed in ("2023-01-23", "2024-02-12", "2024-10-01", "2024-10-07", "2025-01-31",
                   "2025-05-05", "2025-10-08", "2026-02-20"):  # fmt: skip
        assert dt.date.fromisoformat(closed) not in days
    assert dt.date(2024, 9, 30) in days and dt.date(2024, 10, 8) in days
    assert (
        one(demo_store, "SELECT count(*) FROM bars WHERE date NOT IN (SELECT date FROM calendar)")
        == 0
    )
    assert one(demo_store, "SELECT count(DISTINCT date) FROM bars") == len(days)


def test_bars_are_stored_in_date_code_order(demo_store) -> None:
    bad = one(
        demo_store,
        """
        SELECT count(*) FROM (
            SELECT date, code, lag(date) OVER (ORDER BY rowid) AS pd,
                   lag(code) OVER (ORDER BY rowid) AS pc
            FROM bars)
        WHERE date < pd OR (date = pd AND code <= pc)
        """,
    )
    assert bad == 0


# -- calibration on 2024-10-31 ------------------------------------------------------------------
def test_chinext_calibration(demo_store) -> None:
    rows = caps_on(demo_store, CAL_DAY, "chinext")
    caps = sorted((c for _, c, _ in rows), reverse=True)
    total = sum(caps)
    assert 1300 <= len(rows) <= 1400
    assert 11.5e12 * 0.9 <= total <= 11.5e12 * 1.1
    assert 0.45 <= sum(caps[:100]) / total <= 0.55
    assert 800e9 <= caps[0] <= 1100e9
    assert 250e9 <= sum(a for *_, a in rows) <= 500e9
    # Lognormal-ish with a fat right tail: mean well above median, a long top decile.
    median = caps[len(caps) // 2]
    assert total / len(caps) > 1.8 * median
    assert caps[len(caps) // 100] > 10 * median
    giant = one(
        demo_store,
        """SELECT i.sw_l1_code FROM industry i WHERE i.code = ? AND i.end_date IS NULL""",
        [max(rows, key=lambda r: r[1])[0]],
    )
    assert giant == "630000"


def test_whole_market_calibration(demo_store) -> None:
    rows = caps_on(demo_store, CAL_DAY)
    assert 5100 <= len(rows) <= 5500
    assert 85e12 <= sum(c for _, c, _ in rows) <= 100e12
    per_board = dict(
        q(
            demo_store,
            "SELECT s.board, count(*) FROM bars b JOIN securities s USING (code) "
            "WHERE b.date = ? GROUP BY 1",
            [CAL_DAY],
        )
    )
    assert set(per_board) == {"sh_main", "sz_main", "chinext", "star", "bse"}
    assert 1550 <= per_board["sh_main"] <= 1800
    assert 1350 <= per_board["sz_main"] <= 1600
    assert 500 <= per_board["star"] <= 650
    assert 200 <= per_board["bse"] <= 330


# -- securities and codes ------------------------------------------------------------------------
def test_codes_boards_and_names(demo_store) -> None:
    rows = q(demo_store, "SELECT code, exchange, board, name FROM securities")
    prefixes = {
        "sh_main": ("600", "601", "603", "605"),
        "sz_main": ("000", "001", "002", "003"),
        "chinext": ("300", "301", "302"),
        "star": ("688",),
        "bse": ("920",),
    }
    exchanges = {"sh_main": "SH", "sz_main": "SZ", "chinext": "SZ", "star": "SH", "bse": "BJ"}
    for code, exchange, board, name in rows:
        assert len(code) == 6 and code.isdigit()
        assert code.startswith(prefixes[board]), (code, board)
        assert exchange == exchanges[board]
        assert name.startswith("演示")
    counts = dict(q(demo_store, "SELECT board, count(*) FROM securities GROUP BY 1"))
    assert 1650 <= counts["sh_main"] <= 1750
    assert 1450 <= counts["sz_main"] <= 1550
    assert 1380 <= counts["chinext"] <= 1450
    assert 550 <= counts["star"] <= 650
    assert 250 <= counts["bse"] <= 350
    assert len({n for *_, n in rows}) == len(rows)


def test_code_changes_key_history_by_new_code(demo_store) -> None:
    changes = q(demo_store, "SELECT old_code, new_code, change_date FROM code_changes")
    assert 1 <= len(changes) <= 2
    for old, new, when in changes:
        assert DEMO_START < when <= DEMO_END
        for table in ("securities", "bars", "shares", "industry"):
            assert one(demo_store, f"SELECT count(*) FROM {table} WHERE code = ?", [old]) == 0
            assert one(demo_store, f"SELECT count(*) FROM {table} WHERE code = ?", [new]) > 0
        first_bar = one(demo_store, "SELECT min(date) FROM bars WHERE code = ?", [new])
        assert first_bar < when  # the history before the change is under the new code


# -- bars ------------------------------------------------------------------------------------------
def test_ohlc_consistency(demo_store) -> None:
    bad = one(
        demo_store,
        """
        SELECT count(*) FROM bars
        WHERE NOT (low > 0 AND low <= open AND low <= close AND high >= open AND high >= close)
           OR abs(close * 100 - round(close * 100)) > 1e-6
           OR abs(open * 100 - round(open * 100)) > 1e-6
           OR abs(high * 100 - round(high * 100)) > 1e-6
           OR abs(low * 100 - round(low * 100)) > 1e-6
           OR volume < 100 OR volume % 100 <> 0
           OR amount / volume < low - 0.01 OR amount / volume > high + 0.01
        """,
    )
    assert bad == 0


@pytest.fixture(scope="module")
def limit_checks(demo_store) -> dict[str, int]:
    """One pass over all bars counting the limit facts the tests below assert on.

    A bar's limit prices are prev * (1 +- limit) rounded half-up to the fen, where prev is
    the previous close, or on an ex-date the ex-rights reference (prev - cash) / factor
    (rounded to the fen, hence one extra fen of slack there).
    """
    row = demo_store.con.execute(
        f"""
        WITH x AS (
            SELECT *,
                   (prev_close - coalesce(cash, 0)) / coalesce(factor, 1) AS ref,
                   cash IS NOT NULL OR factor IS NOT NULL AS ex_date,
                   sess - prev_sess > 1 AS resumed
            FROM ({BARS_WITH_PREV})
            WHERE prev_close IS NOT NULL
        ),
        y AS (
            SELECT *,
                   round(ref * (1 + lim) + 1e-9, 2) + 1e-6 + CASE WHEN ex_date THEN 0.01 ELSE 0 END
                       AS up,
                   round(ref * (1 - lim) + 1e-9, 2) - 1e-6 - CASE WHEN ex_date THEN 0.01 ELSE 0 END
                       AS dn,
                   abs(close / prev_close - 1) AS move
            FROM x
        )
        SELECT
            count(*) FILTER (WHERE NOT new_listing AND NOT ex_date) AS checked,
            count(*) FILTER (WHERE NOT new_listing AND NOT ex_date AND (high > up OR low < dn))
                AS violations,
            count(*) FILTER (WHERE NOT new_listing AND NOT ex_date AND close >= up - 0.005)
                AS limit_up,
            count(*) FILTER (WHERE NOT new_listing AND NOT ex_date AND close <= dn + 0.005)
                AS limit_down,
            count(*) FILTER (WHERE lim = 0.05 AND NOT ex_date AND move >= 0.045) AS st_big,
            count(*) FILTER (WHERE lim = 0.05 AND NOT ex_date AND move > 0.051
                             AND prev_close >= 5) AS st_too_big,
            count(*) FILTER (WHERE resumed AND NOT new_listing AND NOT ex_date) AS resumed,
            count(*) FILTER (WHERE resumed AND NOT new_listing AND NOT ex_date
                             AND (high > up OR low < dn)) AS resumed_bad,
            count(*) FILTER (WHERE ex_date) AS ex_dates,
            count(*) FILTER (WHERE ex_date AND (high > up OR low < dn)) AS ex_bad,
            count(*) FILTER (WHERE ex_date AND cash IS NOT NULL AND NOT cash < prev_close * 0.11)
                AS cash_bad,
            count(*) FILTER (WHERE factor >= 2) AS doubles,
            count(*) FILTER (WHERE factor >= 2 AND close > prev_close * 0.5 * (1 + lim) + 0.02)
                AS doubles_bad
        FROM y
        """
    )
    names = [d[0] for d in row.description]
    return dict(zip(names, row.fetchone(), strict=True))


def test_price_limits(limit_checks: dict[str, int]) -> None:
    """Every open/high/low/close lies within the exchange's limit prices, exactly.

    Exempt, as in the real market: the first five sessions of a new listing (no limit).
    Ex-dates are checked against the ex-rights reference price (test below); sessions
    after a suspension are NOT exempt.
    """
    c = limit_checks
    assert c["checked"] > 4_000_000
    assert c["violations"] == 0
    # The limits bind: plenty of limit-up and limit-down closes.
    assert c["limit_up"] > 2000 and c["limit_down"] > 1000
    # Main-board ST stocks move up to, never past, 5%.
    assert c["st_big"] > 100 and c["st_too_big"] == 0


def test_resumption_after_suspension_respects_limit(limit_checks: dict[str, int]) -> None:
    assert limit_checks["resumed"] > 200
    assert limit_checks["resumed_bad"] == 0


def test_ex_dates_move_price_consistently(limit_checks: dict[str, int]) -> None:
    """On an ex-date prices stay within the limit of (prev close - cash) / bonus factor."""
    c = limit_checks
    assert c["ex_dates"] > 5000
    assert c["ex_bad"] == 0 and c["cash_bad"] == 0
    # A 2-for-1 bonus halves the raw price (within the day's limit).
    assert c["doubles"] > 5 and c["doubles_bad"] == 0


def test_bonus_shares_multiply_all_share_counts(demo_store) -> None:
    rows = q(
        demo_store,
        """
        SELECT total_shares / lag(total_shares) OVER w, float_shares / lag(float_shares) OVER w,
               free_float_shares / lag(free_float_shares) OVER w, source
        FROM shares WINDOW w AS (PARTITION BY code ORDER BY effective_date)
        """,
    )
    bonus = [r for r in rows if r[3] == "bonus_conversion"]
    assert len(bonus) > 100
    for tot, flt, free, _ in bonus:
        assert min(abs(tot - f) for f in BONUS_FACTORS) < 1e-6
        assert abs(flt - tot) < 1e-6 and abs(free - tot) < 1e-6


def test_dividends(demo_store) -> None:
    n, payers, first, last = q(
        demo_store,
        "SELECT count(*), count(DISTINCT code), min(ex_date), max(ex_date) FROM dividends",
    )[0]
    assert payers > 3000 and n > 9000
    assert first >= DEMO_START and last <= DEMO_END
    # Mostly mid-year: the annual dividend season.
    mid = one(demo_store, "SELECT count(*) FROM dividends WHERE month(ex_date) BETWEEN 5 AND 7")
    assert mid > 0.8 * n
    assert one(demo_store, "SELECT count(*) FROM dividends d ANTI JOIN bars b "
               "ON b.code = d.code AND b.date = d.ex_date") == 0  # fmt: skip


# -- share capital -----------------------------------------------------------------------------------
def test_share_counts_are_ordered_and_cover_every_bar(demo_store) -> None:
    assert (
        one(
            demo_store,
            "SELECT count(*) FROM shares WHERE NOT (free_float_shares > 0 "
            "AND free_float_shares <= float_shares AND float_shares <= total_shares)",
        )
        == 0
    )
    assert one(demo_store, "SELECT count(*) FROM (SELECT code, effective_date FROM shares "
               "GROUP BY ALL HAVING count(*) > 1)") == 0  # fmt: skip
    uncovered = one(
        demo_store,
        "SELECT count(*) FROM bars b ASOF LEFT JOIN shares s "
        "ON s.code = b.code AND b.date >= s.effective_date WHERE s.code IS NULL",
    )
    assert uncovered == 0


def test_free_float_ratios_spread_over_the_csi_tiers(demo_store) -> None:
    ratios = [
        r[0]
        for r in q(
            demo_store,
            """SELECT sh.free_float_shares / sh.total_shares FROM bars b
               ASOF JOIN shares sh ON sh.code = b.code AND b.date >= sh.effective_date
               WHERE b.date = ?""",
            [CAL_DAY],
        )
    ]
    assert min(ratios) < 0.2 and max(ratios) > 0.999
    edges = [0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01]
    lows = [0, *edges[:-1]]
    tiers = [sum(1 for r in ratios if lo < r <= hi) for lo, hi in zip(lows, edges, strict=True)]
    assert all(t >= 30 for t in tiers), tiers


def test_share_events(demo_store) -> None:
    sources = dict(q(demo_store, "SELECT source, count(*) FROM shares GROUP BY 1"))
    assert sources.get("placement", 0) > 100
    assert sources.get("lockup_expiry", 0) > 500
    assert sources.get("ipo", 0) > 300
    # Lock-up expiries raise the float and leave the total alone.
    bad = one(
        demo_store,
        """
        SELECT count(*) FROM (
            SELECT source, total_shares - lag(total_shares) OVER w AS dt,
                   float_shares - lag(float_shares) OVER w AS df
            FROM shares WINDOW w AS (PARTITION BY code ORDER BY effective_date))
        WHERE source = 'lockup_expiry' AND NOT (dt = 0 AND df > 0)
        """,
    )
    assert bad == 0
    # Placements raise the total but not the float.
    bad = one(
        demo_store,
        """
        SELECT count(*) FROM (
            SELECT source, total_shares / lag(total_shares) OVER w AS ft,
                   float_shares - lag(float_shares) OVER w AS df
            FROM shares WINDOW w AS (PARTITION BY code ORDER BY effective_date))
        WHERE source = 'placement' AND NOT (ft BETWEEN 1.04 AND 1.26 AND df = 0)
        """,
    )
    assert bad == 0


# -- listings, delistings, status -------------------------------------------------------------------
def test_ipos(demo_store) -> None:
    rows = q(
        demo_store,
        """SELECT s.code, s.list_date, min(b.date) FROM securities s JOIN bars b USING (code)
           WHERE s.list_date >= ? GROUP BY ALL""",
        [DEMO_START],
    )
    assert 400 <= len(rows) <= 700
    assert all(listed == first for _, listed, first in rows)
    per_month = len(rows) / 41
    assert 8 <= per_month <= 40
    # Pre-window listings trade from the first session (unless suspended then).
    assert one(demo_store, "SELECT max(list_date) FROM securities WHERE list_date < ?",
               [DEMO_START]) < DEMO_START  # fmt: skip


def test_delistings(demo_store) -> None:
    rows = q(
        demo_store,
        """SELECT s.code, s.delist_date, max(b.date), any_value(st.start_date),
                  any_value(st.end_date)
           FROM securities s JOIN bars b USING (code)
           LEFT JOIN status st ON st.code = s.code AND st.status = 'delisting'
           WHERE s.delist_date IS NOT NULL GROUP BY ALL""",
    )
    assert 20 <= len(rows) <= 80
    for code, delist, last_bar, dl_start, dl_end in rows:
        assert last_bar < delist, code
        assert dl_end == last_bar and dl_start < last_bar, code
        # Face-value style delisting: the price ended low.
        close = one(demo_store, "SELECT close FROM bars WHERE code = ? AND date = ?",
                    [code, last_bar])  # fmt: skip
        assert close < 5


def test_st_episodes(demo_store) -> None:
    per_board = dict(
        q(
            demo_store,
            """SELECT s.board, count(DISTINCT st.code) FROM status st JOIN securities s USING (code)
               WHERE st.status IN ('ST', '*ST') GROUP BY 1""",
        )
    )
    assert per_board.get("sh_main", 0) >= 60 and per_board.get("sz_main", 0) >= 60
    assert per_board.get("chinext", 0) >= 10
    # Intervals of one stock do not overlap (a suspension may fall inside an ST episode).
    overlaps = one(
        demo_store,
        """SELECT count(*) FROM status a JOIN status b ON a.code = b.code
           AND a.start_date < b.start_date AND a.status <> 'suspended' AND b.status <> 'suspended'
           AND coalesce(a.end_date, DATE '9999-12-31') >= b.start_date""",
    )
    assert overlaps == 0
    assert one(demo_store, "SELECT count(*) FROM status WHERE end_date < start_date") == 0


def test_suspensions(demo_store) -> None:
    rows = q(
        demo_store,
        """SELECT st.code, st.start_date, st.end_date,
                  (SELECT count(*) FROM calendar c WHERE c.date BETWEEN st.start_date AND st.end_date),
                  (SELECT count(*) FROM bars b WHERE b.code = st.code
                      AND b.date BETWEEN st.start_date AND st.end_date),
                  (SELECT count(*) FROM bars b WHERE b.code = st.code AND b.date < st.start_date),
                  (SELECT count(*) FROM bars b WHERE b.code = st.code AND b.date > st.end_date)
           FROM status st WHERE st.status = 'suspended'""",
    )
    assert len(rows) > 200
    for code, _, _, _, inside, before, after in rows:
        assert inside == 0 and before > 0 and after > 0, code
    long = [r for r in rows if (r[2] - r[1]).days > 92]
    assert len(long) >= 3


# -- industries ----------------------------------------------------------------------------------------
def test_industries(demo_store) -> None:
    l1 = dict(q(demo_store, "SELECT sw_l1_code, any_value(sw_l1_name_en) FROM industry GROUP BY 1"))
    assert set(l1) == L1_CODES
    assert l1["110000"].startswith("Agriculture") and l1["770000"] == "Beauty & Personal Care"
    assert one(demo_store, "SELECT count(*) FROM industry WHERE sw_l2_code[:2] <> sw_l1_code[:2] "
               "OR sw_l2_code[5:] <> '00' OR sw_l3_code[:4] <> sw_l2_code[:4] "
               "OR sw_l1_name IS NULL OR sw_l2_name IS NULL OR sw_l2_name_en IS NULL") == 0  # fmt: skip
    # Every stock trading on the calibration day has exactly one industry that day.
    counts = q(
        demo_store,
        """SELECT b.code, count(i.code) FROM bars b LEFT JOIN industry i ON i.code = b.code
           AND b.date BETWEEN i.start_date AND coalesce(i.end_date, DATE '9999-12-31')
           WHERE b.date = ? GROUP BY 1""",
        [CAL_DAY],
    )
    assert all(n == 1 for _, n in counts)
    banks = dict(q(demo_store, "SELECT s.board, count(*) FROM industry i JOIN securities s "
                   "USING (code) WHERE sw_l1_code = '480000' GROUP BY 1"))  # fmt: skip
    assert set(banks) <= {"sh_main", "sz_main"} and sum(banks.values()) >= 20
    top = [
        r[0]
        for r in q(
            demo_store,
            """SELECT sw_l1_code FROM industry i JOIN securities s USING (code)
               WHERE s.board = 'chinext' AND i.end_date IS NULL
               GROUP BY 1 ORDER BY count(*) DESC LIMIT 6""",
        )
    ]
    assert {"630000", "270000", "370000", "640000", "710000"} <= set(top)


def test_reclassifications(demo_store) -> None:
    rows = q(
        demo_store,
        """SELECT a.code, a.end_date, b.start_date, a.sw_l2_code, b.sw_l2_code
           FROM industry a JOIN industry b ON a.code = b.code AND a.start_date < b.start_date""",
    )
    assert 10 <= len(rows) <= 60
    for code, end, start, old, new in rows:
        assert old != new, code
        nxt = one(demo_store, "SELECT min(date) FROM calendar WHERE date > ?", [end])
        assert nxt == start, code


# -- determinism and the lazily built default store ----------------------------------------------
def _table_digests(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in TABLES:
            out[table] = con.execute(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::VARCHAR, '|' "
                f"ORDER BY t::VARCHAR)), '') FROM {table} t"
            ).fetchone()[0]
        return out
    finally:
        con.close()


def test_same_seed_same_tables(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "c.duckdb"
    build_demo_store(a, scale=0.05)
    build_demo_store(b, scale=0.05)
    build_demo_store(c, scale=0.05, seed=DEMO_SEED + 1)
    da, db, dc = _table_digests(a), _table_digests(b), _table_digests(c)
    assert da == db
    assert da["bars"] != dc["bars"] and da["securities"] != dc["securities"]
    assert int(da["bars"].split(":")[0]) > 10_000


def test_build_refuses_to_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "x.duckdb"
    p.write_bytes(b"")
    with pytest.raises(FileExistsError):
        build_demo_store(p, scale=0.02)


def test_demo_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INDEXRECON_DEMO_PATH", str(tmp_path / "d.duckdb"))
    assert demo_store_path() == tmp_path / "d.duckdb"
    monkeypatch.delenv("INDEXRECON_DEMO_PATH")
    # A source checkout (data/ and pyproject.toml beside src/): the store goes to data/.
    repo = tmp_path / "checkout"
    (repo / "data").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    where = repo / "src" / "indexrecon" / "data" / "sources" / "demo" / "store.py"
    monkeypatch.setattr(demo_store, "__file__", str(where))
    assert demo_store_path() == repo / "data" / "demo.duckdb"


def test_ensure_builds_once_and_rebuilds_on_version_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Path] = []
    small = partial(build_demo_store, scale=0.02)

    def counting_build(path: Path) -> None:
        calls.append(path)
        small(path)

    monkeypatch.setattr(demo_store, "build_demo_store", counting_build)
    path = tmp_path / "sub" / "demo.duckdb"
    # Two threads at once: the lock makes the second wait and then find the store ready.
    threads = [threading.Thread(target=ensure_demo_store, args=(path,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and path.is_file()
    assert calls[0] != path  # built beside it, then moved into place
    ensure_demo_store(path)
    assert len(calls) == 1
    assert capsys.readouterr().out == ""
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = 'old' WHERE key = 'demo_version'")
    con.close()
    ensure_demo_store(path)
    assert len(calls) == 2
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    con = duckdb.connect(str(path), read_only=True)
    assert (
        con.execute("SELECT value FROM meta WHERE key = 'demo_version'").fetchone()[0]
        == DEMO_VERSION
    )
    con.close()
