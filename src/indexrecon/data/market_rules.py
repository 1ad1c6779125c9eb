"""Daily price limits of A-share stocks, by board and date, and the board lots (the order
sizes each board accepts, at the end): the one place they are written.

Every command that needs to know whether a stock closed at its limit (`market limits`,
`market breadth`, the HTML market page) and the ST inference of `ingest files`
(`sources/st_inference.py`, which uses `limit_price_sql`) read the rules from here.

The rules, as the exchanges publish them:

* **Main boards (SSE, SZSE): 10%; risk-warning (ST, *ST) stocks 5%.**
  上海证券交易所交易规则 and 深圳证券交易所交易规则 (2023 revisions; wording abridged here):
  "股票竞价交易实行价格涨跌幅限制，涨跌幅限制比例为10%，其中ST和*ST等被实施风险警示
  的股票价格涨跌幅限制比例为5%". (On 2025-06-27 both exchanges consulted on raising the
  risk-warning limit to 10% — 关于调整主板风险警示股票价格涨跌幅限制比例及有关事项的通知
  (征求意见稿); no effective date is encoded: the shared real data shows stocks flagged ST in
  June 2025 still held to 5% through mid-2026.)
* **ChiNext: 20% from 2020-08-24** (深圳证券交易所创业板交易特别规定, effective 2020-08-24,
  "创业板股票竞价交易实行价格涨跌幅限制，涨跌幅限制比例为20%"), risk-warning
  stocks included; before that day the SZSE main-board rule applied (10%, ST 5%).
* **STAR: 20%** (上海证券交易所科创板股票交易特别规定, 2019: "科创板股票竞价交易
  实行价格涨跌幅限制，涨跌幅比例为20%"), risk-warning stocks included.
* **BSE: 30%** (北京证券交易所交易规则（试行）, effective 2021-11-15:
  "股票竞价交易实行价格涨跌幅限制，涨跌幅限制比例为前收盘价的30%").
* **New listings.** No limit in the first five trading days of a registration-system IPO:
  ChiNext listings from 2020-08-24 (创业板交易特别规定: "首次公开发行上市的股票，
  上市后的前5个交易日不实行价格涨跌幅限制"), STAR (科创板交易特别规定, same words),
  and main-board listings from 2023-04-10, the first day of main-board registration-system
  listings (上交所/深交所交易规则, 2023-02-17 revisions). Before that, a
  main-board (and pre-2020-08-24 ChiNext) listing's first day was capped at +44% / -36% of the
  issue price (新股上市首日申报价格 "不高于发行价格的144%，且不低于发行价格的64%"), then 10%.
  BSE: only the listing day has no limit (北京证券交易所交易规则（试行）: "向不特定合格投资者
  公开发行的股票上市首日... 不实行价格涨跌幅限制"), 30% from the second day; the issue's "five
  days" for BSE does not match the rule and is not encoded. The shared real data agrees: of
  the 268 BSE listings in it none moved more than 30% on its days 2 to 5, while ChiNext, STAR
  and registration-system main-board listings did (up to +257%) and none did from day 6.
* **The limit price** is the reference price x (1 +- limit), rounded half up to the fen
  ("计算结果按照四舍五入原则取至价格最小变动单位", both exchanges' trading rules; the tick
  is 0.01 CNY). The reference price is the previous close, on an ex-dividend day the
  ex-dividend reference price (previous close minus the cash dividend: 除息参考价格). A close at
  the limit is a close equal, to the fen, to that price. Checked on the shared real data
  (6.0 million bars, 2021-08 .. 2026-07, with its dividends): no close above the limit-up
  price these rules give but three ex-dividend days, a fen above (the exchange's reference
  price and the previous close minus the dividend differ by a fen there); about 0.03% of
  the bars close below the limit-down price: ex-rights days of bonus shares, whose reference
  price the store cannot compute.

What the store cannot say, and what is therefore not encoded: the issue price (so a first day
under the old +44% / -36% band can never be "at the limit"), bonus-share ex-rights reference
prices (only cash dividends from the `dividends` table adjust the reference), delisting
arrangement periods (no limit on their first day), and the status of ChiNext / STAR / BSE ST
stocks (their limit does not depend on it anyway). `warnings()` says which of these apply to
a store.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .store import Store

__all__ = ["limit_closes_sql", "limit_pct_sql", "limit_price_sql", "market_days_sql", "warnings",
           "widest_fraction_sql"]

MAIN_BOARDS = ("sh_main", "sz_main")
MAIN_PCT = 10
RISK_WARNING_PCT = 5  # main boards (and ChiNext before 2020-08-24)
# Boards where ST and ordinary stocks have different daily limits (5% against 10%): where a
# store without status history can have its ST intervals inferred from the bars.
ST_LIMIT_BOARDS = MAIN_BOARDS
ST_LIMIT_PCT = RISK_WARNING_PCT
CHINEXT_PCT = 20
CHINEXT_REFORM = dt.date(2020, 8, 24)  # 创业板改革并试点注册制: first trading day under the new rules
STAR_PCT = 20
BSE_PCT = 30
MAIN_REGISTRATION = dt.date(2023, 4, 10)  # first main-board listings under the registration system
FREE_DAYS_REGISTRATION = 5  # trading days without a limit after a registration-system IPO
FREE_DAYS_BSE = 1
OLD_FIRST_DAY_UP, OLD_FIRST_DAY_DOWN = 44, 36  # % of the issue price, pre-registration first day
RISK_WARNING_STATUSES = ("ST", "*ST")
# The widest daily limit each board has had (ChiNext 20% since 2020-08-24): a move beyond it
# between two sessions is no trading move but a share event (a bonus issue, a split).
WIDEST_PCT = {"sh_main": MAIN_PCT, "sz_main": MAIN_PCT, "chinext": CHINEXT_PCT, "star": STAR_PCT, "bse": BSE_PCT}


def widest_fraction_sql(board: str) -> str:
    """SQL of the widest daily limit of `board` (a column), as a fraction (0.10 ... 0.30)."""
    whens = " ".join(f"WHEN '{b}' THEN {p / 100:.2f}" for b, p in WIDEST_PCT.items())
    return f"CASE {board} {whens} ELSE {max(WIDEST_PCT.values()) / 100:.2f} END"


def _factor(pct: float | int, side: int) -> str:
    """The exact decimal factor (1 +- pct/100) as a SQL literal, e.g. 1.05 or 0.95."""
    return str(Decimal(100 + side * Decimal(str(pct))) / 100)


def limit_price_sql(ref: str, pct: str | float | int, side: int) -> str:
    """SQL of the limit price, in DECIMAL(18, 2): `ref` x (1 + side x pct%), rounded half up to
    the fen in decimal arithmetic (no binary rounding). `pct` is a number or a SQL expression
    (in percent); `side` is +1 (limit up) or -1 (limit down)."""
    if isinstance(pct, int | float):
        factor = _factor(pct, side)
    else:
        # an exact decimal factor from an integer percent: (100 +- pct) x 0.01
        factor = f"(CAST(100 {'+' if side > 0 else '-'} ({pct}) AS DECIMAL(6, 0)) * CAST(0.01 AS DECIMAL(3, 2)))"
    return f"round(CAST({ref} AS DECIMAL(18, 2)) * {factor}, 2)"


def _lit(d: dt.date) -> str:
    return f"DATE '{d.isoformat()}'"


def limit_pct_sql(board: str = "board", date: str = "date", list_date: str = "list_date",
                  listing_day: str = "listing_day", st: str = "st") -> tuple[str, str]:
    """SQL of the limit-up and limit-down percentages in force (NULL: no limit that day).

    `listing_day` is the trading-day ordinal since the listing (1 = the listing day; NULL when
    the listing is before the data), `st` a boolean: a risk-warning status in force."""
    main = f"{board} IN ({', '.join(repr(b) for b in MAIN_BOARDS)})"
    old_rules = f"({main} OR ({board} = 'chinext' AND {list_date} < {_lit(CHINEXT_REFORM)}))"
    normal = (
        f"CASE WHEN {board} = 'bse' THEN {BSE_PCT} WHEN {board} = 'star' THEN {STAR_PCT} "
        f"WHEN {board} = 'chinext' AND {date} >= {_lit(CHINEXT_REFORM)} THEN {CHINEXT_PCT} "
        f"WHEN coalesce({st}, false) THEN {RISK_WARNING_PCT} ELSE {MAIN_PCT} END"
    )
    free = (
        f"{listing_day} IS NOT NULL AND ("
        f"({board} = 'bse' AND {listing_day} <= {FREE_DAYS_BSE}) OR "
        f"({board} = 'star' AND {listing_day} <= {FREE_DAYS_REGISTRATION}) OR "
        f"({board} = 'chinext' AND {list_date} >= {_lit(CHINEXT_REFORM)} AND {listing_day} <= {FREE_DAYS_REGISTRATION}) OR "
        f"({main} AND {list_date} >= {_lit(MAIN_REGISTRATION)} AND {listing_day} <= {FREE_DAYS_REGISTRATION}))"
    )
    first_day = f"{listing_day} = 1 AND {old_rules}"
    up = f"CASE WHEN {free} THEN NULL WHEN {first_day} THEN {OLD_FIRST_DAY_UP} ELSE {normal} END"
    down = f"CASE WHEN {free} THEN NULL WHEN {first_day} THEN {OLD_FIRST_DAY_DOWN} ELSE {normal} END"
    return up, down


def market_days_sql(store: Store, codes: bool = False) -> str:
    """SQL of every stock's bars from $scan_lo to $hi with its price limits (one row per bar):
    code, date, board, name, close, amount, ref (the reference price), change (a fraction),
    up_pct, down_pct (percent; NULL: no limit), up_price, down_price, at_up, at_down, dir (the
    sign of the change, to the fen), st and
    listing_day, and first_in_scan (the stock's first bar in the scan). With `codes`, only the
    stocks in the list parameter $codes."""
    only = "AND code IN (SELECT unnest($codes))" if codes else ""
    only_x = "AND x.code IN (SELECT unnest($codes))" if codes else ""
    has_div = store.has_table("dividends")
    censored = store.meta.get("list_date_censored_at")
    censored_sql = f"DATE '{dt.date.fromisoformat(censored).isoformat()}'" if censored else "NULL"
    statuses = ", ".join(repr(s) for s in RISK_WARNING_STATUSES)
    has_status = store.has_table("status")
    # the risk-warning days of the scan: status intervals expanded over its trading days (a
    # small join; a correlated EXISTS per bar costs more)
    st_join = (
        "LEFT JOIN (SELECT DISTINCT t.code, c.date FROM status t JOIN cal c ON c.date BETWEEN $scan_lo AND $hi "
        "AND c.date >= t.start_date AND (t.end_date IS NULL OR c.date <= t.end_date) "
        f"WHERE t.status IN ({statuses})) w ON w.code = b.code AND w.date = b.date"
        if has_status else ""
    )
    st_sql = "w.code IS NOT NULL" if has_status else "false"
    div_join = (
        "LEFT JOIN (SELECT code, ex_date, sum(cash_per_share) AS cash FROM dividends "
        "WHERE ex_date BETWEEN $scan_lo AND $hi GROUP BY code, ex_date) d "
        "ON d.code = p.code AND d.ex_date = p.date"
        if has_div else ""
    )
    cash = "coalesce(d.cash, 0)" if has_div else "0"
    up_pct, down_pct = limit_pct_sql("s.board", "p.date", "s.list_date", "p.listing_day", "p.st")
    return f"""
    WITH cal AS (SELECT date, row_number() OVER (ORDER BY date) AS rn FROM calendar),
    sec AS (  -- the trading-day ordinal of each listing inside the data (NULL: listed before it)
      SELECT s.code, s.board, s.name, s.list_date,
             CASE WHEN s.list_date IS NULL OR s.list_date <= coalesce({censored_sql}, DATE '0001-01-01')
                       OR s.list_date < (SELECT min(date) FROM cal) THEN NULL
                  ELSE (SELECT min(rn) FROM cal WHERE cal.date >= s.list_date) END AS list_rn
      FROM securities s
    ),
    before AS (  -- each stock's last close before the scan: the reference of its first bar in it
      SELECT code, max(date) AS date, arg_max(close, date) AS close
      FROM bars WHERE date < $scan_lo {only} GROUP BY code
    ),
    b AS (
      SELECT code, date, close, amount,
             coalesce(lag(close) OVER w, arg_max_prev) AS prev_close,
             row_number() OVER w = 1 AS first_in_scan
      FROM (SELECT x.code, x.date, x.close, x.amount, bf.close AS arg_max_prev
            FROM bars x LEFT JOIN before bf USING (code)
            WHERE x.date BETWEEN $scan_lo AND $hi {only_x})
      WINDOW w AS (PARTITION BY code ORDER BY date)
    ),
    p AS (
      SELECT b.*, cal.rn - sec.list_rn + 1 AS listing_day, {st_sql} AS st
      FROM b JOIN cal USING (date) LEFT JOIN sec USING (code) {st_join}
    ),
    r AS (
      SELECT p.code, p.date, s.board, s.name, p.close, p.amount, p.st, p.listing_day,
             p.first_in_scan,
             CASE WHEN p.prev_close IS NULL THEN NULL
                  ELSE CAST(round(CAST(p.prev_close AS DECIMAL(18, 2)) - CAST({cash} AS DECIMAL(18, 4)), 2)
                            AS DECIMAL(18, 2)) END AS ref,
             {up_pct} AS up_pct, {down_pct} AS down_pct
      FROM p JOIN sec s USING (code) {div_join}
    ),
    l AS (
      SELECT *, {limit_price_sql("ref", "up_pct", 1)} AS up_price,
                {limit_price_sql("ref", "down_pct", -1)} AS down_price,
                CAST(close AS DECIMAL(18, 2)) AS close_fen
      FROM r
    ),
    f AS (
      SELECT *, CAST(close AS DOUBLE) / CAST(ref AS DOUBLE) - 1 AS change,
             coalesce(close_fen = up_price, false) AS at_up,
             coalesce(close_fen = down_price, false) AS at_down,
             sign(close_fen - ref) AS dir  -- up, down or flat, to the fen
      FROM l
    )
    SELECT code, date, board, name, close, amount, CAST(ref AS DOUBLE) AS ref, change, st, listing_day,
           up_pct, down_pct, CAST(up_price AS DOUBLE) AS up_price, CAST(down_price AS DOUBLE) AS down_price,
           at_up, at_down, dir, first_in_scan
    FROM f
    """


def limit_closes_sql(store: Store) -> str:
    """SQL of the stocks that closed at their limit on $hi, with their streaks: every column of
    `market_days_sql` for that day plus up_streak, down_streak (consecutive limit closes of the
    stock's own bars up to $hi; a suspension does not break a streak) and up_open / down_open
    (the streak reaches the stock's first bar in the scan from $scan_lo, so it may go back
    further). The streak is the number of bars after the last one that did not close at the
    limit. $codes lists the stocks to scan (those at the limit on $hi, from a first pass over
    that day alone)."""
    return f"""
    WITH days AS MATERIALIZED ({market_days_sql(store, codes=True)}),
    hit AS (SELECT * FROM days WHERE date = $hi AND (at_up OR at_down)),
    brk AS (
      SELECT code, max(date) FILTER (WHERE NOT at_up) AS lu, max(date) FILTER (WHERE NOT at_down) AS ld
      FROM days WHERE code IN (SELECT code FROM hit) GROUP BY code
    ),
    n AS (
      SELECT d.code, count(*) FILTER (WHERE d.date > coalesce(k.lu, DATE '0001-01-01')) AS up_streak,
             count(*) FILTER (WHERE d.date > coalesce(k.ld, DATE '0001-01-01')) AS down_streak,
             any_value(k.lu IS NULL) AS up_open, any_value(k.ld IS NULL) AS down_open
      FROM days d JOIN brk k USING (code) GROUP BY d.code
    )
    SELECT hit.*, CASE WHEN at_up THEN up_streak ELSE 0 END AS up_streak,
           CASE WHEN at_down THEN down_streak ELSE 0 END AS down_streak,
           at_up AND up_open AS up_open, at_down AND down_open AS down_open
    FROM hit JOIN n USING (code)
    """


def warnings(store: Store) -> list[str]:
    """What the limits of this store rest on that is not exchange data (for stderr and JSON)."""
    out: list[str] = []
    meta: dict[str, Any] = store.meta
    n_status = 0
    if store.has_table("status"):
        row = store.con.execute(
            "SELECT count(*) FROM status WHERE status IN ('ST', '*ST')").fetchall()[0]
        n_status = int(row[0]) if row else 0
    if n_status == 0:
        out.append("the store has no ST/*ST status: main-board risk-warning stocks are taken at the "
                   f"{MAIN_PCT}% limit, not {RISK_WARNING_PCT}%")
    elif meta.get("status_source", "").startswith("inferred"):
        out.append("ST status is inferred from the bars (meta status_source), not exchange data: "
                   "the 5% limits of the main boards rest on it")
    if meta.get("list_date_censored_at"):
        out.append(f"listing dates are first bars in the data: stocks whose first bar is "
                   f"{meta['list_date_censored_at']} are taken as listed before it (no new-listing rule)")
    has_div = False
    if store.has_table("dividends"):
        row = store.con.execute("SELECT count(*) > 0 FROM dividends").fetchall()[0]
        has_div = bool(row and row[0])
    if not has_div:
        out.append("the store has no dividends: on ex-dividend days the limits use the previous close, "
                   "not the ex-dividend reference price")
    return out


# ---------------------------------------------------------------------------------------
# Board lots: the share quantities an order may have (buy orders; a sell may also clear an
# odd-lot remainder of a holding).
#
# * SSE / SZSE main boards and ChiNext: "买入股票...申报数量应当为100股或其整数倍"
#   (Shanghai / Shenzhen Stock Exchange Trading Rules, 3.3.x): multiples of 100 shares.
# * STAR: "单笔申报数量应当不小于200股...超过200股的部分，可以1股为单位递增"
#   (SSE STAR Market Trading Special Provisions, art. 17): at least 200 shares, then 1-share steps.
# * BSE: "申报数量应当不低于100股，每笔申报可以1股为单位递增"
#   (Beijing Stock Exchange Trading Rules, 3.3.5): at least 100 shares, then 1-share steps.
# ---------------------------------------------------------------------------------------
# board -> (minimum order, step above it), in shares
BOARD_LOTS: dict[str, tuple[int, int]] = {
    "sh_main": (100, 100),
    "sz_main": (100, 100),
    "chinext": (100, 100),
    "star": (200, 1),
    "bse": (100, 1),
}


def round_to_lots(shares: Any, boards: Any) -> Any:
    """Signed share quantities rounded to the nearest quantity a board accepts: a multiple
    of the step at or above the minimum, else 0 or the minimum, whichever is nearer (half up).

    Unknown boards use the main-board lot of 100."""
    import numpy as np

    q = np.asarray(shares, dtype=float)
    b = np.asarray(boards, dtype=object)
    mins = np.array([BOARD_LOTS.get(x, (100, 100))[0] for x in b], dtype=float)
    steps = np.array([BOARD_LOTS.get(x, (100, 100))[1] for x in b], dtype=float)
    size = np.abs(q)
    stepped = np.floor(size / steps + 0.5) * steps
    below = np.where(size * 2 >= mins, mins, 0.0)  # under the minimum: 0 or the minimum
    out = np.where(size >= mins, np.maximum(stepped, mins), below)
    return (np.sign(q) * out).astype(np.int64)


def is_whole_lot(shares: int, board: str) -> bool:
    """True when an order of `shares` (signed) is a quantity the board accepts (0 included)."""
    lo, step = BOARD_LOTS.get(board, (100, 100))
    n = abs(int(shares))
    return n == 0 or (n >= lo and (n - lo) % step == 0)


def status_is_inferred(meta: dict[str, str]) -> bool:
    """Whether the store's ST rows were inferred from the bars (meta `status_source`)."""
    return meta.get("status_source", "").startswith("inferred")
