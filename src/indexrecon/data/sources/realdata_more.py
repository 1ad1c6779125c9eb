"""The shared real dataset's additions of December 2026 (see its README), into the store.

* ``share_observations.parquet`` and ``shares.parquet`` merge into one ``shares`` history:
  every change point of both, the latest dated value in force (on a day both have, the
  observation: it is market data, the estimate a dividend base), each row's ``source`` kept.
  Float, free-float and A-share counts stay NULL where not observed; ``pit_shares`` turns
  the sparse columns into a point-in-time series for every reader.
* ``dual_listings.parquet`` -> ``dual_listings``; ``daily_basic_snapshots.parquet`` ->
  ``valuation`` (PE TTM, PB); ``dividends.parquet`` -> ``dividends``;
  ``official_weights_history.parquet`` -> ``official_weights`` (percent -> fractions, as the
  2025 file); ``st_snapshots.parquet`` -> ``name_history`` and ``securities.name``.

Kept apart from ``files`` (one module per table family); ``files`` calls `items`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .common import _first, remap_code_sql, replace_rows, sql_str
from .folder import _check_codes, _check_shares, _fail, _Item

if TYPE_CHECKING:
    from .folder import _Folder

SHARES = "shares.parquet"
OBSERVATIONS = "share_observations.parquet"
DUAL = "dual_listings.parquet"
BASIC = "daily_basic_snapshots.parquet"
DIVIDENDS = "dividends.parquet"
WEIGHTS_HISTORY = "official_weights_history.parquet"
ST_SNAPSHOTS = "st_snapshots.parquet"
FILES = (OBSERVATIONS, DUAL, BASIC, DIVIDENDS, WEIGHTS_HISTORY, ST_SNAPSHOTS)

# Measured on the shared dataset (2021-08 .. 2025-12): where the estimate changed between two
# observations, the next observation agreed within 1% with the latest dated value in 76.9% of
# 6,539 cases, with the earlier observation scaled by the estimate's change in 67.3%, and with
# the earlier observation kept in 70.4%. Hence: the latest dated value wins.
MERGE_RULE = "the latest dated value wins; on a day both have, the observation"


def _parquet(path: Path) -> str:
    return f"read_parquet({sql_str(path)})"


def _code(col: str = "code") -> str:
    return remap_code_sql(col)


def _shares_item(f: _Folder, estimates: Path | None, observations: Path, dual: Path | None) -> _Item:
    obs = _parquet(observations)

    def validate() -> None:
        have = f.describe(observations, obs)
        f.require_columns(observations, have, {
            "code": "text", "date": "date", "total_shares": "number", "float_shares": "number",
            "free_float_shares": "number", "a_shares": "number", "source": "text"})
        est = "SELECT NULL::VARCHAR AS code, NULL::DATE AS d, NULL::DOUBLE AS t, NULL::VARCHAR AS source WHERE false"
        if estimates is not None:
            ehave = f.describe(estimates, _parquet(estimates))
            f.require_columns(estimates, ehave, {"code": "text", "effective_date": "date", "total_shares": "number"})
            src = "source" if "source" in ehave else "NULL::VARCHAR"
            # a derived event and an observed anchor on one day: the anchor (the README's method)
            prefer = "(source = 'base_share')" if "source" in ehave else "false"
            est = (f"SELECT {_code()} AS code, CAST(effective_date AS DATE) AS d, CAST(total_shares AS DOUBLE) AS t, "
                   f"{src} AS source FROM read_parquet({sql_str(estimates)}, file_row_number = true) "
                   f"QUALIFY row_number() OVER (PARTITION BY code, effective_date ORDER BY {prefer} DESC, "
                   "file_row_number DESC) = 1")
        f.view("_src_est", est)
        # The README's a_shares rule (a company with H shares on the day: its A-share float) is
        # applied where the file leaves the company total although the company has H shares
        # and a smaller float (301039, whose pair was added by hand).
        a = "CAST(o.a_shares AS DOUBLE)"
        h_join = ""
        if dual is not None:
            h_join = (f"LEFT JOIN (SELECT {_code()} AS code, min(h_listed_on) AS h, true AS dual FROM {_parquet(dual)} "
                      "GROUP BY 1) h ON h.code = o.code")
            fixed = ("h.dual AND o.a_shares = o.total_shares AND o.float_shares < o.total_shares * 0.999 "
                     "AND (h.h IS NULL OR o.date >= h.h)")
            a = f"CASE WHEN {fixed} THEN CAST(o.float_shares AS DOUBLE) ELSE {a} END"
            n = _first(f.con, f"SELECT count(*), string_agg(DISTINCT o.code, ', ') FROM {obs} o {h_join} WHERE {fixed}")
            if n and n[0]:
                f.summary.notes.append(
                    f"shares: a_shares set to the A-share float on {n[0]} observation(s) of H-share companies "
                    f"that gave the company total ({n[1]}), as the dataset's README defines a_shares"
                )
        f.view("_src_obs", f"SELECT {_code('o.code')} AS code, CAST(o.date AS DATE) AS d, "
                           "CAST(o.total_shares AS DOUBLE) AS t, CAST(o.float_shares AS DOUBLE) AS fl, "
                           f"CAST(o.free_float_shares AS DOUBLE) AS ff, {a} AS a, o.source FROM {obs} o {h_join}")
        rel = f.view(
            "_src_shares",
            "SELECT code, d AS effective_date, t AS total_shares, fl AS float_shares, ff AS free_float_shares, "
            "source, a AS a_shares FROM _src_obs UNION ALL "
            "SELECT code, d, t, NULL, NULL, source, NULL FROM _src_est e "
            "WHERE NOT EXISTS (SELECT 1 FROM _src_obs o WHERE o.code = e.code AND o.d = e.d)",
        )
        med = _first(f.con, "SELECT median(t) FROM _src_obs")
        if med and med[0] is not None and med[0] < 1e6:
            raise _fail(observations, "total_shares",
                        f"median is {med[0]:,.0f}: looks like 10k shares (万股); the store expects shares")
        _check_shares(f, observations, rel)
        row = _first(f.con, f"""SELECT count(*) FILTER (WHERE free_float_shares > coalesce(float_shares, total_shares) * 1.0001
                                                     OR float_shares > total_shares * 1.0001
                                                     OR a_shares > total_shares * 1.0001),
                                       any_value(code) FILTER (WHERE float_shares > total_shares * 1.0001
                                                     OR a_shares > total_shares * 1.0001
                                                     OR free_float_shares > coalesce(float_shares, total_shares) * 1.0001)
                                FROM {rel}""")
        if row and row[0]:
            raise _fail(observations, "free_float_shares",
                        f"{row[0]:,} rows have free float > float or float / A shares > total (e.g. {row[1]})")
        if estimates is not None:
            # how often the estimate in force on an observation's day disagrees with it
            agree = _first(f.con, """SELECT count(*), count(*) FILTER (WHERE abs(ln(o.t / e.t)) > ln(1.01))
                FROM _src_obs o ASOF JOIN _src_est e ON o.code = e.code AND o.d >= e.d""")
            if agree and agree[0]:
                f.summary.notes.append(
                    f"shares: {agree[1]:,} of {agree[0]:,} observations ({agree[1] / agree[0]:.1%}) differ by more "
                    f"than 1% from the estimate in force that day; merged so that {MERGE_RULE}"
                )

        _infer_bonus_dates(f)

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "shares", "_src_shares_all", order_by="code, effective_date")

    paths = tuple(p for p in (estimates, observations, dual) if p is not None)
    label = f"shares <- {SHARES} + {OBSERVATIONS}" if estimates is not None else f"shares <- {OBSERVATIONS}"
    return _Item("shares", paths, label, validate, write)


def _table_item(f: _Folder, path: Path, table: str, need: dict[str, str], select: str, order_by: str,
                check: Callable[[str], None] | None = None) -> _Item:
    """One file into one table: required columns, the `select` over `{reader}` (codes mapped),
    6-digit codes, then `check` of the staged view; replaces the keys it covers."""
    reader = _parquet(path)
    view = f"_src_{table}"

    def validate() -> None:
        f.require_columns(path, f.describe(path, reader), need)
        rel = f.view(view, select.format(reader=reader, code=_code()))
        _check_codes(f, path, f"(SELECT DISTINCT code FROM {rel})", "code")
        if check is not None:
            check(rel)

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, table, view, order_by=order_by)

    return _Item(table, (path,), f"{table} <- {path.name}", validate, write)


# Bonus issues after a stock's last share row (no later total to check against): the ratio is
# read from the ex-date's open, the ex-rights reference price (previous close / open, rounded to
# whole shares per 10: 10送X转Y), at least 1.2 (cash dividends of 10-19% fall beyond the main
# boards' 10% limit too; 99% of the known bonus issues are 1.2 or more). Measured on the known
# bonus issues of 2021-09 .. 2025-05 that fell beyond the limit (SZ/SH): 1,352 of the 1,364
# sessions it keeps are a recorded share increase that day, the ratio within 1% in 78% of them
# and 1.5% off on average. None of the 1,140 known ones that fell so far is above 2 (10 more
# per 10): the larger gaps of 2026 (x5 .. x25, sub-1-CNY stocks back from long suspensions,
# as in delisting arrangements, which trade without a limit) are not bonus issues.
ESTIMATED_SOURCE = "stock_bonus_estimated"
MIN_ESTIMATED_RATIO = 1.2
MAX_ESTIMATED_RATIO = 2.0


def _infer_bonus_dates(f: _Folder) -> None:
    """Date the bonus issues that only an observation shows (the quarter-end totals after the
    estimates end in May 2025): between two change points of a stock whose total rose by 10%
    or more without a bonus record, the one session whose close fell beyond the board's daily
    price limit, by the inverse of the share ratio (within 5%; or its open did, the ex-rights
    reference, when the stock moved on the day), is the ex-date; a change point
    `stock_bonus_inferred` is written there with the later total. After a stock's last share
    row the same falls are the only sign of a bonus issue: each one whose open gap is a clean
    ratio (`ESTIMATED_SOURCE`, see above) becomes a change point with the last total times the
    ratios so far. Everything else is left as it is (`_src_shares_all` = `_src_shares` + these
    rows)."""
    from ..market_rules import MAIN_PCT, limit_pct_sql
    from ..pit_shares import BONUS_LABEL as _BONUS_LABEL
    from ..pit_shares import MIN_INFERRED_RATIO as _MIN_INFERRED_RATIO
    from ..pit_shares import NOT_BONUS_LABEL as _NOT_BONUS_LABEL
    from .common import board_sql

    bars = f.folder / "bars.parquet"
    none = "SELECT * FROM _src_shares"
    if not bars.exists():
        f.view("_src_shares_all", none)
        return
    # every session (after a stock's first 10 in the data) whose close fell beyond the day's
    # limit-down (market_rules; ST's tighter 5% not assumed, so a fall must beat 10%)
    f.temp_table("_src_falls", f"""
        WITH w AS (SELECT code, date, close / lag(close) OVER w AS rel, lag(close) OVER w / open AS gap,
                          row_number() OVER w AS nth
                   FROM (SELECT {_code()} AS code, date, open, close FROM {_parquet(bars)} WHERE open > 0)
                   WINDOW w AS (PARTITION BY code ORDER BY date)),
        -- no limit in force after the first sessions is under the main boards' 10% (ST's 5% not assumed):
        -- the rest is dropped before the per-day limit is worked out
        c AS (SELECT * FROM w WHERE nth > 10 AND rel < 1 - {MAIN_PCT} / 100 - 0.02),
        l AS (SELECT {_code()} AS code, min(date) AS list_date FROM {_parquet(bars)} GROUP BY 1),
        b0 AS (SELECT c.*, l.list_date, {board_sql('c.code', None)} AS board, false AS st FROM c JOIN l USING (code)),
        b AS (SELECT *, {limit_pct_sql(listing_day="nth")[1]} AS down FROM b0)
        SELECT code, date, rel, gap FROM b
        WHERE down IS NOT NULL AND rel < 1 - down / 100 - 0.02""")
    f.temp_table("_src_bonus", f"""
        WITH s AS (
          SELECT code, effective_date AS d, total_shares AS t, lower(coalesce(source, '')) AS src,
                 lag(effective_date) OVER w AS pd, lag(total_shares) OVER w AS pt
          FROM _src_shares WINDOW w AS (PARTITION BY code ORDER BY effective_date)),
        j AS (SELECT * FROM s WHERE pt IS NOT NULL AND t >= pt * {_MIN_INFERRED_RATIO}
                AND NOT regexp_matches(src, '{_BONUS_LABEL}|{_NOT_BONUS_LABEL}'))
        SELECT j.code, min(b.date) AS effective_date, any_value(j.t) AS total_shares
        FROM j JOIN _src_falls b ON b.code = j.code AND b.date > j.pd AND b.date < j.d
          AND (abs(ln(b.rel * j.t / j.pt)) < 0.05 OR abs(ln(j.t / j.pt / b.gap)) < 0.05)
        GROUP BY j.code, j.d HAVING count(*) = 1""")
    f.temp_table("_src_bonus_est", f"""
        WITH rows AS (SELECT code, effective_date, total_shares FROM _src_shares
                      UNION ALL SELECT code, effective_date, total_shares FROM _src_bonus),
        last AS (SELECT code, max(effective_date) AS d, arg_max(total_shares, effective_date) AS t FROM rows GROUP BY code),
        e AS (SELECT b.code, b.date, last.t, 1 + round(10 * (b.gap - 1)) / 10 AS r, b.gap
              FROM _src_falls b JOIN last ON last.code = b.code AND b.date > last.d)
        SELECT code, date AS effective_date,
               round(t * exp(sum(ln(r)) OVER (PARTITION BY code ORDER BY date))) AS total_shares, r AS ratio
        FROM e WHERE r BETWEEN {MIN_ESTIMATED_RATIO} AND {MAX_ESTIMATED_RATIO} AND abs(ln(gap / r)) < 0.05""")
    f.view("_src_shares_all", f"{none} UNION ALL SELECT code, effective_date, total_shares, NULL, NULL, "
                              "'stock_bonus_inferred', NULL FROM _src_bonus UNION ALL "
                              "SELECT code, effective_date, total_shares, NULL, NULL, "
                              f"'{ESTIMATED_SOURCE}', NULL FROM _src_bonus_est")

    def latest(table: str, extra: str = "") -> str:
        n = _first(f.con, f"SELECT string_agg(code || ' ' || effective_date{extra}, ', ' ORDER BY effective_date DESC) "
                          f"FROM (SELECT * FROM {table} ORDER BY effective_date DESC, code LIMIT 3)")
        return str(n[0]) if n and n[0] else ""

    total = _first(f.con, "SELECT count(*) FROM _src_bonus")
    if total and total[0]:
        f.summary.notes.append(
            f"shares: {total[0]} bonus issue(s) seen only as a later total dated at the one session that fell beyond "
            f"the price limit by the share ratio (source stock_bonus_inferred; latest: {latest('_src_bonus')})"
        )
    est = _first(f.con, "SELECT count(*), count(DISTINCT code), min(effective_date) FROM _src_bonus_est")
    ratio_sql = " || ' x' || ratio"
    if est and est[0]:
        f.summary.warnings.append(
            f"shares: {est[0]} bonus issue(s) of {est[1]} stock(s) after their last share row (from {est[2]}) "
            f"estimated from the bars, the ratio read from the open of a session that fell beyond the price limit "
            f"(source {ESTIMATED_SOURCE}; latest: {latest('_src_bonus_est', ratio_sql)}); placements "
            "there are not seen"
        )


def _dual_item(f: _Folder, path: Path) -> _Item:
    return _table_item(
        f, path, "dual_listings", {"code": "text", "h_code": "text", "h_listed_on": "date"},
        "SELECT {code} AS code, h_code, CAST(h_listed_on AS DATE) AS h_list_date FROM {reader} "
        "QUALIFY row_number() OVER (PARTITION BY code ORDER BY h_listed_on) = 1", "code")


def _valuation_item(f: _Folder, path: Path) -> _Item:
    def check(rel: str) -> None:
        dup = _first(f.con, f"SELECT code, date FROM {rel} GROUP BY ALL HAVING count(*) > 1 LIMIT 1")
        if dup:
            raise _fail(path, "date", f"duplicate rows for {dup[0]} on {dup[1]}")

    return _table_item(
        f, path, "valuation", {"code": "text", "date": "date", "pe_ttm": "number", "pb": "number"},
        "SELECT {code} AS code, CAST(date AS DATE) AS date, CAST(pe_ttm AS DOUBLE) AS pe_ttm, "
        "CAST(pb AS DOUBLE) AS pb FROM {reader}", "code, date", check)


def _dividends_item(f: _Folder, path: Path) -> _Item:
    def check(rel: str) -> None:
        row = _first(f.con, f"SELECT count(*) FILTER (WHERE cash_per_share IS NULL OR cash_per_share < 0 "
                            f"OR ex_date IS NULL), median(cash_per_share) FROM {rel}")
        if row and row[0]:
            raise _fail(path, "cash_per_share", f"is missing or negative in {row[0]:,} rows")
        if row and row[1] is not None and row[1] > 5:
            raise _fail(path, "cash_per_share", f"median is {row[1]:.3g}: looks like CNY per 10 shares; "
                                                "the store expects CNY per share")
        bars = f.folder / "bars.parquet"
        if bars.exists():
            # against the close before the ex-date: a distribution yields about 1% (median of
            # the shared data 2021-2025), per 10 shares ten times that
            y = _first(f.con, f"""SELECT median(d.cash_per_share / b.close) FROM {rel} d
                ASOF JOIN (SELECT code, date, close FROM {_parquet(bars)} WHERE close > 0) b
                ON d.code = b.code AND d.ex_date > b.date""")
            if y and y[0] is not None and y[0] > 0.04:
                raise _fail(path, "cash_per_share", f"the median dividend is {y[0]:.1%} of the previous close: looks "
                                                    "like CNY per 10 shares; the store expects CNY per share")

    # two distributions on one ex-date are one payment (the README sums them; so do we)
    return _table_item(
        f, path, "dividends", {"code": "text", "ex_date": "date", "cash_per_share": "number"},
        "SELECT {code} AS code, CAST(ex_date AS DATE) AS ex_date, sum(CAST(cash_per_share AS DOUBLE)) "
        "AS cash_per_share FROM {reader} GROUP BY ALL", "code, ex_date", check)


def _names_items(f: _Folder, snapshots: Path | None, dual: Path | None) -> list[_Item]:
    """name_history from the ST snapshots; securities.name from the latest snapshot, else the
    dual-listing list."""
    items = []
    if snapshots is not None:
        items.append(_table_item(
            f, snapshots, "name_history", {"code": "text", "date": "date", "name": "text", "is_st": "boolean"},
            "SELECT {code} AS code, CAST(date AS DATE) AS date, trim(name) AS name, CAST(is_st AS BOOLEAN) AS is_st "
            "FROM {reader} WHERE name IS NOT NULL AND trim(name) <> ''", "code, date"))
    if snapshots is not None or dual is not None:
        paths = tuple(p for p in (snapshots, dual) if p is not None)

        def validate_names() -> None:
            parts = []
            if snapshots is not None:
                parts.append(f"SELECT {_code()} AS code, arg_max(trim(name), date) AS name, 1 AS pri FROM {_parquet(snapshots)} "
                             "WHERE name IS NOT NULL AND trim(name) <> '' GROUP BY 1")
            if dual is not None:
                parts.append(f"SELECT {_code()} AS code, min(name) AS name, 2 AS pri FROM {_parquet(dual)} "
                             "WHERE name IS NOT NULL GROUP BY 1")
            f.view("_src_secnames", "SELECT code, arg_min(name, pri) AS name FROM (" + " UNION ALL ".join(parts)
                   + ") GROUP BY code")

        def write_names(con: duckdb.DuckDBPyConnection) -> int:
            # names of the stocks the store knows (bars made their rows); other codes are left out
            con.execute("UPDATE securities SET name = n.name FROM _src_secnames n WHERE securities.code = n.code")
            row = _first(con, "SELECT count(*) FROM securities s JOIN _src_secnames n USING (code)")
            return int(row[0]) if row else 0

        items.append(_Item("securities", paths, "securities.name <- " + " + ".join(p.name for p in paths),
                           validate_names, write_names))
    return items


def items(f: _Folder, weights: Callable[[_Folder, Path], list[_Item]]) -> tuple[list[_Item], bool]:
    """The items of the additions found in the folder, and whether they include the shares
    (which then replace the estimates-only shares item). `weights` is the official-weights
    builder of the 2025 file, reused for the history."""
    folder = f.folder

    def have(name: str) -> Path | None:
        p = folder / name
        return p if p.exists() else None

    out: list[_Item] = []
    obs = have(OBSERVATIONS)
    if obs is not None:
        out.append(_shares_item(f, have(SHARES), obs, have(DUAL)))
    if (p := have(DUAL)) is not None:
        out.append(_dual_item(f, p))
    if (p := have(BASIC)) is not None:
        out.append(_valuation_item(f, p))
    if (p := have(DIVIDENDS)) is not None:
        out.append(_dividends_item(f, p))
    if (p := have(WEIGHTS_HISTORY)) is not None:
        out += weights(f, p)
    out += _names_items(f, have(ST_SNAPSHOTS), have(DUAL))
    return out, obs is not None
