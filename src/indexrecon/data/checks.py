"""Data checks over a store: each check is one SQL query that counts and names what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from .store import TABLES, Store

# Without these the store cannot hold a review at all: checked first, one line if absent.
CORE_TABLES = ("securities", "bars", "shares", "calendar")
INCOMPLETE = "ingest incomplete: rerun the same ingest command (it resumes)"


@dataclass(frozen=True)
class Check:
    name: str
    severity: str  # "error": would change results; "warning": worth a look; "info"
    description: str
    sql: str  # returns one row per offending item: (code, detail)
    needs: tuple[str, ...] = ()  # tables (or table.column) a store may lack: then the check is skipped


CHECKS: list[Check] = [
    Check("duplicate_bars", "error", "more than one bar for a stock on a day",
          "SELECT code, date::VARCHAR || ' x' || count(*) FROM bars GROUP BY code, date HAVING count(*) > 1"),
    Check("duplicate_shares", "error", "more than one share-capital row for a stock on a date",
          "SELECT code, effective_date::VARCHAR FROM shares GROUP BY code, effective_date HAVING count(*) > 1"),
    Check("nonpositive_prices", "error", "open/high/low/close zero or negative",
          "SELECT code, date::VARCHAR FROM bars WHERE least(open, high, low, close) <= 0"),
    Check("ohlc_inconsistent", "error", "low above open/close or high below them",
          "SELECT code, date::VARCHAR FROM bars WHERE low > least(open, close) + 1e-9 "
          "OR high < greatest(open, close) - 1e-9 OR low > high"),
    Check("nonpositive_shares", "error", "total, float or free-float shares zero or negative",
          "SELECT code, effective_date::VARCHAR FROM shares WHERE total_shares <= 0 "
          "OR float_shares <= 0 OR free_float_shares <= 0"),
    Check("float_above_total", "warning", "float or free-float shares above total shares",
          "SELECT code, effective_date::VARCHAR FROM shares WHERE float_shares > total_shares * 1.0001 "
          "OR free_float_shares > coalesce(float_shares, total_shares) * 1.0001"),
    Check("amount_out_of_scale", "warning",
          "amount / (volume x close) far from 1: amount or volume in the wrong unit (10k CNY? lots?)",
          "SELECT code, date::VARCHAR || ' ratio ' || round(amount / (volume * close), 3) FROM bars "
          "WHERE volume > 0 AND close > 0 AND amount > 0 "
          "AND (amount / (volume * close) < 0.5 OR amount / (volume * close) > 2)"),
    Check("zero_volume_bars", "warning", "bars with zero volume (suspension rows padded in?)",
          "SELECT code, date::VARCHAR FROM bars WHERE volume = 0"),
    Check("no_industry", "warning", "stocks trading on the last day without an industry then",
          """SELECT b.code, '' FROM bars b WHERE b.date = (SELECT max(date) FROM bars)
             AND NOT EXISTS (SELECT 1 FROM industry i WHERE i.code = b.code AND i.start_date <= b.date
                             AND (i.end_date IS NULL OR i.end_date >= b.date))"""),
    Check("no_shares", "warning", "stocks trading on the last day without share capital",
          """SELECT b.code, '' FROM bars b WHERE b.date = (SELECT max(date) FROM bars)
             AND NOT EXISTS (SELECT 1 FROM shares s WHERE s.code = b.code AND s.effective_date <= b.date)"""),
    Check("stale_shares", "info", "share capital unchanged for over three years (estimates may be stale)",
          """SELECT code, max(effective_date)::VARCHAR FROM shares GROUP BY code
             HAVING max(effective_date) < (SELECT max(date) FROM bars) - INTERVAL 3 YEAR
             AND code IN (SELECT code FROM bars WHERE date = (SELECT max(date) FROM bars))"""),
    Check("stale_bars", "warning",
          "stocks whose bars stop over 20 trading days before the store ends, not delisted or suspended",
          """WITH last AS (SELECT code, max(date) AS d FROM bars GROUP BY code),
                  cal AS (SELECT date, row_number() OVER (ORDER BY date) AS i FROM calendar),
                  endi AS (SELECT max(i) AS n FROM cal)
             SELECT l.code, 'last bar ' || l.d::VARCHAR FROM last l JOIN cal ON cal.date = l.d, endi
             JOIN securities s ON s.code = l.code
             WHERE endi.n - cal.i > 20 AND (s.delist_date IS NULL)
               AND NOT EXISTS (SELECT 1 FROM status st WHERE st.code = l.code
                               AND st.status IN ('suspended', 'delisting') AND st.end_date IS NULL)"""),
    Check("unmarked_gaps", "info",
          "gaps of over 20 trading days in a stock's bars with no suspension recorded",
          """WITH cal AS (SELECT date, row_number() OVER (ORDER BY date) AS i FROM calendar),
                  b AS (SELECT code, date, i, lag(i) OVER (PARTITION BY code ORDER BY date) AS pi
                        FROM bars JOIN cal USING (date))
             SELECT code, date::VARCHAR || ' after ' || (i - pi - 1) || ' days' FROM b
             WHERE i - pi - 1 > 20 AND NOT EXISTS (
               SELECT 1 FROM status st WHERE st.code = b.code AND st.status = 'suspended'
               AND st.start_date <= b.date AND (st.end_date IS NULL OR st.end_date >= b.date - 30))"""),
    Check("bars_after_calendar_end", "error", "bars dated after the trading calendar's last day",
          "SELECT code, date::VARCHAR FROM bars WHERE date > (SELECT max(date) FROM calendar)"),
    Check("future_bars", "error", "bars dated after today (a wrong date or a clock problem)",
          "SELECT code, date::VARCHAR FROM bars WHERE date > current_date"),
    Check("bars_off_calendar", "error", "bars on days missing from the trading calendar",
          "SELECT code, date::VARCHAR FROM bars WHERE date NOT IN (SELECT date FROM calendar)"),
    Check("unknown_codes", "warning", "codes in bars or official weights that are not in securities",
          """SELECT DISTINCT code, 'bars' FROM bars WHERE code NOT IN (SELECT code FROM securities)
             UNION ALL SELECT DISTINCT code, 'official_weights ' || index_code FROM official_weights
             WHERE code NOT IN (SELECT code FROM securities)"""),
    Check("code_changes", "info", "code changes recorded (history keyed by the new code)",
          "SELECT new_code, old_code || ' -> ' || new_code || ' on ' || change_date::VARCHAR FROM code_changes"),
    Check("official_weight_sums", "error", "official weight snapshots that do not sum to 1",
          "SELECT index_code, trade_date::VARCHAR || ' sums to ' || round(sum(weight), 4) FROM official_weights "
          "GROUP BY index_code, trade_date HAVING abs(sum(weight) - 1) > 0.005"),
    # share-capital observations, dividends, valuations, names (schema version 2)
    Check("a_shares_above_total", "warning", "A-share capital above total shares",
          "SELECT code, effective_date::VARCHAR FROM shares WHERE a_shares > total_shares * 1.0001",
          needs=("shares.a_shares",)),
    Check("dual_listing_a_shares", "warning",
          "A+H companies whose latest A-share count equals the company total (H shares counted as A shares?)",
          """SELECT s.code, arg_max(s.effective_date, s.effective_date)::VARCHAR FROM shares s
             JOIN dual_listings d USING (code) WHERE s.a_shares IS NOT NULL
               AND (d.h_list_date IS NULL OR s.effective_date >= d.h_list_date)
             GROUP BY s.code HAVING arg_max(s.a_shares, s.effective_date) >= arg_max(s.total_shares, s.effective_date) * 0.9999""",
          needs=("dual_listings", "shares.a_shares")),
    Check("estimated_bonus_shares", "info",
          "share counts estimated from the bars after a stock's last share row (bonus issues read from a "
          "session that fell beyond the price limit; placements there unseen)",
          """SELECT code, effective_date::VARCHAR || ' x' || round(total_shares / lag_t, 2) FROM (
               SELECT code, effective_date, total_shares, source,
                      lag(total_shares) OVER (PARTITION BY code ORDER BY effective_date) AS lag_t FROM shares)
             WHERE source = 'stock_bonus_estimated'""",
          needs=("shares.source",)),
    Check("no_free_float", "info", "stocks trading on the last day without any free-float observation (weighted by total shares)",
          """SELECT b.code, '' FROM bars b WHERE b.date = (SELECT max(date) FROM bars)
             AND NOT EXISTS (SELECT 1 FROM shares s WHERE s.code = b.code AND s.free_float_shares IS NOT NULL)"""),
    Check("duplicate_dividends", "error", "more than one dividend row for a stock on an ex-date",
          "SELECT code, ex_date::VARCHAR FROM dividends GROUP BY code, ex_date HAVING count(*) > 1"),
    Check("dividend_out_of_scale", "warning",
          "cash dividends negative or above half the previous close (CNY per 10 shares instead of per share?)",
          """SELECT d.code, d.ex_date::VARCHAR || ' cash ' || d.cash_per_share || ' close ' || b.close
             FROM dividends d ASOF JOIN bars b ON d.code = b.code AND d.ex_date > b.date
             WHERE d.cash_per_share < 0 OR d.cash_per_share > 0.5 * b.close"""),
    Check("duplicate_valuation", "error", "more than one valuation row for a stock on a date",
          "SELECT code, date::VARCHAR FROM valuation GROUP BY code, date HAVING count(*) > 1", needs=("valuation",)),
    Check("nonpositive_pb", "warning", "price-to-book zero or negative",
          "SELECT code, date::VARCHAR || ' pb ' || pb FROM valuation WHERE pb <= 0", needs=("valuation",)),
    Check("no_name", "info", "stocks trading on the last day without a name",
          """SELECT b.code, '' FROM bars b JOIN securities s USING (code)
             WHERE b.date = (SELECT max(date) FROM bars) AND (s.name IS NULL OR s.name = '')"""),
    Check("st_name_not_in_status", "info",
          "stocks named ST / *ST on a snapshot day without an ST interval in status then",
          """SELECT n.code, n.date::VARCHAR || ' ' || n.name FROM name_history n WHERE n.is_st
             AND EXISTS (SELECT 1 FROM bars b WHERE b.code = n.code AND b.date = n.date)
             AND NOT EXISTS (SELECT 1 FROM status st WHERE st.code = n.code AND st.status IN ('ST', '*ST')
                             AND st.start_date <= n.date AND (st.end_date IS NULL OR st.end_date >= n.date))""",
          needs=("name_history",)),
]


def _has(store: Store, need: str) -> bool:
    table, _, column = need.partition(".")
    if not column:
        return store.has_table(table)
    row = store.con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]
    ).fetchone()
    return bool(row and row[0])


def _tables_of(sql: str) -> set[str]:
    return {t for t in TABLES if re.search(rf"\b(FROM|JOIN)\s+{t}\b", sql)}


def run_checks(store: Store, limit: int = 5) -> list[dict[str, Any]]:
    """Every check's count and a few named examples. A store without one of the core tables
    is an error (one line); empty core tables and missing optional ones are findings first."""
    missing_core = [t for t in CORE_TABLES if not store.has_table(t)]
    if missing_core:
        raise StoreError(f"store {store.path} has no table {', '.join(missing_core)}: "
                         f"not a complete indexrecon store ({INCOMPLETE})")
    missing = sorted(t for t in TABLES if not store.has_table(t))
    empty = [t for t in CORE_TABLES if store.row_count(t) == 0]
    out = [{
        "check": "empty_tables", "severity": "error", "count": len(empty),
        "description": f"core tables with no rows: {INCOMPLETE}" if empty else "core tables with no rows",
        "examples": empty,
    }]
    if missing:
        out.append({
            "check": "missing_tables", "severity": "warning", "count": len(missing),
            "description": "tables the store lacks (their checks are skipped)", "examples": missing,
        })
    for c in CHECKS:
        if _tables_of(c.sql) & set(missing) or not all(_has(store, n) for n in c.needs):
            continue
        rows = store.con.execute(f"SELECT * FROM ({c.sql}) ORDER BY 1, 2").fetchall()
        out.append({
            "check": c.name,
            "severity": c.severity,
            "count": len(rows),
            "description": c.description,
            "examples": [f"{r[0]} {r[1]}".strip() for r in rows[:limit]],
        })
    return out
